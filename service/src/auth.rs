//! The API token of `fraud serve` beyond loopback: every route but `GET /health` then needs
//! `Authorization: Bearer <token>`. The comparison takes the same time whatever the guess (both
//! sides are hashed, then compared without an early exit), so the token cannot be found byte by
//! byte from response times. On AWS, API Gateway's authorizer does this job instead.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Shortest token accepted: 16 bytes, so it cannot be guessed over the network.
pub const MIN_TOKEN_LEN: usize = 16;

/// The API token was refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{source_name}: the API token has {len} bytes; at least {MIN_TOKEN_LEN} are needed")]
    TooShort { source_name: String, len: usize },
    #[error("{source_name}: {error}")]
    Unreadable {
        source_name: String,
        #[source]
        error: std::io::Error,
    },
}

/// A bearer token, kept as its SHA-256 only.
#[derive(Clone)]
pub struct ApiToken {
    digest: Arc<[u8; 32]>,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<secret>)")
    }
}

impl ApiToken {
    /// The token `text` (surrounding whitespace dropped), from `source_name` for messages.
    pub fn new(text: &str, source_name: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        if text.len() < MIN_TOKEN_LEN {
            return Err(TokenError::TooShort {
                source_name: source_name.to_owned(),
                len: text.len(),
            });
        }
        Ok(ApiToken {
            digest: Arc::new(Sha256::digest(text.as_bytes()).into()),
        })
    }

    /// The token in the file at `path` (one line).
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let source_name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| TokenError::Unreadable {
            source_name: source_name.clone(),
            error,
        })?;
        Self::new(&text, &source_name)
    }

    /// Whether `given` is the token, in time independent of where they differ.
    pub fn matches(&self, given: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        digest
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
    }
}

/// `router` with every route but `GET /health` behind `token`.
pub fn require_token(router: Router, token: ApiToken) -> Router {
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let token = token.clone();
        async move { check(&token, request, next).await }
    }))
}

async fn check(token: &ApiToken, request: Request, next: Next) -> Result<Response, ApiError> {
    if request.uri().path() == "/health" {
        return Ok(next.run(request).await);
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if token.matches(given.trim()) => Ok(next.run(request).await),
        Some(_) => Err(ApiError::Unauthorized {
            reason: "the bearer token is not this server's".into(),
        }),
        None => Err(ApiError::Unauthorized {
            reason: "no `Authorization: Bearer <token>` header".into(),
        }),
    }
}
