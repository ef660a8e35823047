//! The whole serverless flow against the local stack of real servers (moto for S3 and
//! DynamoDB, a real `mlflow server`), through the functions' handlers with SAM-generated S3
//! events, as S3 notifications would drive them on AWS:
//!
//! training CSV -> `train` -> model and run record in S3 -> `mlflow-logger` -> an MLflow run
//! with metrics, the model artifact and a registered version aliased `challenger` ->
//! `fraud promote challenger` -> eval CSV -> `eval` -> predictions and metrics in S3 (and the
//! eval run in MLflow) -> `score` starts from its configuration, loads the champion from S3 and
//! answers `/predict` with card state and decision log in DynamoDB, its card-hash key read from
//! Secrets Manager by ARN. Then every S3 object it produced, every table item, the MLflow runs
//! and every log line are scanned for the card numbers of the input: none may appear.
//!
//! scripts/test.sh starts both servers, names them in FRAUD_TEST_MOTO_ENDPOINT and
//! FRAUD_TEST_MLFLOW_URI, and enables this feature. It lives in its own crate so that no
//! front end depends on another's crates to host it.
#![cfg(feature = "stack-tests")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::StatusCode;
use fraud_aws::{S3ObjectStore, dynamodb_client, s3_client, sdk_config};
use fraud_core::ports::ObjectStore;
use fraud_core::registry::CHAMPION_KEY;
use fraud_core::registry::ModelPointer;
use fraud_core::run::{RunKind, RunRecord};
use fraud_core::score::MetricsReport;
use fraud_sim::{SimConfig, generate_to_dir};
use fraud_testkit::moto::{create_table, point_sdk_at_moto};
use fraud_testkit::{CapturedLogs, unique_suffix};
use http_body_util::BodyExt;
use mlflow_logger::{Mlflow, Settings};
use tower::ServiceExt;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A committed SAM event (`sam local generate-event s3 put`) pointed at `bucket` and `key`.
fn s3_event(fixture: &str, bucket: &str, key: &str) -> serde_json::Value {
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo(fixture)).unwrap()).unwrap();
    let s3 = &mut event["Records"][0]["s3"];
    s3["bucket"]["name"] = bucket.into();
    s3["bucket"]["arn"] = format!("arn:aws:s3:::{bucket}").into();
    s3["object"]["key"] = key.into();
    event
}

/// An artifact of a logged run, as the tracking server gives it back.
async fn artifact(mlflow: &Mlflow, run: &mlflow_logger::Logged, path: &str) -> Vec<u8> {
    mlflow
        .download(&run.experiment_id, &run.run_id, path)
        .await
        .unwrap()
}

/// Every card number of the CSV files in `dir`, as text.
fn card_numbers(dir: &Path) -> std::collections::BTreeSet<String> {
    let mut numbers = std::collections::BTreeSet::new();
    for file in ["fraudTrain.csv", "fraudTest.csv"] {
        let reader =
            fraud_core::TransactionReader::open(&dir.join(file), fraud_core::ReadMode::Strict)
                .unwrap();
        numbers.extend(reader.map(|row| row.unwrap().cc_num.to_string()));
    }
    numbers
}

/// Fails naming `what` when `bytes` hold any of `numbers`.
fn assert_no_card_number(what: &str, bytes: &[u8], numbers: &std::collections::BTreeSet<String>) {
    let text = String::from_utf8_lossy(bytes);
    if let Some(found) = numbers.iter().find(|n| text.contains(n.as_str())) {
        panic!("{what} holds the card number {found}");
    }
}

fn metric(run: &serde_json::Value, name: &str) -> Option<f64> {
    run["run"]["data"]["metrics"]
        .as_array()?
        .iter()
        .find(|m| m["key"] == name)
        .and_then(|m| m["value"].as_f64())
}

#[tokio::test]
async fn training_logging_promotion_evaluation_and_scoring_through_the_local_stack() {
    let mlflow_uri = std::env::var("FRAUD_TEST_MLFLOW_URI")
        .expect("FRAUD_TEST_MLFLOW_URI names the MLflow server (scripts/test.sh starts one)");
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with_writer(move || writer.clone())
        .init();
    point_sdk_at_moto();
    let n = unique_suffix();
    let bucket = format!("fraud-e2e-{n}");
    let (cards_table, decisions_table) = (format!("cards-{n}"), format!("decisions-{n}"));
    let config = sdk_config().await;
    let s3 = s3_client(&config);
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let ddb = dynamodb_client(&config);
    create_table(&ddb, &cards_table, "card").await;
    create_table(&ddb, &decisions_table, "trans_num").await;
    let store = Arc::new(S3ObjectStore::new(s3.clone(), bucket.clone()));

    // Simulated customers: a training file and a later, labelled evaluation file.
    let data = tempfile::tempdir().unwrap();
    generate_to_dir(
        &SimConfig {
            customers: 50,
            seed: 11,
            ..SimConfig::default()
        },
        data.path(),
        &|_, _| {},
    )
    .unwrap();
    let train_bytes = std::fs::read(data.path().join("fraudTrain.csv")).unwrap();
    store
        .put("training/fraudTrain.csv", train_bytes)
        .await
        .unwrap();

    // 1. The CSV lands under training/: the train function makes a model and a run record.
    let trained = train::invoke(
        store.clone(),
        s3_event(
            "functions/train/tests/fixtures/s3_put_training.json",
            &bucket,
            "training/fraudTrain.csv",
        ),
    )
    .await
    .unwrap();
    let trained: Vec<train::Trained> = serde_json::from_value(trained).unwrap();
    let version = trained[0].model_version.clone();
    let model_bytes = store.get(&trained[0].model_key).await.unwrap();
    let record: RunRecord =
        serde_json::from_slice(&store.get(&trained[0].run_key).await.unwrap()).unwrap();
    assert_eq!(
        (record.kind, record.model_version.as_str()),
        (RunKind::Train, version.as_str())
    );
    assert!(
        record.data_etag.as_deref().is_some_and(|e| !e.is_empty()),
        "the S3 ETag of the data read is recorded: {record:?}"
    );

    // 2. The run record lands under runs/: the logger publishes it to MLflow.
    let mlflow = Mlflow::new(&mlflow_uri).unwrap();
    let settings = Settings {
        experiment: format!("fraud-e2e-{n}"),
        registered_model: format!("fraud-detector-e2e-{n}"),
    };
    let run_event = |key: &str| {
        s3_event(
            "functions/mlflow-logger/tests/fixtures/s3_put_run.json",
            &bucket,
            key,
        )
    };
    let logged = mlflow_logger::handle(
        store.as_ref(),
        &mlflow,
        &settings,
        run_event(&trained[0].run_key),
    )
    .await
    .unwrap();
    let run = mlflow.run(&logged[0].run_id).await.unwrap();
    assert_eq!(run["run"]["info"]["status"], "FINISHED");
    assert_eq!(
        metric(&run, "validation_auc_pr"),
        Some(record.metrics["validation_auc_pr"])
    );
    assert_eq!(
        artifact(&mlflow, &logged[0], "model/model.bin").await,
        model_bytes,
        "the model artifact in MLflow is the one in S3"
    );
    let registered = logged[0]
        .model_version
        .clone()
        .expect("a registered version");
    assert_eq!(
        mlflow
            .alias(&settings.registered_model, "challenger")
            .await
            .unwrap(),
        Some(registered)
    );

    // 3. A person promotes the challenger with the CLI, configured like the functions (the
    //    AWS settings for moto are inherited from this process).
    let out = std::process::Command::new(fraud_e2e::fraud_binary())
        .args(["promote", "challenger"])
        .env("FRAUD_BUCKET", &bucket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fraud promote: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let champion: ModelPointer =
        serde_json::from_slice(&store.get(CHAMPION_KEY).await.unwrap()).unwrap();
    assert_eq!(champion.version, version);

    // 4. A labelled CSV lands under eval/incoming/: predictions and metrics land in S3.
    let test_bytes = std::fs::read(data.path().join("fraudTest.csv")).unwrap();
    let test_rows = test_bytes.iter().filter(|&&b| b == b'\n').count() - 1;
    store
        .put("eval/incoming/fraudTest.csv", test_bytes)
        .await
        .unwrap();
    let evaluated = eval::handle(
        store.as_ref(),
        &eval::ModelCache::default(),
        &eval::Settings::default(),
        s3_event(
            "functions/eval/tests/fixtures/s3_put_eval.json",
            &bucket,
            "eval/incoming/fraudTest.csv",
        ),
    )
    .await
    .unwrap();
    let e = &evaluated[0];
    assert_eq!(
        (e.model_version.as_str(), e.rows),
        (version.as_str(), test_rows as u64)
    );
    let predictions = store
        .get("eval/results/fraudTest/predictions.csv")
        .await
        .unwrap();
    assert_eq!(
        predictions.iter().filter(|&&b| b == b'\n').count(),
        test_rows + 1
    );
    let metrics: MetricsReport = serde_json::from_slice(
        &store
            .get("eval/results/fraudTest/metrics.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(Some(metrics.metrics.auc_pr), e.auc_pr);
    assert!(metrics.metrics.auc_pr > 0.5, "{metrics:?}");
    // The eval run is published too, without registering a model.
    let logged_eval =
        mlflow_logger::handle(store.as_ref(), &mlflow, &settings, run_event(&e.run_key))
            .await
            .unwrap();
    assert_eq!(logged_eval[0].model_version, None);
    let eval_run = mlflow.run(&logged_eval[0].run_id).await.unwrap();
    assert_eq!(metric(&eval_run, "eval_auc_pr"), e.auc_pr);
    // The monitoring report travels with it as an artifact, byte for byte.
    assert_eq!(
        artifact(&mlflow, &logged_eval[0], "report/report.html").await,
        store.get(&e.outputs["report"]).await.unwrap()
    );

    // 5. The scoring function starts as on Lambda: configuration from variables, the champion
    //    from S3, the card-hash key from Secrets Manager by ARN, card state and decisions in
    //    DynamoDB; it answers an API Gateway event.
    let secret_arn = aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(format!("card-hash-{n}"))
        .secret_string("e2e-secret-0123456789abcdef")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let vars: HashMap<String, String> = [
        ("FRAUD_BUCKET", bucket.as_str()),
        ("MODEL_KEY", CHAMPION_KEY),
        ("CARD_STATE_TABLE", cards_table.as_str()),
        ("DECISION_LOG_TABLE", decisions_table.as_str()),
        ("CARD_HASH_SECRET_ARN", secret_arn.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let app = fraud_service::app::build(&score::settings::from_vars(&vars).unwrap(), None)
        .await
        .unwrap();
    let request = lambda_http::request::from_str(
        &std::fs::read_to_string(repo("functions/score/tests/fixtures/apigw_v2_predict.json"))
            .unwrap(),
    )
    .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model_version"], version.as_str());
    assert_eq!(body["card_history_used"], true, "{body}");
    let decisions = ddb
        .scan()
        .table_name(&decisions_table)
        .send()
        .await
        .unwrap();
    assert_eq!(decisions.count(), 1);
    let cards = ddb.scan().table_name(&cards_table).send().await.unwrap();
    assert_eq!(cards.count(), 1);
    // 6. No card number anywhere: not in any object the functions wrote (the input files
    //    under training/ and eval/incoming/ are the only ones holding them), any table item,
    //    the MLflow runs, or any log line.
    let mut numbers = card_numbers(data.path());
    numbers.insert("2242542703101233".into()); // the API Gateway fixture's card
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let mut scanned = 0;
    for key in listed.contents().iter().filter_map(|o| o.key()) {
        if key.starts_with("training/") || key.starts_with("eval/incoming/") {
            continue;
        }
        assert_no_card_number(
            &format!("s3://{bucket}/{key}"),
            &store.get(key).await.unwrap(),
            &numbers,
        );
        scanned += 1;
    }
    assert!(
        scanned >= 6,
        "models, runs, predictions, metrics, report, champion: {scanned}"
    );
    let items = format!("{:?}{:?}", cards.items(), decisions.items());
    assert_no_card_number("the DynamoDB items", items.as_bytes(), &numbers);
    for logged in [&logged[0], &logged_eval[0]] {
        let run = mlflow.run(&logged.run_id).await.unwrap();
        assert_no_card_number(
            &format!("MLflow run {}", logged.run_id),
            run.to_string().as_bytes(),
            &numbers,
        );
    }
    let lines = logs.text().into_bytes();
    assert!(!lines.is_empty(), "the functions logged something");
    assert_no_card_number("the log lines", &lines, &numbers);
}
