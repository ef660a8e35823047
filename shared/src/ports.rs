//! Ports: the small traits the services are written against, with the embedded adapters that
//! let everything run on one machine. The AWS adapters (S3, DynamoDB) live in `fraud-aws`.
//!
//! A card number never reaches a store: state is keyed by [`CardKey`], an HMAC-SHA256 of the
//! number under a secret the stores never see.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::features::CardState;

/// Keyed hash of a card number: the only card identifier stored or logged anywhere.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CardKey(String);

impl CardKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A key read back from a store (already hashed).
    pub fn from_stored(hex: String) -> Self {
        CardKey(hex)
    }
}

impl fmt::Debug for CardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardKey({})", &self.0[..self.0.len().min(12)])
    }
}

impl fmt::Display for CardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret behind [`CardKey`]s (`CARD_HASH_SECRET`).
#[derive(Clone)]
pub struct CardHasher {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for CardHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardHasher(<secret>)")
    }
}

/// Shortest secret accepted: 16 bytes, so the keyed hash cannot be brute-forced over the
/// small space of card numbers.
pub const MIN_SECRET_LEN: usize = 16;

impl CardHasher {
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(format!(
                "the card-hash secret has {} bytes; at least {MIN_SECRET_LEN} are needed",
                secret.len()
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|e| e.to_string())?;
        Ok(CardHasher { mac })
    }

    /// HMAC-SHA256 of the card number's decimal digits, hex.
    pub fn key(&self, cc_num: u64) -> CardKey {
        let mut mac = self.mac.clone();
        mac.update(cc_num.to_string().as_bytes());
        CardKey(hex::encode(mac.finalize().into_bytes()))
    }
}

/// Errors of a store port; `what` names the store and the key or object.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{what}: not found")]
    NotFound { what: String },
    #[error("{what}: {reason}")]
    Failed { what: String, reason: String },
}

/// Reads and writes whole objects by key (S3, or a local directory).
pub trait ObjectStore: Send + Sync {
    fn get(&self, key: &str) -> impl Future<Output = Result<Vec<u8>, StoreError>> + Send;
    fn put(&self, key: &str, bytes: Vec<u8>)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The object as a blocking byte stream and its version tag: read it from a blocking
    /// thread (`spawn_blocking`), so a large file is never held in memory whole.
    fn open(&self, key: &str) -> impl Future<Output = Result<ObjectReader, StoreError>> + Send;
    /// A human-readable location of `key` (`s3://bucket/key`, a path) for messages.
    fn describe(&self, key: &str) -> String;
}

/// A streamed object (see [`ObjectStore::open`]).
pub struct ObjectReader {
    pub reader: Box<dyn std::io::Read + Send>,
    /// The object's version tag (S3 ETag; size and modification time for a file).
    pub etag: Option<String>,
}

impl fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectReader")
            .field("etag", &self.etag)
            .finish_non_exhaustive()
    }
}

/// The outcome of [`CardStore::apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The answer `score` gave when `trans_num` was first applied (opaque bytes).
    pub answer: Vec<u8>,
    /// True when `trans_num` had already been applied: the state was not touched again.
    pub replayed: bool,
}

/// How many answers per card are kept to recognise a retried transaction (a retry comes
/// within seconds; eight keeps a DynamoDB item near 3 kB).
pub const REMEMBERED_ANSWERS: usize = 8;

/// One card's stored record: its history and the answers to its latest transactions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CardRecord {
    pub state: CardState,
    /// (trans_num, answer), oldest first, at most [`REMEMBERED_ANSWERS`].
    pub answers: VecDeque<(String, Vec<u8>)>,
}

impl CardRecord {
    pub fn answer_for(&self, trans_num: &str) -> Option<&[u8]> {
        self.answers
            .iter()
            .find(|(t, _)| t == trans_num)
            .map(|(_, a)| a.as_slice())
    }

    /// Applies `score` once per `trans_num`: a transaction already applied gets its remembered
    /// answer and changes nothing; a new one updates the state and its answer is remembered.
    pub fn apply_once(
        &mut self,
        trans_num: &str,
        score: &(dyn Fn(&mut CardState) -> Vec<u8> + Sync),
    ) -> Applied {
        if let Some(answer) = self.answer_for(trans_num) {
            return Applied {
                answer: answer.to_vec(),
                replayed: true,
            };
        }
        let answer = score(&mut self.state);
        if self.answers.len() == REMEMBERED_ANSWERS {
            self.answers.pop_front();
        }
        self.answers
            .push_back((trans_num.to_owned(), answer.clone()));
        Applied {
            answer,
            replayed: false,
        }
    }
}

/// Per-card state behind one atomic, idempotent operation.
pub trait CardStore: Send + Sync {
    /// Applies `score` to the card's state exactly once per `trans_num`: `score` updates the
    /// state (features first, then the transaction joins the history) and returns the answer
    /// to remember. A `trans_num` already applied to this card returns its remembered answer
    /// and changes nothing. Concurrent calls for one card never lose an update.
    fn apply(
        &self,
        card: &CardKey,
        trans_num: &str,
        score: &(dyn Fn(&mut CardState) -> Vec<u8> + Sync),
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;

    /// True for a store in this process, which never waits: callers skip its time budget.
    fn in_process(&self) -> bool {
        false
    }
}

/// One scoring decision, as appended to the decision log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// RFC 3339 UTC.
    pub at: String,
    pub trans_num: String,
    pub card: CardKey,
    pub probability: f64,
    pub decision: String,
    pub model_version: String,
    pub latency_us: u64,
    pub card_history_used: bool,
}

/// Where decisions are appended (a DynamoDB table with a TTL, or a JSON-lines file).
pub trait DecisionLog: Send + Sync {
    fn append(&self, record: DecisionRecord)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// True for a log in this process, which never waits: callers skip its time budget.
    fn in_process(&self) -> bool {
        false
    }
}

// ---- embedded adapters ------------------------------------------------------------------------

/// Objects as files under a root directory.
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    root: PathBuf,
}

impl LocalObjectStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalObjectStore { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        if key.split('/').any(|part| part == ".." || part.is_empty()) || key.starts_with('/') {
            return Err(StoreError::Failed {
                what: key.to_owned(),
                reason: "not a relative object key".into(),
            });
        }
        Ok(self.root.join(key))
    }
}

impl ObjectStore for LocalObjectStore {
    async fn open(&self, key: &str) -> Result<ObjectReader, StoreError> {
        let path = self.path(key)?;
        let what = || path.display().to_string();
        let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound { what: what() },
            _ => StoreError::Failed {
                what: what(),
                reason: e.to_string(),
            },
        })?;
        let etag = file.metadata().ok().map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}-{modified}", m.len())
        });
        Ok(ObjectReader {
            reader: Box::new(file),
            etag,
        })
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key)?;
        std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound {
                what: path.display().to_string(),
            },
            _ => StoreError::Failed {
                what: path.display().to_string(),
                reason: e.to_string(),
            },
        })
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let failed = |e: std::io::Error| StoreError::Failed {
            what: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(failed)
    }

    fn describe(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

const SHARDS: usize = 64;

/// Card records in process memory, sharded by key so concurrent cards rarely share a lock;
/// optionally saved to a file (see [`MemoryCardStore::save`]) so a restart loses nothing.
#[derive(Debug)]
pub struct MemoryCardStore {
    shards: Vec<Mutex<HashMap<CardKey, CardRecord>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for MemoryCardStore {
    fn default() -> Self {
        MemoryCardStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    cards: Vec<(CardKey, CardRecord)>,
}

impl MemoryCardStore {
    fn shard(&self, card: &CardKey) -> &Mutex<HashMap<CardKey, CardRecord>> {
        &self.shards[self.hasher.hash_one(card) as usize % SHARDS]
    }

    /// Number of cards with a record.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of one card's record (tests, inspection).
    pub fn record(&self, card: &CardKey) -> Option<CardRecord> {
        self.shard(card).lock().ok()?.get(card).cloned()
    }

    /// Loads a store saved by [`MemoryCardStore::save`]; a missing file is an empty store.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let store = MemoryCardStore::default();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(store),
            Err(e) => {
                return Err(StoreError::Failed {
                    what: path.display().to_string(),
                    reason: e.to_string(),
                });
            }
        };
        let (snapshot, _): (Snapshot, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).map_err(
                |e| StoreError::Failed {
                    what: path.display().to_string(),
                    reason: format!("not a card-state file of this version: {e}"),
                },
            )?;
        for (card, record) in snapshot.cards {
            if let Ok(mut shard) = store.shard(&card).lock() {
                shard.insert(card, record);
            }
        }
        Ok(store)
    }

    /// Writes every record to `path` atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let failed = |reason: String| StoreError::Failed {
            what: path.display().to_string(),
            reason,
        };
        let mut cards = Vec::new();
        for shard in &self.shards {
            let shard = shard
                .lock()
                .map_err(|_| failed("a card-state lock was poisoned".into()))?;
            cards.extend(shard.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        cards.sort_by(|a, b| a.0.cmp(&b.0));
        let bytes = bincode::serde::encode_to_vec(
            Snapshot { format: 1, cards },
            bincode::config::standard(),
        )
        .map_err(|e| failed(e.to_string()))?;
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| failed(e.to_string()))
    }

    fn apply_now(
        &self,
        card: &CardKey,
        trans_num: &str,
        score: &(dyn Fn(&mut CardState) -> Vec<u8> + Sync),
    ) -> Result<Applied, StoreError> {
        let mut shard = self.shard(card).lock().map_err(|_| StoreError::Failed {
            what: format!("card {card:?}"),
            reason: "a card-state lock was poisoned".into(),
        })?;
        Ok(shard
            .entry(card.clone())
            .or_default()
            .apply_once(trans_num, score))
    }
}

impl CardStore for MemoryCardStore {
    async fn apply(
        &self,
        card: &CardKey,
        trans_num: &str,
        score: &(dyn Fn(&mut CardState) -> Vec<u8> + Sync),
    ) -> Result<Applied, StoreError> {
        self.apply_now(card, trans_num, score)
    }

    fn in_process(&self) -> bool {
        true
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::CardEvent;
    use crate::schema::Category;

    fn block_on<F: Future>(f: F) -> F::Output {
        // The embedded adapters never wait, so one poll completes them.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("embedded adapters complete at once"),
        }
    }

    fn hasher() -> CardHasher {
        CardHasher::new(b"0123456789abcdef-test").unwrap()
    }

    #[test]
    fn card_keys_are_keyed_hashes_that_never_show_the_number() {
        let key = hasher().key(4_111_111_111_111_111);
        assert_eq!(key.as_str().len(), 64);
        assert!(!key.as_str().contains("4111111111111111"));
        assert_eq!(key, hasher().key(4_111_111_111_111_111));
        assert_ne!(
            key,
            CardHasher::new(b"another secret, 16+ bytes")
                .unwrap()
                .key(4_111_111_111_111_111)
        );
        assert!(!format!("{key:?}").contains(&key.as_str()[20..]));
        assert!(CardHasher::new(b"short").unwrap_err().contains("16"));
    }

    fn score(state: &mut CardState) -> Vec<u8> {
        let event = CardEvent {
            unix_time: 1_325_376_000 + state.count() as i64 * 60,
            amount_cents: 100,
            category: Category::Home,
        };
        let h = state.observe(&event, |_| 0);
        format!("{}", h.counts[0]).into_bytes()
    }

    #[test]
    fn memory_store_applies_once_per_transaction_and_remembers_the_answer() {
        let store = MemoryCardStore::default();
        let card = hasher().key(1234567890123);
        let first = block_on(store.apply(&card, "t1", &score)).unwrap();
        assert_eq!(
            first,
            Applied {
                answer: b"0".to_vec(),
                replayed: false
            }
        );
        let again = block_on(store.apply(&card, "t1", &score)).unwrap();
        assert_eq!(
            again,
            Applied {
                answer: b"0".to_vec(),
                replayed: true
            }
        );
        let second = block_on(store.apply(&card, "t2", &score)).unwrap();
        assert_eq!(second.answer, b"1");
        assert_eq!(store.record(&card).unwrap().state.count(), 2);
        // Old answers are forgotten beyond the window.
        for i in 0..REMEMBERED_ANSWERS {
            block_on(store.apply(&card, &format!("u{i}"), &score)).unwrap();
        }
        assert!(store.record(&card).unwrap().answer_for("t1").is_none());
    }

    #[test]
    fn concurrent_updates_of_one_card_are_never_lost() {
        let store = std::sync::Arc::new(MemoryCardStore::default());
        let card = hasher().key(1234567890123);
        std::thread::scope(|s| {
            for t in 0..8 {
                let (store, card) = (store.clone(), card.clone());
                s.spawn(move || {
                    for i in 0..200 {
                        block_on(store.apply(&card, &format!("{t}-{i}"), &score)).unwrap();
                    }
                });
            }
        });
        assert_eq!(store.record(&card).unwrap().state.count(), 1600);
    }

    #[test]
    fn saved_state_loads_back_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.bin");
        let store = MemoryCardStore::default();
        for n in 0..50u64 {
            block_on(store.apply(&hasher().key(1_000_000_000_000 + n), "t", &score)).unwrap();
        }
        store.save(&path).unwrap();
        let loaded = MemoryCardStore::load(&path).unwrap();
        assert_eq!(loaded.len(), 50);
        let card = hasher().key(1_000_000_000_007);
        assert_eq!(loaded.record(&card), store.record(&card));
        assert!(
            MemoryCardStore::load(&dir.path().join("absent"))
                .unwrap()
                .is_empty()
        );
        std::fs::write(&path, b"garbage").unwrap();
        let err = MemoryCardStore::load(&path).unwrap_err().to_string();
        assert!(err.contains("state.bin"), "{err}");
    }

    #[test]
    fn json_lines_log_appends_one_record_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/decisions.jsonl");
        let log = JsonLinesLog::open(&path).unwrap();
        for i in 0..3 {
            block_on(log.append(DecisionRecord {
                at: "2026-01-01T00:00:00Z".into(),
                trans_num: format!("t{i}"),
                card: hasher().key(1234567890123),
                probability: 0.5,
                decision: "approve".into(),
                model_version: "gbdt-x".into(),
                latency_us: 10,
                card_history_used: true,
            }))
            .unwrap();
        }
        log.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        let first: DecisionRecord = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first.trans_num, "t0");
    }

    #[test]
    fn local_objects_round_trip_and_refuse_escaping_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalObjectStore::new(dir.path());
        block_on(store.put("models/v1/model.bin", b"abc".to_vec())).unwrap();
        assert_eq!(block_on(store.get("models/v1/model.bin")).unwrap(), b"abc");
        assert!(matches!(
            block_on(store.get("models/absent")),
            Err(StoreError::NotFound { .. })
        ));
        assert!(block_on(store.get("../etc/passwd")).is_err());
    }
}
