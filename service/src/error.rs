//! The scoring service's errors, and the ONE place where a request error becomes an HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A request the service refuses. Every variant is the client's fault: the service answers
/// 4xx with `{"error": ..., "field": ...}` and touches no card state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("malformed JSON: {detail}")]
    MalformedJson { detail: String },
    #[error("field `{field}`: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("content type must be application/json, got {found:?}")]
    UnsupportedMediaType { found: String },
    #[error("request body is over the {limit}-byte limit")]
    BodyTooLarge { limit: usize },
    #[error("a batch holds at most {max} transactions, got {count}")]
    BatchTooLarge { count: usize, max: usize },
    #[error("no route {method} {path}")]
    NotFound { method: String, path: String },
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("unauthorized: {reason}")]
    Unauthorized { reason: String },
}

impl ApiError {
    /// The status of each kind of refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson { .. } => StatusCode::BAD_REQUEST,
            ApiError::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTooLarge { .. } | ApiError::BatchTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::InvalidField { field, .. } => Some(field),
            ApiError::Unauthorized { .. } => Some("Authorization"),
            _ => None,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: String,
    pub field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.to_string(),
            field: self.field(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized { .. }) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Why the service could not start: the process stops, there is never a half-loaded model.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("the card-hash secret: {0}")]
    Secret(#[from] fraud_core::card_key::SecretTooShort),
    #[error(transparent)]
    Model(#[from] fraud_core::registry::ModelLoadError),
    #[error(transparent)]
    Policy(#[from] fraud_policy::PolicyError),
    #[error("{0}")]
    Store(#[from] fraud_core::ports::StoreError),
}
