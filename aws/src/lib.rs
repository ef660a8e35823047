//! AWS adapters of the fraud-core ports: S3 for objects, DynamoDB for card state and the
//! decision log. The SDK is configured from the standard environment (`AWS_REGION`,
//! credentials, `AWS_ENDPOINT_URL`, which is how the tests reach moto on 127.0.0.1).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use fraud_core::card_key::CardKey;
use fraud_core::features::CardState;
use fraud_core::ports::{
    Applied, CardRecord, CardStore, DecisionLog, DecisionRecord, ObjectReader, ObjectStore,
    REMEMBERED_ANSWERS, StoreError,
};

/// SDK configuration from the environment, with TLS by rustls + ring (no C build, see
/// ../shared/docs/LOCAL-AWS.md).
pub async fn sdk_config() -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// An S3 client; path-style addressing when an endpoint override is set (moto and other
/// local S3s cannot resolve `bucket.localhost`).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    if config.endpoint_url().is_some() {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// The string value of the Secrets Manager secret `arn`, read once at start-up so the secret is
/// never in the function's environment (where `lambda:GetFunctionConfiguration` shows it).
pub async fn secret_string(config: &SdkConfig, arn: &str) -> Result<String, StoreError> {
    let what = || format!("Secrets Manager secret {arn}");
    let value = aws_sdk_secretsmanager::Client::new(config)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| failed(what(), error_chain(&e)))?;
    value
        .secret_string
        .ok_or_else(|| failed(what(), "holds no string value (a binary secret?)"))
}

fn failed(what: impl Into<String>, error: impl std::fmt::Display) -> StoreError {
    StoreError::Failed {
        what: what.into(),
        reason: error.to_string(),
    }
}

/// The full chain of an SDK error (its Display is only "service error").
fn error_chain<E: std::error::Error>(e: &E) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Objects in one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3ObjectStore {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3ObjectStore {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object's bytes and its ETag (the eval and train functions record which version of
    /// a data file they read).
    pub async fn get_with_etag(&self, key: &str) -> Result<(Vec<u8>, Option<String>), StoreError> {
        let (output, what) = self.get_object(key).await?;
        let etag = output.e_tag().map(str::to_owned);
        let bytes = output.body.collect().await.map_err(|e| failed(&what, e))?;
        Ok((bytes.into_bytes().to_vec(), etag))
    }

    /// The object's response (body not yet read) and its location for messages; a missing
    /// key is `NotFound`.
    async fn get_object(
        &self,
        key: &str,
    ) -> Result<(aws_sdk_s3::operation::get_object::GetObjectOutput, String), StoreError> {
        let what = self.describe(key);
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_no_such_key() => StoreError::NotFound { what: what.clone() },
                _ => failed(&what, error_chain(&e)),
            })?;
        Ok((output, what))
    }
}

impl ObjectStore for S3ObjectStore {
    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        self.get_with_etag(key).await.map(|(bytes, _)| bytes)
    }

    async fn open(&self, key: &str) -> Result<ObjectReader, StoreError> {
        let (output, _) = self.get_object(key).await?;
        let etag = output.e_tag().map(str::to_owned);
        // The body arrives as it is read: a blocking reader over the async stream.
        let reader = tokio_util::io::SyncIoBridge::new(output.body.into_async_read());
        Ok(ObjectReader {
            reader: Box::new(reader),
            etag,
        })
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| failed(self.describe(key), error_chain(&e)))?;
        Ok(())
    }

    fn bucket(&self) -> Option<&str> {
        Some(&self.bucket)
    }

    fn describe(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// How often a conditional write that lost a race is retried before giving up.
const MAX_ATTEMPTS: usize = 8;

/// An answer pushed out of its card's window stays in the table this long as an item of its
/// own, so a retry that comes after more than [`REMEMBERED_ANSWERS`] later transactions of its
/// card is still answered, not scored and counted again.
const EVICTED_ANSWER_SECONDS: u64 = 2 * 86_400;

/// Lanes that serialise the updates of one card within this process.
const LANES: usize = 256;

/// Card records in a DynamoDB table keyed by `card` (the keyed hash), one item per card:
/// `record` (binary, the bincode [`CardRecord`]) and `version` (number). Updates are
/// optimistic: read, apply, write only if `version` is unchanged, retry on a lost race, so two
/// requests for one card never lose an update. Within one process, the updates of a card wait
/// for each other (a lane per card hash) instead of racing on the table, so only writers in
/// other processes can make one lose. An answer pushed out of the record's window is kept as
/// an item `card` = `"{card}#{trans_num}"` with `answer` and an `expires_at` TTL.
#[derive(Debug, Clone)]
pub struct DynamoCardStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    lanes: std::sync::Arc<[tokio::sync::Mutex<()>]>,
}

fn evicted_key(card: &CardKey, trans_num: &str) -> String {
    format!("{}#{trans_num}", card.as_str())
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl DynamoCardStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoCardStore {
            client,
            table: table.into(),
            lanes: (0..LANES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    fn lane(&self, card: &CardKey) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(card.as_str());
        &self.lanes[hash as usize % LANES]
    }

    /// The answer to `trans_num` kept after it left the card's window, if any.
    async fn evicted_answer(
        &self,
        card: &CardKey,
        trans_num: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = evicted_key(card, trans_num);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("card", AttributeValue::S(key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed(self.what(card), error_chain(&e)))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let expired = match item.get("expires_at") {
            Some(AttributeValue::N(n)) => n.parse::<u64>().is_ok_and(|at| at <= now_seconds()),
            _ => false,
        };
        match item.get("answer") {
            _ if expired => Ok(None),
            Some(AttributeValue::B(answer)) => Ok(Some(answer.as_ref().to_vec())),
            _ => Err(failed(key, "no binary `answer` attribute")),
        }
    }

    /// Keeps `answer` to `trans_num` as an item of its own before the record that drops it is
    /// written (writing it twice writes the same answer).
    async fn keep_evicted(
        &self,
        card: &CardKey,
        trans_num: &str,
        answer: Vec<u8>,
    ) -> Result<(), StoreError> {
        let expires_at = now_seconds() + EVICTED_ANSWER_SECONDS;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("card", AttributeValue::S(evicted_key(card, trans_num)))
            .item("answer", AttributeValue::B(Blob::new(answer)))
            .item("expires_at", AttributeValue::N(expires_at.to_string()))
            .send()
            .await
            .map_err(|e| failed(self.what(card), error_chain(&e)))?;
        Ok(())
    }

    fn what(&self, card: &CardKey) -> String {
        format!("DynamoDB table {} item {card:?}", self.table)
    }

    async fn read(&self, card: &CardKey) -> Result<(CardRecord, u64), StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("card", AttributeValue::S(card.as_str().to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed(self.what(card), error_chain(&e)))?;
        let Some(item) = output.item else {
            return Ok((CardRecord::default(), 0));
        };
        let version = match item.get("version") {
            Some(AttributeValue::N(n)) => n
                .parse()
                .map_err(|e| failed(self.what(card), format!("version {n:?}: {e}")))?,
            _ => return Err(failed(self.what(card), "no numeric `version` attribute")),
        };
        let record = match item.get("record") {
            Some(AttributeValue::B(blob)) => {
                bincode::serde::decode_from_slice(blob.as_ref(), bincode::config::standard())
                    .map(|(r, _)| r)
                    .map_err(|e| failed(self.what(card), format!("unreadable record: {e}")))?
            }
            _ => return Err(failed(self.what(card), "no binary `record` attribute")),
        };
        Ok((record, version))
    }

    /// Writes the record if the stored version is still `version`; `Ok(false)` on a lost race.
    async fn write(
        &self,
        card: &CardKey,
        record: &CardRecord,
        version: u64,
    ) -> Result<bool, StoreError> {
        let bytes = bincode::serde::encode_to_vec(record, bincode::config::standard())
            .map_err(|e| failed(self.what(card), e))?;
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("card", AttributeValue::S(card.as_str().to_owned()))
            .item("record", AttributeValue::B(Blob::new(bytes)))
            .item("version", AttributeValue::N((version + 1).to_string()));
        put = if version == 0 {
            put.condition_expression("attribute_not_exists(card)")
        } else {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(e) => Err(failed(self.what(card), error_chain(&e))),
        }
    }
}

impl CardStore for DynamoCardStore {
    async fn apply(
        &self,
        card: &CardKey,
        trans_num: &str,
        score: &(dyn Fn(&mut CardState) -> Vec<u8> + Sync),
    ) -> Result<Applied, StoreError> {
        let _turn = self.lane(card).lock().await;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                // Back off with jitter so racing writers stop colliding.
                let wait = fraud_http::backoff(attempt as u32, std::time::Duration::from_millis(1));
                tokio::time::sleep(wait).await;
            }
            let (mut record, version) = self.read(card).await?;
            let window_full = record.answers.len() >= REMEMBERED_ANSWERS;
            if window_full
                && record.answer_for(trans_num).is_none()
                && let Some(answer) = self.evicted_answer(card, trans_num).await?
            {
                return Ok(Applied {
                    answer,
                    replayed: true,
                });
            }
            let evicted = record.answers.front().cloned().filter(|_| window_full);
            let applied = record.apply_once(trans_num, score);
            if applied.replayed {
                return Ok(applied);
            }
            if let Some((evicted_trans_num, answer)) = evicted {
                self.keep_evicted(card, &evicted_trans_num, answer).await?;
            }
            if self.write(card, &record, version).await? {
                return Ok(applied);
            }
        }
        Err(failed(
            self.what(card),
            format!("still contended after {MAX_ATTEMPTS} attempts"),
        ))
    }
}

/// Decisions as items of a DynamoDB table keyed by `trans_num`, with a `expires_at` TTL
/// attribute (epoch seconds) so the table keeps a bounded window.
#[derive(Debug, Clone)]
pub struct DynamoDecisionLog {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retention_days: u64,
}

/// Default decision retention.
pub const DECISION_RETENTION_DAYS: u64 = 90;

impl DynamoDecisionLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoDecisionLog {
            client,
            table: table.into(),
            retention_days: DECISION_RETENTION_DAYS,
        }
    }
}

impl DecisionLog for DynamoDecisionLog {
    async fn append(&self, r: DecisionRecord) -> Result<(), StoreError> {
        let now = now_seconds();
        let policy = [
            ("outcome", r.outcome.map(|o| o.as_str().to_owned())),
            ("rule", r.rule),
            ("policy_version", r.policy_version),
        ];
        let policy = policy
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), AttributeValue::S(value?))));
        match self
            .client
            .put_item()
            .set_item(Some(policy.collect()))
            .table_name(&self.table)
            .item("trans_num", AttributeValue::S(r.trans_num.clone()))
            .item("at", AttributeValue::S(r.at))
            .item("card", AttributeValue::S(r.card.as_str().to_owned()))
            .item("probability", AttributeValue::N(r.probability.to_string()))
            .item(
                "decision",
                AttributeValue::S(r.decision.as_str().to_owned()),
            )
            .item("model_version", AttributeValue::S(r.model_version))
            .item("latency_us", AttributeValue::N(r.latency_us.to_string()))
            .item(
                "card_history_used",
                AttributeValue::Bool(r.card_history_used),
            )
            .item(
                "expires_at",
                AttributeValue::N((now + self.retention_days * 86_400).to_string()),
            )
            // One decision per trans_num, the first kept: a retry's append changes nothing.
            .condition_expression("attribute_not_exists(trans_num)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(())
            }
            Err(e) => Err(failed(
                format!("DynamoDB table {} item {}", self.table, r.trans_num),
                error_chain(&e),
            )),
        }
    }
}
