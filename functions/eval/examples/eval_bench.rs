//! Times the eval handler on one file, the way the Lambda runs it (stream, score with the
//! champion, write every output), over a local directory or over S3 (`--s3`: the bucket in
//! FRAUD_BUCKET, endpoint and credentials from the SDK's variables, e.g. a moto server).
//!
//!   cargo run --release -p eval --example eval_bench -- MODEL DATA [--s3]
//!
//! scripts/bench/eval.sh runs it both ways for BENCHMARKS.md.

use std::time::Instant;

use eval::{EvalRequest, ModelCache, Settings, evaluate_object};
use fraud_core::Artifact;
use fraud_core::ports::ObjectStore;
use fraud_core::registry::{model_key, promote};
use fraud_embedded::LocalObjectStore;

async fn run<S: ObjectStore>(store: &S, model: &[u8], version: &str, data: Vec<u8>, name: &str) {
    let started = Instant::now();
    store
        .put(&model_key(version), model.to_vec())
        .await
        .unwrap();
    let key = format!("eval/incoming/{name}");
    store.put(&key, data).await.unwrap();
    promote(store, version).await.unwrap();
    eprintln!(
        "setup (upload, promote): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let request: EvalRequest =
        serde_json::from_value(serde_json::json!({"eval_key": key, "force": true})).unwrap();
    let started = Instant::now();
    let e = evaluate_object(
        store,
        &ModelCache::default(),
        &Settings::default(),
        &request,
    )
    .await
    .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} rows ({} skipped) in {seconds:.2} s: {:.0} rows/s; AUC-PR {}; outputs {:?}",
        e.rows,
        e.skipped_rows,
        e.rows as f64 / seconds,
        e.auc_pr.map_or("-".into(), |a| format!("{a:.4}")),
        e.outputs.keys().collect::<Vec<_>>()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_path, data_path, rest @ ..] = args.as_slice() else {
        eprintln!("usage: eval_bench MODEL DATA [--s3]");
        std::process::exit(2);
    };
    let model = std::fs::read(model_path).unwrap();
    let version = Artifact::from_bytes(&model, model_path)
        .unwrap()
        .model_version;
    let data = std::fs::read(data_path).unwrap();
    let name = std::path::Path::new(data_path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    if rest.iter().any(|a| a == "--s3") {
        let bucket = std::env::var("FRAUD_BUCKET").expect("--s3 needs FRAUD_BUCKET");
        let client = fraud_aws::s3_client(&fraud_aws::sdk_config().await);
        let _ = client.create_bucket().bucket(&bucket).send().await;
        let store = fraud_aws::S3ObjectStore::new(client, bucket);
        run(&store, &model, &version, data, &name).await;
    } else {
        let dir = tempfile::tempdir().unwrap();
        run(
            &LocalObjectStore::new(dir.path()),
            &model,
            &version,
            data,
            &name,
        )
        .await;
    }
}
