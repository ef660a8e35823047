//! Card state on one machine: the embedded twin of the DynamoDB card store, with the same
//! once-per-transaction rule ([`CardRecord::apply_once`]). Records live in memory, sharded so
//! concurrent cards rarely share a lock; with a database file every change is committed before
//! its answer is returned, so a crash or power loss loses nothing acknowledged.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use fraud_core::card_key::CardKey;
use fraud_core::features::CardState;
use fraud_core::ports::{Applied, CardRecord, CardStore, StoreError};
use redb::{ReadableTableMetadata, TableDefinition};

use crate::database::{Change, GroupCommit};

const SHARDS: usize = 64;

/// Card key (its hex form) to its bincode-encoded [`CardRecord`].
const CARDS: TableDefinition<&str, &[u8]> = TableDefinition::new("cards");

/// Answers by `"{day}/{card}/{trans_num}"`, kept for today and yesterday (UTC days by the
/// clock): a retry that comes after more than `REMEMBERED_ANSWERS` later transactions of its
/// card, beyond the record's own window, is still answered from here and not counted again.
const ANSWERS: TableDefinition<&str, &[u8]> = TableDefinition::new("answers");

/// The layout of the records in the file; a change to [`CardRecord`] changes it.
const LAYOUT: &str = "card-record-bincode-2";

/// One transaction's change to the file: the card's record and its answer, and on the first
/// change of a day, the answers of days before yesterday dropped.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CardChange {
    card: String,
    record: Vec<u8>,
    answer_key: String,
    answer: Vec<u8>,
    /// Answers keyed before this are removed.
    prune_before: Option<String>,
}

impl Change for CardChange {
    fn apply(&self, transaction: &redb::WriteTransaction) -> Result<(), redb::Error> {
        transaction
            .open_table(CARDS)?
            .insert(self.card.as_str(), self.record.as_slice())?;
        let mut answers = transaction.open_table(ANSWERS)?;
        answers.insert(self.answer_key.as_str(), self.answer.as_slice())?;
        if let Some(cutoff) = &self.prune_before {
            answers.retain_in(..cutoff.as_str(), |_, _| false)?;
        }
        Ok(())
    }
}

/// One lock's share of the cards and of the answers in memory: without a file, those of today
/// and yesterday; with one, those the file's database does not hold yet.
#[derive(Debug, Default)]
struct Shard {
    cards: HashMap<CardKey, CardRecord>,
    answers: HashMap<String, Vec<u8>>,
    answers_day: u64,
    /// With a file: answers by the journal group that holds them, oldest first, dropped from
    /// memory once that group is in the database.
    journaled: std::collections::VecDeque<(u64, String)>,
}

impl Shard {
    /// Forgets the answers the database holds now.
    fn drop_checkpointed(&mut self, checkpointed: u64) {
        while let Some((group, _)) = self.journaled.front()
            && *group <= checkpointed
        {
            let (_, key) = self.journaled.pop_front().expect("front exists");
            self.answers.remove(&key);
        }
    }
}

fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

fn answer_key(day: u64, card: &CardKey, trans_num: &str) -> String {
    format!("{day:08}/{}/{trans_num}", card.as_str())
}

/// Card records in memory, and in a database file when opened with [`LocalCardStore::open`].
#[derive(Debug)]
pub struct LocalCardStore {
    shards: Vec<Mutex<Shard>>,
    hasher: std::collections::hash_map::RandomState,
    disk: Option<GroupCommit<CardChange>>,
    /// The day up to which the file's answers were last pruned.
    pruned_day: AtomicU64,
}

impl Default for LocalCardStore {
    fn default() -> Self {
        LocalCardStore::in_memory()
    }
}

impl LocalCardStore {
    /// A store in memory only: a restart forgets every card.
    pub fn in_memory() -> Self {
        LocalCardStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            disk: None,
            pruned_day: AtomicU64::new(0),
        }
    }

    /// A store kept in the database at `path` (created when missing). Cards are read from it
    /// when first used, so start-up does not grow with the number of cards.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let disk = GroupCommit::open(path, "card-state", LAYOUT)?;
        Ok(LocalCardStore {
            disk: Some(disk),
            ..LocalCardStore::in_memory()
        })
    }

    fn shard(&self, card: &CardKey) -> Result<MutexGuard<'_, Shard>, StoreError> {
        self.shards[self.hasher.hash_one(card) as usize % SHARDS]
            .lock()
            .map_err(|_| StoreError::Failed {
                what: format!("card {card}"),
                reason: "a card-state lock was poisoned".into(),
            })
    }

    /// Number of cards with a record (in the file, when there is one).
    pub fn count(&self) -> Result<u64, StoreError> {
        match &self.disk {
            None => Ok(self
                .shards
                .iter()
                .map(|s| s.lock().map_or(0, |m| m.cards.len() as u64))
                .sum()),
            Some(disk) => {
                disk.flush()?;
                disk.read(CARDS, 0, |table| Ok(table.len()?))
            }
        }
    }

    /// A copy of one card's record (tests, inspection).
    pub fn record(&self, card: &CardKey) -> Result<Option<CardRecord>, StoreError> {
        if let Some(record) = self.shard(card)?.cards.get(card) {
            return Ok(Some(record.clone()));
        }
        self.read(card)
    }

    /// The card's record in the file, if any.
    fn read(&self, card: &CardKey) -> Result<Option<CardRecord>, StoreError> {
        let Some(disk) = &self.disk else {
            return Ok(None);
        };
        let bytes = disk.read(CARDS, None, |table| {
            Ok(table
                .get(card.as_str())?
                .map(|bytes| bytes.value().to_vec()))
        })?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard())
            .map(|(record, _)| Some(record))
            .map_err(|e| disk.failed(format!("card {card}: unreadable record: {e}")))
    }

    /// The answer given to `trans_num` of `card` today or yesterday, if any.
    fn remembered(
        &self,
        shard: &Shard,
        day: u64,
        card: &CardKey,
        trans_num: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let keys = [day, day.saturating_sub(1)].map(|d| answer_key(d, card, trans_num));
        // Memory first: with a file it holds the answers the database does not hold yet.
        if let Some(answer) = keys.iter().find_map(|k| shard.answers.get(k)) {
            return Ok(Some(answer.clone()));
        }
        let Some(disk) = &self.disk else {
            return Ok(None);
        };
        disk.read(ANSWERS, None, |table| {
            for key in &keys {
                if let Some(answer) = table.get(key.as_str())? {
                    return Ok(Some(answer.value().to_vec()));
                }
            }
            Ok(None)
        })
    }

    /// Applies `score` to the card's record once per `trans_num`, or finds the answer of a
    /// retry: in the record's window, or among the answers of today and yesterday.
    fn apply_in_memory(
        &self,
        shard: &mut Shard,
        day: u64,
        card: &CardKey,
        trans_num: &str,
        score: &(dyn Fn(&mut CardState) -> Vec<u8> + Sync),
    ) -> Result<Applied, StoreError> {
        let in_window = shard
            .cards
            .get(card)
            .is_some_and(|r| r.answer_for(trans_num).is_some());
        if !in_window && let Some(answer) = self.remembered(shard, day, card, trans_num)? {
            return Ok(Applied {
                answer,
                replayed: true,
            });
        }
        let record = match shard.cards.entry(card.clone()) {
            Entry::Occupied(found) => found.into_mut(),
            Entry::Vacant(slot) => slot.insert(self.read(card)?.unwrap_or_default()),
        };
        Ok(record.apply_once(trans_num, score))
    }

    /// Keeps `answer` in memory (without a file for two days; with one until the database holds it),
    /// dropping the answers of days before yesterday.
    fn remember_in_memory(shard: &mut Shard, key: String, day: u64, answer: Vec<u8>) {
        if shard.answers_day != day {
            let cutoff = format!("{:08}", day.saturating_sub(1));
            shard.answers.retain(|k, _| k.as_str() >= cutoff.as_str());
            shard.answers_day = day;
        }
        shard.answers.insert(key, answer);
    }

    /// The change that puts `record` and `answer` in the file, pruning old answers once a day.
    fn persist(
        &self,
        card: &CardKey,
        record: &CardRecord,
        answer_key: String,
        day: u64,
        answer: Vec<u8>,
    ) -> Result<CardChange, StoreError> {
        let disk = self.disk.as_ref().expect("persist is called with a file");
        let record = bincode::serde::encode_to_vec(record, bincode::config::standard())
            .map_err(|e| disk.failed(format!("card {card}: {e}")))?;
        let prune = self.pruned_day.swap(day, Ordering::Relaxed) != day;
        Ok(CardChange {
            card: card.as_str().to_owned(),
            record,
            answer_key,
            answer,
            prune_before: prune.then(|| format!("{:08}", day.saturating_sub(1))),
        })
    }
}

impl CardStore for LocalCardStore {
    async fn apply(
        &self,
        card: &CardKey,
        trans_num: &str,
        score: &(dyn Fn(&mut CardState) -> Vec<u8> + Sync),
    ) -> Result<Applied, StoreError> {
        let (applied, durable, key) = {
            let mut shard = self.shard(card)?;
            if let Some(disk) = &self.disk {
                shard.drop_checkpointed(disk.checkpointed());
            }
            let day = today();
            let applied = self.apply_in_memory(&mut shard, day, card, trans_num, score)?;
            // Queued under the card's lock, so the file sees this card's changes in order;
            // a replayed answer waits for the commit of the write that made it.
            let key = answer_key(day, card, trans_num);
            if !applied.replayed {
                Self::remember_in_memory(&mut shard, key.clone(), day, applied.answer.clone());
            }
            let durable = match &self.disk {
                None => None,
                Some(disk) if applied.replayed => Some(disk.write(None)),
                Some(disk) => {
                    let record = &shard.cards[card];
                    let write =
                        self.persist(card, record, key.clone(), day, applied.answer.clone())?;
                    Some(disk.write(Some(write)))
                }
            };
            (applied, durable, key)
        };
        if let Some(durable) = durable {
            let group = durable.await?;
            if !applied.replayed {
                // Kept in memory until the database holds it.
                self.shard(card)?.journaled.push_back((group, key));
            }
        }
        Ok(applied)
    }

    /// In this process: no network to wait for, so no time budget (a budget cut short would
    /// answer without history after the state was already updated).
    fn in_process(&self) -> bool {
        true
    }
}
