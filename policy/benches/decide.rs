//! One decision with a decision policy of three lists and twenty rules: the policy alone, and
//! the whole in-process decision (card features, first stage, model, contributions, policy),
//! beside `fraud-core`'s `scoring` bench, which stops before the policy.
//!
//! `FRAUD_BENCH_MODEL=path/to/model.bin` benchmarks a real model; without it, a model of the
//! default size is trained on the committed Kaggle sample. Every rule is written so that it
//! rarely matches: a decision runs all twenty, the worst case.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use fraud_core::card_key::{CardHasher, CardKey};
use fraud_core::reader::read_all;
use fraud_core::train::{TrainConfig, load_training_data, train};
use fraud_core::{Artifact, FeatureBuilder, FeatureInput, FeatureVector, ReadMode, Transaction};
use fraud_policy::{Policy, PolicyInput};
use serde_json::json;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/kaggle/kaggle_train_sample.csv")
}

fn artifact() -> Artifact {
    let bytes = match std::env::var_os("FRAUD_BENCH_MODEL") {
        Some(path) => std::fs::read(path).expect("FRAUD_BENCH_MODEL is readable"),
        None => {
            let data = load_training_data(&fixture(), ReadMode::Strict, &|_| {}).unwrap();
            let outcome = train(&data, &TrainConfig::default(), &|_, _, _| {}).unwrap();
            outcome.artifact.to_bytes().unwrap()
        }
    };
    Artifact::from_bytes(&bytes, "bench").unwrap()
}

/// Three lists (1,000 allowed cards, 200 blocked merchants, 500 blocked zips), twenty rules
/// over amounts, categories, time, velocity, the card's risk and the score, review on.
fn policy(hasher: &CardHasher) -> Policy {
    let cards: Vec<String> = (0..1000u64)
        .map(|n| hasher.key(4_000_000_000_000_000 + n).as_str().to_owned())
        .collect();
    let merchants: Vec<String> = (0..200).map(|n| format!("fraud_Blocked {n}")).collect();
    let zips: Vec<u32> = (0..500).map(|n| 90_000 + n).collect();
    let conditions = [
        "amt > 1500.0 && category == \"shopping_net\" && is_night",
        "amt > 900.0 && category == \"misc_net\" && hour < 4",
        "cnt_1h >= 8.0",
        "sum_24h > 20000.0",
        "night_cnt_6h >= 5.0 && amt > 200.0",
        "large_cnt_24h >= 6.0",
        "distinct_categories_24h >= 9.0",
        "amt_zscore > 12.0 && score > 0.2",
        "prev_risk > 0.99 && score > 0.5",
        "risk_max_24h > 0.99 && amt > 500.0",
        "state == \"ZZ\"",
        "distance_km > 5000.0",
        "amt > 20000.0",
        "category in [\"travel\", \"misc_net\"] && amt > 3000.0",
        "secs_since_prev < 1.0 && amt > 100.0",
        "city_pop > 5000000 && amt > 5000.0",
        "merchant.startsWith(\"fraud_Test\") && amt > 1.0",
        "gender == \"X\"",
        "score > 0.999 && !card_history_used",
        "amt_over_category_mean > 50.0",
    ];
    let rules: Vec<_> = conditions
        .iter()
        .enumerate()
        .map(|(n, when)| {
            let outcome = if n % 3 == 0 { "review" } else { "deny" };
            json!({"name": format!("rule-{n}"), "when": when, "outcome": outcome})
        })
        .collect();
    let document = json!({
        "schema_version": 1,
        "version": "bench",
        "thresholds": {"deny": 0.5, "review": 0.2},
        "lists": {
            "allow": {"cards": cards},
            "block": {"merchants": merchants, "zips": zips}
        },
        "rules": rules
    });
    Policy::from_json(document.to_string().as_bytes(), "bench").unwrap()
}

fn benches(c: &mut Criterion) {
    let artifact = artifact();
    let rows: Vec<Transaction> = read_all(&fixture(), ReadMode::Strict).unwrap().0;
    let hasher = CardHasher::new(b"bench-secret-0123456789").unwrap();
    let policy = policy(&hasher);
    let keys: Vec<CardKey> = rows.iter().map(|t| hasher.key(t.cc_num)).collect();
    let inputs: Vec<FeatureInput> = rows.iter().map(FeatureInput::from_transaction).collect();
    let mut builder = FeatureBuilder::with_risk(&artifact.card_risk);
    let features: Vec<FeatureVector> = inputs.iter().map(|i| builder.next(i)).collect();
    let scores: Vec<f64> = features
        .iter()
        .map(|f| artifact.model.predict_proba(f))
        .collect();

    c.bench_function("policy: 3 lists and 20 rules, one transaction", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % rows.len();
            black_box(policy.decide(&PolicyInput {
                txn: &rows[i],
                card: &keys[i],
                features: &features[i],
                score: scores[i],
                card_history_used: true,
            }))
            .outcome
        })
    });

    // The whole in-process decision, as the service makes it.
    let span = rows.last().unwrap().unix_time - rows[0].unix_time + 86_400;
    let one_decision = |cards: &mut FeatureBuilder, i: usize, shift: i64| {
        let mut input = inputs[i];
        input.event.unix_time += shift;
        let features = cards.next(&input);
        let (score, contributions) = artifact.model.explain(&features);
        let verdict = policy.decide(&PolicyInput {
            txn: &rows[i],
            card: &keys[i],
            features: &features,
            score,
            card_history_used: true,
        });
        (verdict.outcome, contributions[0])
    };
    c.bench_function(
        "decide with the policy: card features + model + contributions + 3 lists and 20 rules",
        |b| {
            let mut cards = FeatureBuilder::with_risk(&artifact.card_risk);
            let (mut i, mut shift) = (0, 0);
            b.iter(|| {
                i += 1;
                if i == inputs.len() {
                    (i, shift) = (0, shift + span);
                }
                black_box(one_decision(&mut cards, i, shift))
            })
        },
    );
    // The bound is on the 99th percentile of single calls; criterion reports means.
    let mut cards = FeatureBuilder::with_risk(&artifact.card_risk);
    let mut times: Vec<u64> = (0..200_000)
        .map(|n| {
            let started = std::time::Instant::now();
            black_box(one_decision(
                &mut cards,
                n % inputs.len(),
                (n / inputs.len()) as i64 * span,
            ));
            started.elapsed().as_nanos() as u64
        })
        .collect();
    times.sort_unstable();
    println!(
        "decide with the policy, 200,000 single calls: p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us",
        times[100_000] as f64 / 1e3,
        times[198_000] as f64 / 1e3,
        times[199_800] as f64 / 1e3
    );
}

criterion_group!(policy_benches, benches);
criterion_main!(policy_benches);
