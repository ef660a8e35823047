//! The threads behind a [`GroupCommit`](crate::database::GroupCommit). The journal thread
//! appends each group of changes as one record and hands the sync to two sync threads, which
//! answer the group's callers once it is on disk: a sync makes every record appended before it
//! durable, so a sync thread takes every sync asked for while it was busy at once, and with two
//! of them a new group need not wait for the sync under way to end before its own starts. The
//! checkpoint thread moves a finished journal's changes into the database in one synced
//! transaction, while new groups go to the other journal.
//!
//! Epochs: every journal record carries its journal's epoch, and the database records the last
//! epoch it holds in full. A journal starts over (from its first byte, under the next epoch)
//! only once the other journal took new groups and its own epoch is in the database. After a
//! crash, the records of epochs beyond the database's are applied in epoch order.

use std::collections::VecDeque;
use std::fs::File;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use redb::{Database, Durability, ReadableDatabase};

use crate::database::{Change, JOURNAL_EPOCH, META};
use crate::journal::{self, Journal};

/// Journal bytes after which its changes are checkpointed and new groups go to the other
/// journal. It bounds the changes held in memory until they are in the database.
#[cfg(not(test))]
const CHECKPOINT_BYTES: u64 = 4 << 20;
/// Small in unit tests, so they switch journals and checkpoint many times.
#[cfg(test)]
const CHECKPOINT_BYTES: u64 = 64 << 10;

/// At most this many writes share one group, so one group never makes a huge record.
const MAX_GROUP: usize = 1024;

pub(crate) enum Job<C> {
    /// `None` is a barrier: answered once every change queued before it is durable.
    Write {
        change: Option<C>,
        done: tokio::sync::oneshot::Sender<Result<u64, String>>,
    },
    /// Answered once every change queued before it is in the database.
    Flush {
        done: mpsc::Sender<Result<(), String>>,
    },
}

/// How many syncs may be under way at once.
const SYNC_THREADS: usize = 2;

type Answer = tokio::sync::oneshot::Sender<Result<u64, String>>;

/// Groups appended but not yet known to be on disk, oldest first, with their callers.
#[derive(Default)]
struct Unsynced {
    groups: Mutex<VecDeque<(u64, Vec<Answer>)>>,
}

impl Unsynced {
    /// Registers `answers` to be sent once the just-appended `group` is on disk.
    fn appended(&self, group: u64, answers: Vec<Answer>) {
        self.lock().push_back((group, answers));
    }

    /// Sends `answers` once the last group appended, `group`, is on disk: at once if it is.
    fn after(&self, group: u64, answers: Vec<Answer>) {
        let mut groups = self.lock();
        match groups.back_mut() {
            Some((last, waiting)) if *last == group => waiting.extend(answers),
            _ => {
                for answer in answers {
                    let _ = answer.send(Ok(group));
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Vec<Answer>)>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers every caller of the groups up to `group`.
    fn synced(&self, group: u64, result: &Result<(), String>) {
        let mut groups = self.lock();
        while let Some((first, _)) = groups.front()
            && *first <= group
        {
            let (first, answers) = groups.pop_front().expect("front exists");
            for answer in answers {
                let _ = answer.send(result.clone().map(|()| first));
            }
        }
    }
}

/// A sync asked for: of `file`, making the groups up to `group` durable.
struct SyncRequest {
    file: Arc<File>,
    path: PathBuf,
    group: u64,
}

/// One journal's changes, for the checkpoint thread.
struct Batch<C> {
    changes: Vec<C>,
    epoch: u64,
    last_group: u64,
}

/// The journal thread's state.
pub(crate) struct Writer<C> {
    journals: [Journal; 2],
    /// The journal taking new groups.
    active: usize,
    /// Changes in the active journal, not yet given to a checkpoint.
    pending: Vec<C>,
    /// Groups appended so far.
    group: u64,
    unsynced: Arc<Unsynced>,
    syncs: Option<mpsc::Sender<SyncRequest>>,
    batches: Option<mpsc::Sender<Batch<C>>>,
    finished: mpsc::Receiver<Result<u64, String>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// A checkpoint is under way: the inactive journal is still needed.
    checkpointing: bool,
    broken: Arc<AtomicBool>,
    checkpointed: Arc<AtomicU64>,
}

impl<C: Change> Writer<C> {
    /// Opens the journals of the database at `path`, applies what they hold beyond the
    /// database's last checkpoint (the tail a crash left) in one synced transaction, and
    /// starts the threads. Beside a `created` database, journals are another file's: ignored,
    /// and the new database's epochs start at a random number, so their records never match.
    pub(crate) fn recover(
        db: Arc<Database>,
        path: &Path,
        created: bool,
        broken: Arc<AtomicBool>,
        checkpointed: Arc<AtomicU64>,
    ) -> Result<Self, String> {
        let in_database = if created {
            std::collections::hash_map::RandomState::new().hash_one(path) >> 2
        } else {
            checkpointed_epoch(&db)?
        };
        let (journals, found) = open_journals(path, in_database, created)?;
        let mut changes = Vec::new();
        for (_, records, path) in &found {
            for record in records {
                let (group, _): (Vec<C>, _) =
                    bincode::serde::decode_from_slice(record, bincode::config::standard())
                        .map_err(|e| {
                            format!("journal {}: a record this build cannot read (written by another build?): {e}", path.display())
                        })?;
                changes.extend(group);
            }
        }
        let last = found.last().map_or(in_database, |(epoch, _, _)| *epoch);
        if !changes.is_empty() {
            tracing::info!(database = %path.display(), changes = changes.len(), "applying the journal's changes since the last checkpoint");
        }
        checkpoint(&db, &changes, last)?;
        let mut journals = journals;
        for journal in &mut journals {
            journal.restart(last + 1);
        }
        let unsynced = Arc::new(Unsynced::default());
        let (syncs, sync_requests) = mpsc::channel();
        let sync_requests = Arc::new(Mutex::new(sync_requests));
        let mut threads = Vec::new();
        for n in 0..SYNC_THREADS {
            let (requests, unsynced, broken) =
                (sync_requests.clone(), unsynced.clone(), broken.clone());
            threads.push(spawn(format!("sync {n}"), move || {
                sync_loop(&requests, &unsynced, &broken);
            })?);
        }
        let (batches, to_checkpoint) = mpsc::channel::<Batch<C>>();
        let (done, finished) = mpsc::channel();
        threads.push(spawn("checkpoint".into(), move || {
            while let Ok(batch) = to_checkpoint.recv() {
                let result =
                    checkpoint(&db, &batch.changes, batch.epoch).map(|()| batch.last_group);
                if done.send(result).is_err() {
                    break;
                }
            }
        })?);
        Ok(Writer {
            journals,
            active: 0,
            pending: Vec::new(),
            group: 0,
            unsynced,
            syncs: Some(syncs),
            batches: Some(batches),
            finished,
            threads,
            checkpointing: false,
            broken,
            checkpointed,
        })
    }

    /// Takes what is queued, appends it as one group, checkpoints when the journal is long,
    /// and repeats; once every sender is gone, checkpoints what is left, so a clean stop leaves
    /// nothing to replay.
    pub(crate) fn run(mut self, jobs: &mpsc::Receiver<Job<C>>) {
        while let Ok(first) = jobs.recv() {
            let mut queued = vec![first];
            while queued.len() < MAX_GROUP {
                match jobs.try_recv() {
                    Ok(job) => queued.push(job),
                    Err(_) => break,
                }
            }
            let (mut changes, mut answers, mut flushes) = (Vec::new(), Vec::new(), Vec::new());
            for job in queued {
                match job {
                    Job::Write { change, done } => {
                        changes.extend(change);
                        answers.push(done);
                    }
                    Job::Flush { done } => flushes.push(done),
                }
            }
            self.append(changes, answers);
            self.collect(false);
            if !flushes.is_empty() {
                let flushed = self.flush();
                for flush in flushes {
                    let _ = flush.send(flushed.clone());
                }
            } else if self.journals[self.active].len() >= CHECKPOINT_BYTES {
                self.start_checkpoint();
            }
        }
        let _ = self.flush();
        drop(self.syncs.take());
        drop(self.batches.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }

    /// Appends `changes` to the active journal as one group and asks for it to be synced;
    /// `answers` get the group's number once it is on disk (with no changes, once the last
    /// group is).
    fn append(&mut self, changes: Vec<C>, answers: Vec<Answer>) {
        if changes.is_empty() {
            return self.unsynced.after(self.group, answers);
        }
        let journal = &mut self.journals[self.active];
        let appended = bincode::serde::encode_to_vec(&changes, bincode::config::standard())
            .map_err(|e| format!("encoding a journal record: {e}"))
            .and_then(|record| journal.append(&record).map_err(|e| journal.failed(e)));
        if let Err(reason) = appended {
            self.fail(&reason);
            for answer in answers {
                let _ = answer.send(Err(reason.clone()));
            }
            return;
        }
        self.pending.extend(changes);
        self.group += 1;
        self.unsynced.appended(self.group, answers);
        let request = SyncRequest {
            file: journal.file(),
            path: journal.path().to_owned(),
            group: self.group,
        };
        if self
            .syncs
            .as_ref()
            .is_none_or(|syncs| syncs.send(request).is_err())
        {
            self.fail("the sync threads stopped");
        }
    }

    /// Hands the active journal's changes to the checkpoint thread and switches journals,
    /// unless a checkpoint is still under way (the other journal is then still needed). The
    /// active journal is synced first, so a sync of the next one covers every group before.
    fn start_checkpoint(&mut self) {
        if self.checkpointing || self.pending.is_empty() || self.broken.load(Ordering::Acquire) {
            return;
        }
        let journal = &self.journals[self.active];
        let synced = journal.sync().map_err(|e| journal.failed(e));
        self.unsynced.synced(self.group, &synced);
        if let Err(reason) = synced {
            return self.fail(&reason);
        }
        let batch = Batch {
            changes: std::mem::take(&mut self.pending),
            epoch: journal.epoch(),
            last_group: self.group,
        };
        let next_epoch = batch.epoch + 1;
        if self
            .batches
            .as_ref()
            .is_none_or(|batches| batches.send(batch).is_err())
        {
            return self.fail("the checkpoint thread stopped");
        }
        self.checkpointing = true;
        self.active = 1 - self.active;
        self.journals[self.active].restart(next_epoch);
    }

    /// Takes the result of a finished checkpoint (waiting for it with `wait`).
    fn collect(&mut self, wait: bool) {
        if !self.checkpointing {
            return;
        }
        let result = if wait {
            self.finished
                .recv()
                .map_err(|_| "the checkpoint thread stopped".to_owned())
        } else {
            match self.finished.try_recv() {
                Ok(result) => Ok(result),
                Err(mpsc::TryRecvError::Empty) => return,
                Err(mpsc::TryRecvError::Disconnected) => {
                    Err("the checkpoint thread stopped".to_owned())
                }
            }
        };
        self.checkpointing = false;
        match result.and_then(|checkpointed| checkpointed) {
            Ok(group) => self.checkpointed.store(group, Ordering::Release),
            Err(reason) => self.fail(&reason),
        }
    }

    /// Puts every appended change in the database and waits for it.
    fn flush(&mut self) -> Result<(), String> {
        self.collect(true);
        self.start_checkpoint();
        self.collect(true);
        if self.broken.load(Ordering::Acquire) {
            return Err("an earlier write failed; restart to reopen the store".into());
        }
        Ok(())
    }

    fn fail(&self, reason: &str) {
        self.broken.store(true, Ordering::Release);
        let journal = self.journals[self.active].path();
        tracing::error!(journal = %journal.display(), %reason, "write failed: the store accepts nothing more until restarted");
    }
}

fn spawn(
    name: String,
    run: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name(name)
        .spawn(run)
        .map_err(|e| format!("cannot start a journal thread: {e}"))
}

/// A sync thread: takes the sync asked for first and every one asked for since, syncs the
/// newest (it covers the others: the journal thread syncs a journal in full before it moves
/// to the other one), and answers every group up to it.
fn sync_loop(
    requests: &Mutex<mpsc::Receiver<SyncRequest>>,
    unsynced: &Unsynced,
    broken: &AtomicBool,
) {
    loop {
        let newest = {
            let requests = requests.lock().unwrap_or_else(|p| p.into_inner());
            let Ok(first) = requests.recv() else { return };
            requests.try_iter().last().unwrap_or(first)
        };
        let synced = newest
            .file
            .sync_data()
            .map_err(|e| format!("journal {}: {e}", newest.path.display()));
        if let Err(reason) = &synced {
            broken.store(true, Ordering::Release);
            tracing::error!(%reason, "sync failed: the store accepts nothing more until restarted");
        }
        unsynced.synced(newest.group, &synced);
    }
}

/// Opens both journals of the database at `path`, with the records of epochs after
/// `in_database` they hold (none beside a `created` database), oldest epoch first.
#[allow(clippy::type_complexity)]
fn open_journals(
    path: &Path,
    in_database: u64,
    created: bool,
) -> Result<([Journal; 2], Vec<(u64, Vec<Vec<u8>>, PathBuf)>), String> {
    let [first, second] = journal::paths_for(path);
    let (mut journals, mut found) = (Vec::new(), Vec::new());
    for path in [first, second] {
        let (journal, records) =
            Journal::open(&path).map_err(|e| format!("journal {}: {e}", path.display()))?;
        if let Some((epoch, records)) = records.filter(|(e, _)| !created && *e > in_database) {
            found.push((epoch, records, path));
        }
        journals.push(journal);
    }
    found.sort_by_key(|(epoch, _, _)| *epoch);
    let journals = journals.try_into().map_err(|_| "two journals".to_owned())?;
    Ok((journals, found))
}

/// The last journal epoch the database holds in full (0 for a database without one).
fn checkpointed_epoch(db: &Database) -> Result<u64, String> {
    let read = db.begin_read().map_err(|e| e.to_string())?;
    let meta = read.open_table(META).map_err(|e| e.to_string())?;
    let stored = meta.get(JOURNAL_EPOCH).map_err(|e| e.to_string())?;
    stored.map_or(Ok(0), |epoch| {
        epoch
            .value()
            .parse()
            .map_err(|e| format!("journal epoch {:?}: {e}", epoch.value()))
    })
}

/// Applies `changes` and records that the database holds `epoch` in full, in one synced
/// transaction.
fn checkpoint<C: Change>(db: &Database, changes: &[C], epoch: u64) -> Result<(), String> {
    let synced = || -> Result<(), redb::Error> {
        let mut transaction = db.begin_write()?;
        transaction.set_durability(Durability::Immediate)?;
        for change in changes {
            change.apply(&transaction)?;
        }
        transaction
            .open_table(META)?
            .insert(JOURNAL_EPOCH, epoch.to_string().as_str())?;
        transaction.commit()?;
        Ok(())
    };
    synced().map_err(|e| format!("checkpoint: {e}"))
}
