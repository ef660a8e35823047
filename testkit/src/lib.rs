//! fraud-testkit: helpers shared by the tests of several crates (a dev-dependency only).

use std::path::Path;

use fraud_sim::{SimConfig, generate_to_dir};

#[cfg(feature = "moto")]
pub mod moto;

/// A temporary directory standing in for the bucket: the simulator's files for `customers`
/// customers and `seed`, each `(file, folder)` of `placed` moved to `folder/file`
/// (`("fraudTrain.csv", "training")`).
pub fn simulated_bucket(customers: u32, seed: u64, placed: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("sim");
    let config = SimConfig {
        customers,
        seed,
        ..SimConfig::default()
    };
    generate_to_dir(&config, &data, &|_, _| {}).expect("the simulator runs");
    for (file, folder) in placed {
        let folder = dir.path().join(folder);
        std::fs::create_dir_all(&folder).expect("a bucket folder");
        std::fs::rename(data.join(file), folder.join(file)).expect("a simulated file");
    }
    dir
}

/// The committed JSON fixture `tests/fixtures/<name>` of the crate at `manifest_dir`
/// (`env!("CARGO_MANIFEST_DIR")`).
pub fn fixture_json(manifest_dir: &str, name: &str) -> serde_json::Value {
    let path = Path::new(manifest_dir).join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A suffix no other test run uses, for bucket, table and experiment names.
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    format!("{nanos:x}")
}

/// Log lines written through it (a `tracing_subscriber` writer), kept for a test to read.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
