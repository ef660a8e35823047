//! Decision logs on one machine: a database file, or memory (tests). The embedded twins of the
//! DynamoDB decision log, with its rule: one decision per `trans_num`, the first one kept, so a
//! retried authorisation is never counted twice.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use fraud_core::ports::{DecisionLog, DecisionRecord, StoreError};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::database::{Change, GroupCommit};

/// Arrival number to the decision as JSON (the order they were logged in).
const DECISIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("decisions");
/// `trans_num` to its arrival number: what makes a second append of a transaction a no-op.
const LOGGED: TableDefinition<&str, u64> = TableDefinition::new("logged");

const LAYOUT: &str = "decision-json-1";

/// One decision to log, unless its `trans_num` already is.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Logged {
    trans_num: String,
    json: Vec<u8>,
}

impl Change for Logged {
    fn apply(&self, transaction: &redb::WriteTransaction) -> Result<(), redb::Error> {
        let mut logged = transaction.open_table(LOGGED)?;
        if logged.get(self.trans_num.as_str())?.is_some() {
            return Ok(());
        }
        let mut decisions = transaction.open_table(DECISIONS)?;
        let next = decisions.last()?.map_or(0, |(n, _)| n.value() + 1);
        decisions.insert(next, self.json.as_slice())?;
        logged.insert(self.trans_num.as_str(), next)?;
        Ok(())
    }
}

/// Decisions in a database file; each append returns once it is committed.
#[derive(Debug)]
pub struct LocalDecisionLog {
    disk: GroupCommit<Logged>,
}

impl LocalDecisionLog {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(LocalDecisionLog {
            disk: GroupCommit::open(path, "decision-log", LAYOUT)?,
        })
    }

    /// Number of decisions logged.
    pub fn count(&self) -> Result<u64, StoreError> {
        self.disk.flush()?;
        self.disk.read(DECISIONS, 0, |table| Ok(table.len()?))
    }

    /// Writes every decision to `out` as JSON lines, in the order they were logged; returns
    /// how many.
    pub fn export(&self, out: &mut dyn Write) -> Result<u64, StoreError> {
        let disk = &self.disk;
        disk.flush()?;
        let mut count = 0;
        let mut written = Ok(());
        disk.read(DECISIONS, (), |table| {
            for entry in table.iter()? {
                let (_, json) = entry?;
                written = out
                    .write_all(json.value())
                    .and_then(|()| out.write_all(b"\n"));
                if written.is_err() {
                    break;
                }
                count += 1;
            }
            Ok(())
        })?;
        written.map_err(|e| disk.failed(format!("writing the export: {e}")))?;
        Ok(count)
    }

    /// Every decision, in the order logged (tests, inspection).
    pub fn records(&self) -> Result<Vec<DecisionRecord>, StoreError> {
        let mut lines = Vec::new();
        self.export(&mut lines)?;
        lines
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).map_err(|e| self.disk.failed(e)))
            .collect()
    }
}

impl DecisionLog for LocalDecisionLog {
    async fn append(&self, record: DecisionRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(&record).map_err(|e| self.disk.failed(e))?;
        let trans_num = record.trans_num;
        self.disk.write(Some(Logged { trans_num, json })).await?;
        Ok(())
    }

    fn in_process(&self) -> bool {
        true
    }
}

/// Keeps decisions in memory (tests), once per `trans_num` like the other logs.
#[derive(Debug, Default)]
pub struct MemoryDecisionLog {
    pub records: Mutex<Vec<DecisionRecord>>,
    logged: Mutex<HashSet<String>>,
}

impl DecisionLog for MemoryDecisionLog {
    async fn append(&self, record: DecisionRecord) -> Result<(), StoreError> {
        let poisoned = || StoreError::Failed {
            what: "memory decision log".into(),
            reason: "lock poisoned".into(),
        };
        let mut logged = self.logged.lock().map_err(|_| poisoned())?;
        if logged.insert(record.trans_num.clone()) {
            self.records.lock().map_err(|_| poisoned())?.push(record);
        }
        Ok(())
    }
}
