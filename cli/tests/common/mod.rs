//! Helpers every `fraud` end-to-end test file shares: where the repository's files are, running
//! the binary hermetically, and reading its success or its error message.
// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// One of the committed real Kaggle rows files.
pub fn kaggle_fixture(name: &str) -> PathBuf {
    repo("tests/fixtures/kaggle").join(name)
}

/// Runs `fraud args` with nothing on stdin and no card-hash secret from the caller's
/// environment, so a test never depends on the shell it runs in.
pub fn fraud(args: &[&str]) -> Output {
    fraud_with(args, &[], None)
}

/// [`fraud`] with extra environment variables and `stdin` written to its standard input.
pub fn fraud_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fraud"));
    command.args(args).env_remove("CARD_HASH_SECRET");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fraud");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The standard output of a run that must have succeeded.
pub fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "fraud failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The error output of a run that must have failed.
pub fn failure(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure, got:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A path as the `&str` an argument list takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
