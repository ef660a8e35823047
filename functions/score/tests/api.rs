//! The scoring API offline: real API Gateway HTTP API (v2) events through `lambda_http`, the
//! same Router as on Lambda, embedded adapters; every bad input answered 4xx with a JSON body
//! naming the field, and the card state untouched by a refused request.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use fraud_core::card_key::CardHasher;
use fraud_core::ports::CardStore;
use fraud_core::reader::read_all;
use fraud_core::{ReadMode, Transaction};
use fraud_embedded::{LocalCardStore, LocalObjectStore, MemoryDecisionLog};
use fraud_service::model::load_model;
use fraud_service::{ScoreService, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"test-secret-0123456789";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

type Service = ScoreService<LocalCardStore, MemoryDecisionLog>;

async fn service() -> Arc<Service> {
    service_with(LocalCardStore::in_memory()).await
}

async fn service_with<C: CardStore>(cards: C) -> Arc<ScoreService<C, MemoryDecisionLog>> {
    Arc::new(new_service(cards).await)
}

/// The golden model with `cards`, an in-memory decision log and a 50 ms store budget.
async fn new_service<C: CardStore>(cards: C) -> ScoreService<C, MemoryDecisionLog> {
    let model = load_model(
        &LocalObjectStore::new(repo("tests/fixtures/golden")),
        "model.bin",
    )
    .await
    .unwrap();
    ScoreService::new(
        model,
        cards,
        MemoryDecisionLog::default(),
        CardHasher::new(SECRET).unwrap(),
        Duration::from_millis(50),
    )
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

async fn send_event(app: &Router, fixture: &str) -> (StatusCode, Value) {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture),
    )
    .unwrap();
    let request = lambda_http::request::from_str(&text).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn post(path: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

fn test_rows() -> Vec<Transaction> {
    read_all(
        &repo("tests/fixtures/kaggle/kaggle_test_sample.csv"),
        ReadMode::Strict,
    )
    .unwrap()
    .0
}

fn body_of(txn: &Transaction) -> Value {
    serde_json::to_value(txn).unwrap()
}

#[tokio::test]
async fn a_real_api_gateway_event_is_scored() {
    let service = service().await;
    let app = router(service.clone());
    let (status, body) = send_event(&app, "apigw_v2_predict.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let row = &test_rows()[0];
    assert_eq!(body["trans_num"], row.trans_num.as_str());
    assert_eq!(
        body["model_version"],
        service.model.artifact.model_version.as_str()
    );
    assert!(body["prediction"] == 0 || body["prediction"] == 1);
    let p = body["fraud_probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(
        body["decision"],
        if body["prediction"] == 1 {
            "deny"
        } else {
            "approve"
        }
    );
    assert_eq!(body["card_history_used"], true);
    let reasons = body["reasons"].as_array().unwrap();
    assert!(reasons.len() <= 3);
    for r in reasons {
        assert!(
            r["feature"].is_string() && r["contribution"].as_f64().unwrap() > 0.0,
            "{r}"
        );
    }
    // The decision is logged with the card's keyed hash, never its number.
    let log = service.log().records.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].trans_num, row.trans_num);
    assert!(
        !serde_json::to_string(&*log)
            .unwrap()
            .contains(&row.cc_num.to_string())
    );
}

#[tokio::test]
async fn api_gateway_batch_health_and_bad_events() {
    let app = router(service().await);
    let (status, body) = send_event(&app, "apigw_v2_predict_batch.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = test_rows();
    let results = body["results"].as_array().unwrap();
    let order: Vec<&str> = results
        .iter()
        .map(|r| r["trans_num"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        rows[1..4]
            .iter()
            .map(|t| t.trans_num.as_str())
            .collect::<Vec<_>>()
    );

    let (status, body) = send_event(&app, "apigw_v2_health.json").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );

    // sam's generated event carries no content type.
    let (status, body) = send_event(&app, "apigw_v2_predict_no_content_type.json").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(body["error"].as_str().unwrap().contains("application/json"));

    let (status, body) = send_event(&app, "apigw_v2_predict_malformed.json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON")
    );
}

#[tokio::test]
async fn a_retried_transaction_neither_counts_twice_nor_changes_its_answer() {
    let service = service().await;
    let app = router(service.clone());
    let rows = test_rows();
    let first = send(&app, post("/predict", body_of(&rows[0]).to_string()))
        .await
        .1;
    let retry = send(&app, post("/predict", body_of(&rows[0]).to_string()))
        .await
        .1;
    assert_eq!(first, retry);
    let card = CardHasher::new(SECRET).unwrap().key(rows[0].cc_num);
    assert_eq!(
        service
            .cards()
            .record(&card)
            .unwrap()
            .unwrap()
            .state
            .count(),
        1
    );
}

#[tokio::test]
async fn model_and_routes_are_described() {
    let service = service().await;
    let app = router(service.clone());
    let (status, body) = send(&app, Request::get("/model").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["model_version"],
        service.model.artifact.model_version.as_str()
    );
    assert_eq!(
        body["feature_names"].as_array().unwrap().len(),
        fraud_core::N_FEATURES
    );
    assert_eq!(body["checksum"].as_str().unwrap().len(), 64);
    for key in ["threshold", "validation", "created_at", "feature_hash"] {
        assert!(body.get(key).is_some(), "{key}");
    }
    let (status, body) = send(&app, Request::get("/nowhere").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("/nowhere"));
    let (status, _) = send(&app, Request::get("/predict").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

/// Every refused body: the status, the field named, and no card state created.
#[tokio::test]
async fn bad_inputs_get_4xx_naming_the_field_and_touch_no_state() {
    let service = service().await;
    let app = router(service.clone());
    let good = body_of(&test_rows()[0]);
    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        b[field] = value;
        b.to_string()
    };
    let without = |field: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(field);
        b.to_string()
    };
    let cases: Vec<(String, StatusCode, Option<&str>)> = vec![
        ("{\"amt\": ".into(), StatusCode::BAD_REQUEST, None),
        ("[1, 2".into(), StatusCode::BAD_REQUEST, None),
        ("".into(), StatusCode::BAD_REQUEST, None),
        (format!("{good} trailing"), StatusCode::BAD_REQUEST, None),
        (
            without("amt"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("amt"),
        ),
        (
            without("cc_num"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("cc_num"),
        ),
        (
            with("amt", json!("12.5")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("amt"),
        ),
        (
            with("amt", json!(-3.0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("amt"),
        ),
        (
            with("amt", json!(1e12)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("amt"),
        ),
        (
            good.to_string()
                .replace("\"amt\":", "\"amt\": 1e999, \"x\":"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("amt"),
        ),
        (
            good.to_string().replace("\"lat\":", "\"lat\": NaN, \"y\":"),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            with("lat", json!(91.0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("lat"),
        ),
        (
            with("long", json!(-200.0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("long"),
        ),
        (
            with("merch_lat", json!(-90.5)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("merch_lat"),
        ),
        (
            with("dob", json!("1990-02-30")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("dob"),
        ),
        (
            with("dob", json!("2099-01-01")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("dob"),
        ),
        (
            with("trans_date_trans_time", json!("2020-13-01 00:00:00")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("trans_date_trans_time"),
        ),
        (
            with("unix_time", json!(-1)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("unix_time"),
        ),
        (
            with("unix_time", json!("soon")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("unix_time"),
        ),
        (
            with("category", json!("casino")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("category"),
        ),
        (
            with("gender", json!("X")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("gender"),
        ),
        (
            with("cc_num", json!(12)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("cc_num"),
        ),
        (
            with("cc_num", json!(-5)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("cc_num"),
        ),
        (
            with("zip", json!(1.5)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("zip"),
        ),
        (
            with("city_pop", json!(null)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("city_pop"),
        ),
        (
            with("trans_num", json!("")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("trans_num"),
        ),
        (
            with("merchant", json!(["a"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("merchant"),
        ),
        (
            json!([good.clone()]).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("."),
        ),
        (
            format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024)),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
    ];
    for (body, status, field) in cases {
        let (got, answer) = send(&app, post("/predict", body.clone())).await;
        let shown = &body[..body.len().min(80)];
        assert_eq!(got, status, "{shown}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
        if let Some(field) = field {
            assert_eq!(answer["field"], field, "{shown}: {answer}");
        }
    }
    // Wrong content types.
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let mut request = Request::post("/predict");
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        let (status, _) = send(&app, request.body(Body::from(good.to_string())).unwrap()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
    }
    let (status, _) = send(
        &app,
        Request::post("/predict")
            .header("content-type", "application/json; charset=utf-8")
            .body(Body::from(good.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "parameters on the media type are fine"
    );
    assert_eq!(
        service.cards().count().unwrap(),
        1,
        "only the accepted request touched card state"
    );
}

#[tokio::test]
async fn a_bad_batch_is_refused_whole() {
    let service = service().await;
    let app = router(service.clone());
    let rows = test_rows();
    let mut batch: Vec<Value> = rows[..5].iter().map(body_of).collect();
    batch[3]["amt"] = json!("lots");
    let (status, body) = send(
        &app,
        post("/predict/batch", Value::from(batch.clone()).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "[3].amt");
    batch[3]["amt"] = json!(2e7);
    let (status, body) = send(&app, post("/predict/batch", Value::from(batch).to_string())).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("[3].amt"))
    );
    assert!(
        service.cards().count().unwrap() == 0,
        "nothing of a refused batch was scored"
    );

    let big: Vec<Value> = (0..1001).map(|i| body_of(&rows[i % rows.len()])).collect();
    let (status, body) = send(&app, post("/predict/batch", Value::from(big).to_string())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body["error"].as_str().unwrap().contains("1000"), "{body}");
    assert_eq!(service.cards().count().unwrap(), 0);
}

/// A store that never answers in time: the transaction is still scored, without history.
struct StuckStore;

impl CardStore for StuckStore {
    async fn apply(
        &self,
        _: &fraud_core::card_key::CardKey,
        _: &str,
        _: &(dyn Fn(&mut fraud_core::features::CardState) -> Vec<u8> + Sync),
    ) -> Result<fraud_core::ports::Applied, fraud_core::ports::StoreError> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        unreachable!("the budget ends first")
    }
}

/// A store that fails.
struct BrokenStore;

impl CardStore for BrokenStore {
    async fn apply(
        &self,
        _: &fraud_core::card_key::CardKey,
        _: &str,
        _: &(dyn Fn(&mut fraud_core::features::CardState) -> Vec<u8> + Sync),
    ) -> Result<fraud_core::ports::Applied, fraud_core::ports::StoreError> {
        Err(fraud_core::ports::StoreError::Failed {
            what: "cards".into(),
            reason: "throttled".into(),
        })
    }
}

#[tokio::test]
async fn a_slow_or_failing_store_degrades_to_stateless_scoring_not_a_5xx() {
    let row = body_of(&test_rows()[0]).to_string();
    let slow = router(service_with(StuckStore).await);
    let (status, body) = send(&slow, post("/predict", row.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["card_history_used"], false);
    let broken = router(service_with(BrokenStore).await);
    let (status, body) = send(&broken, post("/predict", row)).await;
    assert_eq!(
        (status, &body["card_history_used"]),
        (StatusCode::OK, &json!(false))
    );
}

/// A store in this process whose write fails after the transaction was scored (a disk failing
/// under its journal). The scored answer is dropped: nothing is logged before the card's change
/// is durable.
struct FailsAfterScoring;

impl CardStore for FailsAfterScoring {
    async fn apply(
        &self,
        _: &fraud_core::card_key::CardKey,
        _: &str,
        score: &(dyn Fn(&mut fraud_core::features::CardState) -> Vec<u8> + Sync),
    ) -> Result<fraud_core::ports::Applied, fraud_core::ports::StoreError> {
        score(&mut fraud_core::features::CardState::default());
        tokio::task::yield_now().await;
        Err(fraud_core::ports::StoreError::Failed {
            what: "cards.db".into(),
            reason: "no space left on device".into(),
        })
    }

    fn in_process(&self) -> bool {
        true
    }
}

#[tokio::test]
async fn the_logged_decision_is_the_answered_one_even_when_the_card_write_fails_after_it() {
    let rows = test_rows();
    let service = service_with(FailsAfterScoring).await;
    let app = router(service.clone());
    let mut answered = Vec::new();
    for row in &rows[..3] {
        let (status, body) = send(&app, post("/predict", body_of(row).to_string())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["card_history_used"], false,
            "scored again without history, as for any store failure"
        );
        answered.push((
            body["trans_num"].as_str().unwrap().to_owned(),
            body["fraud_probability"].as_f64().unwrap(),
            body["decision"].as_str().unwrap().to_owned(),
        ));
    }
    let logged: Vec<_> = service
        .log()
        .records
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            let decision = serde_json::to_value(r.decision).unwrap();
            (
                r.trans_num.clone(),
                r.probability,
                decision.as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(logged, answered, "one decision each, the one answered");
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes() {
    let doc: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = fraud_service::api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routes.sort();
    assert_eq!(documented, routes);
    // And each documented route is served (not a 404 or 405).
    let app = router(service().await);
    for (method, path) in &routes {
        let request = Request::builder()
            .method(method.as_str())
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let (status, _) = send(&app, request).await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status}"
        );
    }
}

#[tokio::test]
async fn every_decision_emits_one_cloudwatch_emf_line_and_a_retry_none() {
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let service = new_service(LocalCardStore::in_memory())
        .await
        .with_decision_sink(Some(score::emf_sink(move |line: &str| {
            sink.lock().unwrap().push(line.to_owned())
        })));
    let app = router(Arc::new(service));
    let (status, body) = send_event(&app, "apigw_v2_predict.json").await;
    assert_eq!(status, StatusCode::OK);
    // A retry is answered from the card's record: not a second decision.
    let (status, again) = send_event(&app, "apigw_v2_predict.json").await;
    assert_eq!((status, &again), (StatusCode::OK, &body));
    // A refused request is not a decision.
    let (status, _) = send(&app, post("/predict", "{")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 1);
    let emf: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(emf["Service"], "score");
    assert_eq!(
        (emf["Requests"].as_f64(), emf["Denied"].as_f64()),
        (Some(1.0), body["prediction"].as_f64())
    );
    assert_eq!(emf["FraudProbability"], body["fraud_probability"]);
    assert!(emf["LatencyMs"].as_f64().unwrap() >= 0.0);
    let directives = emf["_aws"]["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(
        directives[1]["Dimensions"],
        json!([["Service", "ProbabilityBucket"]])
    );
    assert!(
        !lines[0].contains(&test_rows()[0].cc_num.to_string()),
        "no card number in logs"
    );
}
