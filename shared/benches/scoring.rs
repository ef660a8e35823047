//! Criterion benchmarks of the scoring hot path: features, one prediction, a batch, model load.
//!
//! `FRAUD_BENCH_MODEL=path/to/model.bin` benchmarks a real model (BENCHMARKS.md uses one trained
//! on the full sparkov train set); without it, a model of the default size is trained on the
//! committed Kaggle sample, whose trees are smaller. Features run through the model's first
//! stage (each transaction's remembered risk), as in the service.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use fraud_core::features::{CardState, observe};
use fraud_core::reader::read_all;
use fraud_core::train::{TrainConfig, load_training_data, train};
use fraud_core::{Artifact, FeatureBuilder, FeatureInput, FeatureVector, ReadMode, Transaction};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/kaggle/kaggle_train_sample.csv")
}

fn model_bytes() -> Vec<u8> {
    match std::env::var_os("FRAUD_BENCH_MODEL") {
        Some(path) => std::fs::read(path).expect("FRAUD_BENCH_MODEL is readable"),
        None => {
            let data = load_training_data(&fixture(), ReadMode::Strict, &|_| {}).unwrap();
            let outcome = train(&data, &TrainConfig::default(), &|_, _, _| {}).unwrap();
            outcome.artifact.to_bytes().unwrap()
        }
    }
}

fn rows() -> Vec<Transaction> {
    read_all(&fixture(), ReadMode::Strict).unwrap().0
}

fn benches(c: &mut Criterion) {
    let bytes = model_bytes();
    let artifact = Artifact::from_bytes(&bytes, "bench").unwrap();
    let rows = rows();
    let risk = &artifact.card_risk;
    let mut builder = FeatureBuilder::with_risk(risk);
    let features: Vec<FeatureVector> = rows
        .iter()
        .map(|t| builder.next(&FeatureInput::from_transaction(t)))
        .collect();
    println!(
        "model {} ({} trees, {} nodes, {} bytes)",
        artifact.model_version,
        match &artifact.model {
            fraud_core::Model::Gbdt(m) => m.trees.n_trees(),
            _ => 0,
        },
        match &artifact.model {
            fraud_core::Model::Gbdt(m) => m.trees.nodes.len(),
            _ => 0,
        },
        bytes.len()
    );

    c.bench_function("features: one transaction through the batch builder", |b| {
        // Replays the rows again and again, moved forward by their span each time, so time only
        // moves forward as in real traffic (a verbatim replay would make every row late).
        let span = rows.last().unwrap().unix_time - rows[0].unix_time + 86_400;
        let (mut i, mut shift) = (0, 0);
        let mut builder = FeatureBuilder::with_risk(risk);
        b.iter(|| {
            i += 1;
            if i == rows.len() {
                (i, shift) = (0, shift + span);
            }
            let mut input = FeatureInput::from_transaction(&rows[i]);
            input.event.unix_time += shift;
            black_box(builder.next(&input))
        })
    });

    c.bench_function(
        "features: online card state, load + observe + store (JSON)",
        |b| {
            let mut card = CardState::default();
            for t in &rows[..20] {
                observe(&mut card, &FeatureInput::from_transaction(t), risk);
            }
            let stored = serde_json::to_string(&card).unwrap();
            let input = FeatureInput::from_transaction(&rows[21]);
            b.iter(|| {
                let mut card: CardState = serde_json::from_str(black_box(&stored)).unwrap();
                let x = observe(&mut card, &input, risk);
                black_box((x, serde_json::to_string(&card).unwrap()))
            })
        },
    );

    // The in-process work of one online decision: the card's features, the model, and the
    // per-feature contributions the reasons come from.
    let inputs: Vec<FeatureInput> = rows.iter().map(FeatureInput::from_transaction).collect();
    let span = rows.last().unwrap().unix_time - rows[0].unix_time + 86_400;
    // Each card keeps its own state, as in the service (the fixture holds 29 cards).
    let one_decision = |cards: &mut FeatureBuilder, input: &FeatureInput, shift: i64| {
        let mut input = *input;
        input.event.unix_time += shift;
        artifact.model.explain(&cards.next(&input))
    };
    c.bench_function(
        "decide: card features + model + contributions for one transaction",
        |b| {
            let mut cards = FeatureBuilder::with_risk(risk);
            let (mut i, mut shift) = (0, 0);
            b.iter(|| {
                i += 1;
                if i == inputs.len() {
                    (i, shift) = (0, shift + span);
                }
                black_box(one_decision(&mut cards, &inputs[i], shift))
            })
        },
    );
    // Criterion reports means; the bound is on the 99th percentile of single calls.
    let mut card = FeatureBuilder::with_risk(risk);
    let mut times: Vec<u64> = (0..200_000)
        .map(|n| {
            let started = std::time::Instant::now();
            black_box(one_decision(
                &mut card,
                &inputs[n % inputs.len()],
                (n / inputs.len()) as i64 * span,
            ));
            started.elapsed().as_nanos() as u64
        })
        .collect();
    times.sort_unstable();
    println!(
        "decide, 200,000 single calls: p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us",
        times[100_000] as f64 / 1e3,
        times[198_000] as f64 / 1e3,
        times[199_800] as f64 / 1e3
    );

    c.bench_function("predict: one row", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % features.len();
            black_box(artifact.model.predict_proba(&features[i]))
        })
    });

    c.bench_function(
        "predict: reasons (per-feature contributions) for one row",
        |b| b.iter(|| black_box(artifact.model.contributions(&features[7]))),
    );

    c.bench_function("predict: batch of 1000 rows, one thread", |b| {
        let batch: Vec<&FeatureVector> = features.iter().cycle().take(1000).collect();
        b.iter(|| {
            batch
                .iter()
                .map(|x| artifact.model.predict_proba(x))
                .sum::<f64>()
        })
    });

    c.bench_function("artifact: verify and decode the model file", |b| {
        b.iter_batched(
            || bytes.clone(),
            |bytes| Artifact::from_bytes(&bytes, "bench").unwrap(),
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(scoring, benches);
criterion_main!(scoring);
