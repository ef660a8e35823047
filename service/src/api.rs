//! The HTTP API: one axum Router, served by `lambda_http::run` on Lambda and by `axum::serve`
//! locally. Bodies are read and checked here (content type, size, JSON, fields) so that a
//! refused request never reaches the card state.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fraud_core::Transaction;
use fraud_core::metrics::Metrics;
use fraud_core::ports::{CardStore, DecisionLog};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::service::{Prediction, ScoreService};

/// Largest `/predict` body (one transaction is about 500 bytes).
pub const PREDICT_BODY_LIMIT: usize = 64 * 1024;
/// Largest `/predict/batch` body: 1,000 transactions of up to 2 kB.
pub const BATCH_BODY_LIMIT: usize = 2 * 1024 * 1024;
/// Most transactions in one batch.
pub const MAX_BATCH: usize = 1000;

/// The routes, as the OpenAPI document lists them (checked by a test).
pub const ROUTES: [(&str, &str); 5] = [
    ("POST", "/predict"),
    ("POST", "/predict/batch"),
    ("GET", "/health"),
    ("GET", "/model"),
    ("GET", "/policy"),
];

type Service<C, L> = Arc<ScoreService<C, L>>;

/// The API over a scoring service.
pub fn router<C, L>(service: Service<C, L>) -> Router
where
    C: CardStore + 'static,
    L: DecisionLog + 'static,
{
    Router::new()
        .route("/predict", post(predict::<C, L>))
        .route("/predict/batch", post(predict_batch::<C, L>))
        .route("/health", get(health::<C, L>))
        .route("/model", get(model::<C, L>))
        .route("/policy", get(policy::<C, L>))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(service)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

/// Reads a JSON body of at most `limit` bytes; a wrong content type, an oversized body, bad
/// JSON and a wrongly typed or missing field each get their own error naming what is wrong.
async fn read_json<T: DeserializeOwned + JsonShape>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media_type != "application/json" {
        return Err(ApiError::UnsupportedMediaType {
            found: content_type,
        });
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::BodyTooLarge { limit })?;
    parse_json(&bytes)
}

/// JSON to `T`, with the path of the field at fault (`amt`, `[3].dob`).
pub fn parse_json<T: DeserializeOwned + JsonShape>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would read a struct from a JSON array too; a transaction must be an object.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if T::is_object() && first != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => ApiError::InvalidField {
                    field: ".".into(),
                    reason: "expected a JSON object (one transaction)".into(),
                },
                Err(e) => ApiError::MalformedJson {
                    detail: e.to_string(),
                },
            },
        );
    }
    // Fast path: plain serde_json. Only a refused body is parsed again to find the field at fault.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // A number too large for a float (1e999) is well-formed JSON with a bad value.
        let out_of_range = inner.to_string().starts_with("number out of range");
        if inner.is_data() || out_of_range {
            let message = inner.to_string();
            // "missing field `amt` at line 1 column 2": the field is in the message, not the path.
            let field = match message
                .split('`')
                .nth(1)
                .filter(|_| message.starts_with("missing field"))
            {
                Some(missing) if path == "." => missing.to_owned(),
                Some(missing) => format!("{path}.{missing}"),
                None => path,
            };
            let reason = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            ApiError::InvalidField { field, reason }
        } else {
            ApiError::MalformedJson {
                detail: inner.to_string(),
            }
        }
    })?;
    de.end().map_err(|e| ApiError::MalformedJson {
        detail: e.to_string(),
    })?;
    Ok(value)
}

/// Whether a request type is a JSON object (a transaction) or not (a batch array).
pub trait JsonShape {
    fn is_object() -> bool;
}

impl JsonShape for Transaction {
    fn is_object() -> bool {
        true
    }
}

impl<T> JsonShape for Vec<T> {
    fn is_object() -> bool {
        false
    }
}

/// The checks the model's inputs need (ranges, dates), with the field named; `prefix` places
/// the transaction in a batch. The index and label a client may send are ignored.
fn validated(mut txn: Transaction, prefix: &str) -> Result<Transaction, ApiError> {
    txn.index = None;
    txn.is_fraud = None;
    txn.validate().map_err(|e| ApiError::InvalidField {
        field: format!("{prefix}{}", e.field),
        reason: format!("{} ({})", e.reason, e.value),
    })?;
    Ok(txn)
}

async fn predict<C: CardStore, L: DecisionLog>(
    State(service): State<Service<C, L>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Prediction>, ApiError> {
    let txn = validated(read_json(&headers, body, PREDICT_BODY_LIMIT).await?, "")?;
    Ok(Json(service.score(&txn).await))
}

#[derive(Serialize)]
struct BatchResponse {
    results: Vec<Prediction>,
}

async fn predict_batch<C: CardStore, L: DecisionLog>(
    State(service): State<Service<C, L>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BatchResponse>, ApiError> {
    let transactions: Vec<Transaction> = read_json(&headers, body, BATCH_BODY_LIMIT).await?;
    if transactions.len() > MAX_BATCH {
        return Err(ApiError::BatchTooLarge {
            count: transactions.len(),
            max: MAX_BATCH,
        });
    }
    // Every transaction is checked before any is scored: a refused batch changes nothing.
    let transactions = transactions
        .into_iter()
        .enumerate()
        .map(|(i, t)| validated(t, &format!("[{i}].")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut results = Vec::with_capacity(transactions.len());
    for txn in &transactions {
        results.push(service.score(txn).await);
    }
    Ok(Json(BatchResponse { results }))
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    model_version: &'a str,
}

async fn health<C: CardStore, L: DecisionLog>(State(service): State<Service<C, L>>) -> Response {
    Json(Health {
        status: "ok",
        model_version: &service.model.artifact.model_version,
    })
    .into_response()
}

#[derive(Serialize)]
struct ModelInfo<'a> {
    model_version: &'a str,
    model_kind: &'a str,
    created_at: &'a str,
    feature_names: &'a [String],
    feature_hash: &'a str,
    threshold: f64,
    validation: &'a Metrics,
    checksum: &'a str,
    source: &'a str,
    crate_version: &'a str,
}

async fn model<C: CardStore, L: DecisionLog>(State(service): State<Service<C, L>>) -> Response {
    let m = &service.model;
    let a = &m.artifact;
    Json(ModelInfo {
        model_version: &a.model_version,
        model_kind: a.model.kind().as_str(),
        created_at: &a.created_at,
        feature_names: &a.feature_names,
        feature_hash: &a.feature_hash,
        threshold: a.threshold,
        validation: &a.validation,
        checksum: &m.checksum,
        source: &m.source,
        crate_version: env!("CARGO_PKG_VERSION"),
    })
    .into_response()
}

/// How many entries each list holds (the entries themselves are not served).
#[derive(Serialize)]
struct ListSizes {
    cards: usize,
    merchants: usize,
    categories: usize,
    states: usize,
    zips: usize,
}

impl From<&fraud_policy::ListEntries> for ListSizes {
    fn from(list: &fraud_policy::ListEntries) -> Self {
        ListSizes {
            cards: list.cards.len(),
            merchants: list.merchants.len(),
            categories: list.categories.len(),
            states: list.states.len(),
            zips: list.zips.len(),
        }
    }
}

#[derive(Serialize)]
struct PolicyInfo<'a> {
    version: &'a str,
    schema_version: u32,
    description: Option<&'a str>,
    thresholds: &'a fraud_policy::Thresholds,
    allow_list: ListSizes,
    block_list: ListSizes,
    rules: &'a [fraud_policy::RuleSpec],
    expected: Option<&'a fraud_policy::ExpectedFigures>,
    /// The model serving beside the policy.
    model_version: &'a str,
    /// Whether `expected` was measured on this model's scores (null without `expected`).
    fitted_for_this_model: Option<bool>,
}

/// The policy in force: its version, thresholds and rules, and the sizes of its lists.
async fn policy<C: CardStore, L: DecisionLog>(State(service): State<Service<C, L>>) -> Response {
    let document = service.policy().document();
    let model_version = &service.model.artifact.model_version;
    Json(PolicyInfo {
        version: &document.version,
        schema_version: document.schema_version,
        description: document.description.as_deref(),
        thresholds: &document.thresholds,
        allow_list: (&document.lists.allow).into(),
        block_list: (&document.lists.block).into(),
        rules: &document.rules,
        expected: document.expected.as_ref(),
        model_version,
        fitted_for_this_model: service.policy().fitted_for(model_version),
    })
    .into_response()
}
