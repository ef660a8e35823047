//! One redb database file per store, written by one thread that commits in groups: every write
//! queued while the previous commit was syncing goes into the next commit, so durability costs
//! each request one commit's wait, not one fsync of its own, and throughput stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use fraud_core::ports::StoreError;
use redb::{
    Database, Durability, Key, ReadOnlyTable, ReadableDatabase, TableDefinition, Value,
    WriteTransaction,
};

/// Which store a database file holds and in which layout, checked at open so a file of another
/// store or an older build is refused by name instead of being read wrong or reset.
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// Page cache per database (redb's default may grow to 1 GiB; the server's RSS bar is 64 MB).
const CACHE_BYTES: usize = 8 << 20;

/// At most this many writes share one commit, so one commit never holds a huge transaction.
const MAX_GROUP: usize = 1024;

/// A write run inside the group's transaction.
pub(crate) type Write = Box<dyn FnOnce(&WriteTransaction) -> Result<(), redb::Error> + Send>;

struct Job {
    /// `None` is a barrier: answered once every write queued before it is committed.
    write: Option<Write>,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// A database and its committing thread.
pub(crate) struct GroupCommit {
    db: Arc<Database>,
    /// `None` only while dropping, which closes the queue so the thread ends.
    queue: Option<mpsc::Sender<Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
    /// Set by a failed commit: memory may now be ahead of the file, so nothing more is accepted.
    broken: Arc<AtomicBool>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("path", &self.path)
            .finish()
    }
}

impl GroupCommit {
    /// Opens (or creates) the database at `path` holding `kind` in `layout`; a file holding
    /// anything else, written by another build or damaged, is refused with its name.
    pub(crate) fn open(path: &Path, kind: &str, layout: &str) -> Result<Self, StoreError> {
        let failed = |reason: String| StoreError::Failed {
            what: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        }
        // redb asserts (panics) on some damaged files, a file cut short among them: that too
        // is reported as a damaged file, not a crash.
        let opened = std::panic::catch_unwind(|| {
            Database::builder().set_cache_size(CACHE_BYTES).create(path)
        })
        .map_err(|panic| {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            failed(format!("damaged {kind} database: {detail}"))
        })?;
        let db = opened
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => failed(format!(
                    "the {kind} database is open in another process (a running fraud serve?)"
                )),
                e => failed(format!(
                    "not a {kind} database this build can read (written by an older build, another program, or damaged): {e}"
                )),
            })?;
        check_meta(&db, kind, layout).map_err(failed)?;
        let db = Arc::new(db);
        let (queue, jobs) = mpsc::channel();
        let broken = Arc::new(AtomicBool::new(false));
        let (writer_db, writer_broken, name) = (db.clone(), broken.clone(), path.to_owned());
        let writer = std::thread::Builder::new()
            .name(format!("commit {kind}"))
            .spawn(move || commit_loop(&writer_db, &jobs, &writer_broken, &name))
            .map_err(|e| failed(format!("cannot start the commit thread: {e}")))?;
        Ok(GroupCommit {
            db,
            queue: Some(queue),
            writer: Some(writer),
            path: path.to_owned(),
            broken,
        })
    }

    /// Reads `table` in a snapshot of the last commit; `absent` when nothing was ever written
    /// to it (a new file).
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

    /// Queues `write` and returns once the commit holding it is on disk; with no write, once
    /// everything queued before is on disk (an answer read from memory is acknowledged only
    /// when the write that made it is durable). Queue order is commit order, so a caller that
    /// queues under a lock keeps the lock's order on disk.
    pub(crate) fn write(
        &self,
        write: Option<Write>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let (done, answer) = tokio::sync::oneshot::channel();
        let queued = if self.broken.load(Ordering::Acquire) {
            Err(self.failed("an earlier commit failed; restart to reopen the store"))
        } else {
            self.queue
                .as_ref()
                .and_then(|queue| queue.send(Job { write, done }).ok())
                .ok_or_else(|| self.failed("the commit thread stopped"))
        };
        let stopped = self.failed("the commit thread stopped");
        let path = self.path.clone();
        async move {
            queued?;
            match answer.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(StoreError::Failed {
                    what: path.display().to_string(),
                    reason,
                }),
                Err(_) => Err(stopped),
            }
        }
    }
}

impl Drop for GroupCommit {
    /// Lets the thread commit what is queued, and waits for it, so the file is closed (and can
    /// be opened again) once the store is gone.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Records `kind` and `layout` in a new database, or checks them in an existing one.
fn check_meta(db: &Database, kind: &str, layout: &str) -> Result<(), String> {
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
            write.commit().map_err(|e| e.to_string())
        }
        Some((Some(k), Some(l))) if k == kind && l == layout => Ok(()),
        Some((k, l)) => Err(format!(
            "holds {} in layout {}, not a {kind} database in layout {layout} (written by another build, or another store's file)",
            k.as_deref().unwrap_or("unknown data"),
            l.as_deref().unwrap_or("unknown")
        )),
    }
}

/// The committing thread: takes what is queued, commits it as one transaction, answers each
/// caller, and repeats; it stops when every sender is gone.
fn commit_loop(db: &Database, jobs: &mpsc::Receiver<Job>, broken: &AtomicBool, path: &Path) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (writes, answers): (Vec<_>, Vec<_>) =
            group.into_iter().map(|job| (job.write, job.done)).unzip();
        let writes: Vec<Write> = writes.into_iter().flatten().collect();
        let result = if writes.is_empty() {
            Ok(())
        } else {
            commit(db, writes).map_err(|e| e.to_string())
        };
        if let Err(reason) = &result {
            broken.store(true, Ordering::Release);
            tracing::error!(file = %path.display(), %reason, "commit failed: the store accepts nothing more until restarted");
        }
        for answer in answers {
            let _ = answer.send(result.clone());
        }
    }
}

fn commit(db: &Database, writes: Vec<Write>) -> Result<(), redb::Error> {
    let mut transaction = db.begin_write()?;
    transaction.set_durability(Durability::Immediate)?;
    for write in writes {
        write(&transaction)?;
    }
    transaction.commit()?;
    Ok(())
}
