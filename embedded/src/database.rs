//! One redb database file per store, kept durable by a journal beside it. One thread takes
//! every change queued while it was syncing the previous group, appends them to the journal as
//! one record and syncs once (`fdatasync`), so durability costs each request one group's wait,
//! not a sync of its own, and throughput stays. A second thread moves journaled changes into
//! the database in large synced transactions (checkpoints), so the database's own commit cost
//! is paid once per few thousand changes, and off the requests' path.
//!
//! The database therefore lags the journal: a store reads from it only what it has checkpointed
//! ([`GroupCommit::checkpointed`]) and keeps the rest in memory, or calls [`GroupCommit::flush`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use fraud_core::ports::StoreError;
use redb::{
    Database, Durability, Key, ReadOnlyTable, ReadableDatabase, TableDefinition, Value,
    WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::writer::{Job, Writer};

/// Which store a database file holds and in which layout, checked at open so a file of another
/// store or an older build is refused by name instead of being read wrong or reset; also the
/// journal epoch the database holds everything up to ([`JOURNAL_EPOCH`]).
pub(crate) const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// The key in [`META`] of the last journal epoch whose changes are all in the database.
pub(crate) const JOURNAL_EPOCH: &str = "journal-epoch";

/// Page cache per database (redb's default may grow to 1 GiB; the server's RSS bar is 64 MB).
const CACHE_BYTES: usize = 8 << 20;

/// A change to one store's tables, as data, so it can be journaled. It is applied to the
/// database at a checkpoint, in journal order, and after a crash to the database as it was at
/// its last checkpoint.
pub(crate) trait Change: Serialize + DeserializeOwned + Send + 'static {
    fn apply(&self, transaction: &WriteTransaction) -> Result<(), redb::Error>;
}

/// A database, its journals and the threads that write them.
pub(crate) struct GroupCommit<C: Change> {
    db: Arc<Database>,
    /// `None` only while dropping, which closes the queue so the thread ends.
    queue: Option<mpsc::Sender<Job<C>>>,
    writer: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
    /// Set by a failed write: memory may now be ahead of the file, so nothing more is accepted.
    broken: Arc<AtomicBool>,
    /// The last group whose changes are all in the database.
    checkpointed: Arc<AtomicU64>,
}

impl<C: Change> std::fmt::Debug for GroupCommit<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("path", &self.path)
            .finish()
    }
}

impl<C: Change> GroupCommit<C> {
    /// Opens (or creates) the database at `path` holding `kind` in `layout` and brings in the
    /// changes its journals hold beyond the last checkpoint; a file holding anything else,
    /// written by another build or damaged, is refused with its name.
    pub(crate) fn open(path: &Path, kind: &str, layout: &str) -> Result<Self, StoreError> {
        let failed = |reason: String| StoreError::Failed {
            what: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        }
        let db = Arc::new(open_database(path, kind).map_err(failed)?);
        let created = check_meta(&db, kind, layout).map_err(failed)?;
        let broken = Arc::new(AtomicBool::new(false));
        let checkpointed = Arc::new(AtomicU64::new(0));
        let writer = Writer::<C>::recover(
            db.clone(),
            path,
            created,
            broken.clone(),
            checkpointed.clone(),
        )
        .map_err(failed)?;
        let (queue, jobs) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name(format!("journal {kind}"))
            .spawn(move || writer.run(&jobs))
            .map_err(|e| failed(format!("cannot start the journal thread: {e}")))?;
        Ok(GroupCommit {
            db,
            queue: Some(queue),
            writer: Some(writer),
            path: path.to_owned(),
            broken,
            checkpointed,
        })
    }

    /// Reads `table` in a snapshot of the last checkpoint; `absent` when nothing was ever
    /// written to it (a new file).
    pub(crate) fn read<K: Key + 'static, V: Value + 'static, T>(
        &self,
        table: TableDefinition<K, V>,
        absent: T,
        read: impl FnOnce(ReadOnlyTable<K, V>) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let snapshot = self.db.begin_read().map_err(|e| self.failed(e))?;
        match snapshot.open_table(table) {
            Ok(table) => read(table).map_err(|e| self.failed(e)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(absent),
            Err(e) => Err(self.failed(e)),
        }
    }

    pub(crate) fn failed(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Failed {
            what: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// The last group (as numbered by [`GroupCommit::write`]) that [`GroupCommit::read`] sees.
    pub(crate) fn checkpointed(&self) -> u64 {
        self.checkpointed.load(Ordering::Acquire)
    }

    /// Queues `change` and returns the number of its group once that group is durable; with no
    /// change, once everything queued before is (an answer read from memory is acknowledged
    /// only when the change that made it is durable). Queue order is journal order, so a caller
    /// that queues under a lock keeps the lock's order on disk.
    pub(crate) fn write(
        &self,
        change: Option<C>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send + 'static {
        let (done, answer) = tokio::sync::oneshot::channel();
        let queued = self.send(Job::Write { change, done });
        let stopped = self.failed("the journal thread stopped");
        let path = self.path.clone();
        async move {
            queued?;
            match answer.await {
                Ok(Ok(group)) => Ok(group),
                Ok(Err(reason)) => Err(StoreError::Failed {
                    what: path.display().to_string(),
                    reason,
                }),
                Err(_) => Err(stopped),
            }
        }
    }

    /// Returns once everything queued before is in the database (for reads of whole tables;
    /// blocks the calling thread).
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        let (done, answer) = mpsc::channel();
        self.send(Job::Flush { done })?;
        answer
            .recv()
            .map_err(|_| self.failed("the journal thread stopped"))?
            .map_err(|reason| self.failed(reason))
    }

    fn send(&self, job: Job<C>) -> Result<(), StoreError> {
        if self.broken.load(Ordering::Acquire) {
            return Err(self.failed("an earlier write failed; restart to reopen the store"));
        }
        self.queue
            .as_ref()
            .and_then(|queue| queue.send(job).ok())
            .ok_or_else(|| self.failed("the journal thread stopped"))
    }
}

impl<C: Change> Drop for GroupCommit<C> {
    /// Lets the threads journal and checkpoint what is queued, and waits for them, so the file
    /// is closed (and can be opened again) once the store is gone.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Opens or creates the database file. redb asserts (panics) on some damaged files, a file cut
/// short among them: that too is reported as a damaged file, not a crash.
fn open_database(path: &Path, kind: &str) -> Result<Database, String> {
    let opened =
        std::panic::catch_unwind(|| Database::builder().set_cache_size(CACHE_BYTES).create(path))
            .map_err(|panic| {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("damaged {kind} database: {detail}")
        })?;
    opened.map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => format!(
            "the {kind} database is open in another process (a running fraud serve?)"
        ),
        e => format!(
            "not a {kind} database this build can read (written by an older build, another program, or damaged): {e}"
        ),
    })
}

/// Records `kind` and `layout` in a new database (and says it is new), or checks them in an
/// existing one.
fn check_meta(db: &Database, kind: &str, layout: &str) -> Result<bool, String> {
    let found = {
        let read = db.begin_read().map_err(|e| e.to_string())?;
        match read.open_table(META) {
            Ok(meta) => Some((
                meta.get("kind")
                    .map_err(|e| e.to_string())?
                    .map(|v| v.value().to_owned()),
                meta.get("layout")
                    .map_err(|e| e.to_string())?
                    .map(|v| v.value().to_owned()),
            )),
            Err(redb::TableError::TableDoesNotExist(_))
                if read
                    .list_tables()
                    .map_err(|e| e.to_string())?
                    .next()
                    .is_none() =>
            {
                None
            }
            Err(redb::TableError::TableDoesNotExist(_)) => Some((None, None)),
            Err(e) => return Err(e.to_string()),
        }
    };
    match found {
        None => {
            let mut write = db.begin_write().map_err(|e| e.to_string())?;
            write
                .set_durability(Durability::Immediate)
                .map_err(|e| e.to_string())?;
            {
                let mut meta = write.open_table(META).map_err(|e| e.to_string())?;
                meta.insert("kind", kind).map_err(|e| e.to_string())?;
                meta.insert("layout", layout).map_err(|e| e.to_string())?;
            }
            write.commit().map_err(|e| e.to_string())?;
            Ok(true)
        }
        Some((Some(k), Some(l))) if k == kind && l == layout => Ok(false),
        Some((k, l)) => Err(format!(
            "holds {} in layout {}, not a {kind} database in layout {layout} (written by another build, or another store's file)",
            k.as_deref().unwrap_or("unknown data"),
            l.as_deref().unwrap_or("unknown")
        )),
    }
}
