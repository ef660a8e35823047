//! Property test: whatever body arrives, `/predict` answers 200 with a valid prediction or 4xx
//! with a JSON error; never a 5xx, never a panic.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use fraud_core::card_key::CardHasher;
use fraud_embedded::{LocalCardStore, LocalObjectStore, MemoryDecisionLog};
use fraud_service::model::load_model;
use fraud_service::{ScoreService, router};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const GOOD: &str = r#"{"trans_date_trans_time":"2020-06-21 12:14:25","cc_num":2291163933867244,"merchant":"fraud_Kirlin and Sons","category":"personal_care","amt":2.86,"first":"Jeff","last":"Elliott","gender":"M","street":"351 Darlene Green","city":"Columbia","state":"SC","zip":29209,"lat":33.9659,"long":-80.9355,"city_pop":333497,"job":"Mechanical engineer","dob":"1968-03-19","trans_num":"2da90c7d74bd46a0caf3777415b3ebd3","unix_time":1371816865,"merch_lat":33.986391,"merch_long":-81.200714}"#;

fn app() -> (tokio::runtime::Runtime, axum::Router) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/golden");
    let model = rt
        .block_on(load_model(&LocalObjectStore::new(golden), "model.bin"))
        .unwrap();
    let service = ScoreService::new(
        model,
        LocalCardStore::in_memory(),
        MemoryDecisionLog::default(),
        CardHasher::new(b"proptest-secret-0123456789").unwrap(),
        Duration::from_millis(50),
    );
    (rt, router(Arc::new(service)))
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::hash_map("[a-z_]{1,8}", inner, 0..4).prop_map(|m| json!(m)),
        ]
    })
}

fn status_and_body(
    rt: &tokio::runtime::Runtime,
    app: &axum::Router,
    body: Vec<u8>,
) -> (u16, Value) {
    rt.block_on(async {
        let request = Request::post("/predict")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).expect("every answer is JSON"),
        )
    })
}

fn check(status: u16, body: &Value) -> Result<(), TestCaseError> {
    prop_assert!(
        status == 200 || (400..500).contains(&status),
        "status {}: {}",
        status,
        body
    );
    if status == 200 {
        let p = body["fraud_probability"].as_f64().unwrap();
        prop_assert!((0.0..=1.0).contains(&p));
    } else {
        prop_assert!(body["error"].is_string());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_field_replaced_by_anything(field in 0usize..21, value in any_json()) {
        let (rt, app) = app();
        let mut body: Value = serde_json::from_str(GOOD).unwrap();
        let key = body.as_object().unwrap().keys().nth(field).unwrap().clone();
        body[&key] = value;
        let (status, answer) = status_and_body(&rt, &app, body.to_string().into_bytes());
        check(status, &answer)?;
    }

    #[test]
    fn fields_dropped(mask in any::<u32>()) {
        let (rt, app) = app();
        let mut body: Value = serde_json::from_str(GOOD).unwrap();
        let keys: Vec<String> = body.as_object().unwrap().keys().cloned().collect();
        for (i, k) in keys.iter().enumerate() {
            if mask & (1 << i) != 0 {
                body.as_object_mut().unwrap().remove(k);
            }
        }
        let (status, answer) = status_and_body(&rt, &app, body.to_string().into_bytes());
        check(status, &answer)?;
        prop_assert_eq!(status == 200, mask & ((1 << 21) - 1) == 0);
    }

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let (rt, app) = app();
        let (status, answer) = status_and_body(&rt, &app, bytes);
        check(status, &answer)?;
    }
}
