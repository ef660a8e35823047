//! Ports: the small traits the services are written against, and the rule that makes a card
//! update idempotent ([`CardRecord::apply_once`]). The adapters live beside each other in
//! `fraud-embedded` (files and memory, one machine) and `fraud-aws` (S3, DynamoDB); the MLflow
//! adapter of [`ExperimentTracker`] is in the `mlflow-logger` function.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::card_key::CardKey;
use crate::features::CardState;

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
    /// The bucket this store reads, when it is one (S3); a local directory stands in for any.
    /// Event handlers refuse a notification from another bucket.
    fn bucket(&self) -> Option<&str> {
        None
    }
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

    /// True for a store in this process, with no network to wait for: callers skip its time
    /// budget.
    fn in_process(&self) -> bool {
        false
    }
}

/// What the scorer answers for a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    /// `approve` or `deny`, as in the API and the decision log.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }
}

/// What the decision policy made of a transaction. `review` lets the payment through (the
/// answer's `decision` is `approve`) and puts it in the fraud team's queue, as in Stripe Radar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Approve,
    Review,
    Deny,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Approve, Outcome::Review, Outcome::Deny];

    /// `approve`, `review` or `deny`, as in policies, the API and the decision log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approve => "approve",
            Outcome::Review => "review",
            Outcome::Deny => "deny",
        }
    }

    /// The authorisation answer: only `deny` declines.
    pub fn decision(self) -> Decision {
        match self {
            Outcome::Deny => Decision::Deny,
            Outcome::Approve | Outcome::Review => Decision::Approve,
        }
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
    pub decision: Decision,
    pub model_version: String,
    /// From the request's start to the decision, the card's change durable (before the log's
    /// own write).
    pub latency_us: u64,
    pub card_history_used: bool,
    /// The policy's outcome, the list or rule that decided (`threshold` when none did) and the
    /// policy's version. Absent in records written before policies existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
}

/// Where decisions are appended (a DynamoDB table with a TTL, or a local database file).
/// One decision per `trans_num`: the first is kept and a later append of the same
/// transaction (a retry) changes nothing, so no decision is counted twice.
pub trait DecisionLog: Send + Sync {
    fn append(&self, record: DecisionRecord)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// True for a log in this process, which never waits: callers skip its time budget.
    fn in_process(&self) -> bool {
        false
    }
}

/// Errors of the experiment tracker.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrackerError {
    /// The tracker cannot be reached or failed (connection refused, timeout, 5xx): retry later.
    #[error("{tracker} is unavailable: {reason}")]
    Unavailable { tracker: String, reason: String },
    /// The tracker refused the call (4xx): a retry would fail the same way.
    #[error("{call} answered {status}: {body}")]
    Refused {
        call: String,
        status: u16,
        body: String,
    },
}

/// A run the tracker already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedRun {
    pub run_id: String,
    /// False when an earlier attempt stopped half way.
    pub finished: bool,
}

/// An experiment tracker with a model registry (MLflow, or memory in tests): where run records
/// are published for people to compare. Every call is idempotent or found again by tag, so a
/// redelivered event publishes nothing twice.
pub trait ExperimentTracker: Send + Sync {
    /// The experiment's id, created when missing.
    fn experiment(&self, name: &str) -> impl Future<Output = Result<String, TrackerError>> + Send;
    /// The run tagged `tag = value` in the experiment.
    fn find_run(
        &self,
        experiment_id: &str,
        tag: &str,
        value: &str,
    ) -> impl Future<Output = Result<Option<TrackedRun>, TrackerError>> + Send;
    /// A new run; its id.
    fn create_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<String, TrackerError>> + Send;
    fn log_batch(
        &self,
        run_id: &str,
        params: &[(String, String)],
        metrics: &[(String, f64)],
        timestamp_ms: i64,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;
    /// Stores `bytes` as the run's artifact at `path`.
    fn upload(
        &self,
        experiment_id: &str,
        run_id: &str,
        path: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;
    /// The version of `model` registered from the run's artifact folder `artifact_path`,
    /// registering it (and the model) when missing.
    fn register(
        &self,
        model: &str,
        experiment_id: &str,
        run_id: &str,
        artifact_path: &str,
    ) -> impl Future<Output = Result<String, TrackerError>> + Send;
    fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: &str,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;
    fn finish_run(
        &self,
        run_id: &str,
        end_ms: i64,
    ) -> impl Future<Output = Result<(), TrackerError>> + Send;
}
