//! Card state in process memory, optionally saved to a file: the embedded twin of the DynamoDB
//! card store, with the same once-per-transaction rule ([`CardRecord::apply_once`]).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Mutex;

use fraud_core::card_key::CardKey;
use fraud_core::features::CardState;
use fraud_core::ports::{Applied, CardRecord, CardStore, StoreError};
use serde::{Deserialize, Serialize};

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
