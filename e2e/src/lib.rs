//! fraud-e2e: the workspace's end-to-end tests (`tests/`), which drive every function, the
//! scoring service and the `fraud` command together. The library holds only what those tests
//! need to find.

use std::path::PathBuf;

/// The `fraud` binary cargo built beside this test binary (`cargo test --workspace` builds it:
/// fraud-cli has tests of its own); a clear message when it is missing.
pub fn fraud_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // <target>/<profile>/deps/<test binary>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test binary under <target>/<profile>/deps");
    let fraud = profile_dir.join(format!("fraud{}", std::env::consts::EXE_SUFFIX));
    assert!(
        fraud.is_file(),
        "{} is missing: run the workspace's tests (cargo test --workspace) or `cargo build -p fraud-cli` first",
        fraud.display()
    );
    fraud
}
