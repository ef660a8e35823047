//! The API token: with one set, every route but `GET /health` answers 401 (JSON body naming the
//! `Authorization` header) without it or with another token, and serves as usual with it; a
//! token too short or unreadable is refused at start-up, naming where it came from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fraud_core::card_key::CardHasher;
use fraud_embedded::{LocalCardStore, LocalObjectStore, MemoryDecisionLog};
use fraud_service::auth::{ApiToken, TokenError, require_token};
use fraud_service::model::load_model;
use fraud_service::{ScoreService, router};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789abcdef";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

async fn app() -> axum::Router {
    let store = LocalObjectStore::new(repo("tests/fixtures/golden"));
    let service = ScoreService::new(
        load_model(&store, "model.bin").await.unwrap(),
        LocalCardStore::in_memory(),
        MemoryDecisionLog::default(),
        CardHasher::new(b"auth-secret-0123456789").unwrap(),
        Duration::from_millis(50),
    );
    let token = ApiToken::new(TOKEN, "test").unwrap();
    require_token(router(Arc::new(service)), token)
}

/// (status, JSON body) of `method path` with `authorization` when given.
async fn call(method: &str, path: &str, authorization: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let body = if method == "POST" {
        serde_json::json!({"trans_num": "t1", "cc_num": 4_000_000_000_000_001u64, "amt": 12.5, "category": "grocery_pos", "unix_time": 1_371_816_865})
            .to_string()
    } else {
        String::new()
    };
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app().await.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn scoring_routes_need_the_token_and_health_does_not() {
    for (method, path) in [
        ("POST", "/predict"),
        ("POST", "/predict/batch"),
        ("GET", "/model"),
    ] {
        let (status, body) = call(method, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        assert_eq!(body["field"], "Authorization", "{body}");
        let (status, body) = call(method, path, Some("Bearer another-token-0123456789")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("not this server's"),
            "{body}"
        );
        let (status, _) = call(method, path, Some(TOKEN)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "a token without `Bearer `"
        );
    }
    let (status, _) = call("GET", "/health", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call("GET", "/model", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_right_token_scores_as_without_one() {
    let (status, body) = call("POST", "/predict", Some(&format!("Bearer {TOKEN}"))).await;
    // The body above is incomplete on purpose: the request reaches validation, past the token.
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_ne!(body["field"], "Authorization", "{body}");
}

#[test]
fn a_short_or_unreadable_token_is_refused_naming_its_source() {
    let err = ApiToken::new("short\n", "FRAUD_API_TOKEN").unwrap_err();
    assert!(matches!(err, TokenError::TooShort { len: 5, .. }), "{err}");
    assert!(err.to_string().starts_with("FRAUD_API_TOKEN: "), "{err}");
    let missing = repo("no-such-token-file");
    let err = ApiToken::from_file(&missing).unwrap_err();
    assert!(err.to_string().contains("no-such-token-file"), "{err}");
    let token = ApiToken::new(&format!("  {TOKEN}\n"), "test").unwrap();
    assert!(token.matches(TOKEN) && !token.matches("test-token-0123456789abcdeX"));
}
