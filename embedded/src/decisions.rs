//! Decision logs on one machine: JSON lines in a file, or memory (tests). The embedded twins of
//! the DynamoDB decision log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fraud_core::ports::{DecisionLog, DecisionRecord, StoreError};

/// Decisions appended as JSON lines to a file (buffered; [`JsonLinesLog::flush`] pushes them).
#[derive(Debug)]
pub struct JsonLinesLog {
    path: PathBuf,
    out: Mutex<std::io::BufWriter<std::fs::File>>,
}

impl JsonLinesLog {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let failed = |e: std::io::Error| StoreError::Failed {
            what: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(failed)?;
        Ok(JsonLinesLog {
            path: path.to_owned(),
            out: Mutex::new(std::io::BufWriter::with_capacity(1 << 16, file)),
        })
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        let mut out = self
            .out
            .lock()
            .map_err(|_| self.failed("lock poisoned".into()))?;
        out.flush().map_err(|e| self.failed(e.to_string()))
    }

    fn failed(&self, reason: String) -> StoreError {
        StoreError::Failed {
            what: self.path.display().to_string(),
            reason,
        }
    }
}

impl DecisionLog for JsonLinesLog {
    async fn append(&self, record: DecisionRecord) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(&record).map_err(|e| self.failed(e.to_string()))?;
        line.push(b'\n');
        let mut out = self
            .out
            .lock()
            .map_err(|_| self.failed("lock poisoned".into()))?;
        out.write_all(&line).map_err(|e| self.failed(e.to_string()))
    }

    fn in_process(&self) -> bool {
        true
    }
}

impl Drop for JsonLinesLog {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Keeps decisions in memory (tests).
#[derive(Debug, Default)]
pub struct MemoryDecisionLog {
    pub records: Mutex<Vec<DecisionRecord>>,
}

impl DecisionLog for MemoryDecisionLog {
    async fn append(&self, record: DecisionRecord) -> Result<(), StoreError> {
        self.records
            .lock()
            .map_err(|_| StoreError::Failed {
                what: "memory decision log".into(),
                reason: "lock poisoned".into(),
            })?
            .push(record);
        Ok(())
    }
}
