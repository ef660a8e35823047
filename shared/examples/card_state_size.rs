//! The size of a card's stored state (bincode, as the DynamoDB adapter writes it) after each
//! transaction of a file scored in file order with a model's first stage: DynamoDB bills writes
//! per started KB, so this is the per-decision write cost of the card history.
//!
//!     cargo run --release -p fraud-core --example card_state_size -- MODEL.bin TEST.csv[.zst]

use std::collections::HashMap;

use fraud_core::features::{CardState, observe};
use fraud_core::{Artifact, FeatureInput, ReadMode, TransactionReader};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (model, data) = match (args.get(1), args.get(2)) {
        (Some(m), Some(d)) => (m, d),
        _ => panic!("usage: card_state_size MODEL.bin DATA.csv[.zst]"),
    };
    let artifact = Artifact::load(model.as_ref()).expect("model");
    let reader = TransactionReader::open(data.as_ref(), ReadMode::Strict).expect("data");
    let mut cards: HashMap<u64, CardState> = HashMap::new();
    let mut sizes: Vec<usize> = Vec::new();
    for txn in reader.parallel() {
        let input = FeatureInput::from_transaction(&txn.expect("row"));
        let state = cards.entry(input.card).or_default();
        observe(state, &input, &artifact.card_risk);
        let bytes = bincode::serde::encode_to_vec(&*state, bincode::config::standard()).unwrap();
        sizes.push(bytes.len());
    }
    sizes.sort_unstable();
    let at = |q: f64| sizes[((sizes.len() - 1) as f64 * q).round() as usize];
    let over_1kb = sizes.iter().filter(|&&s| s > 1024).count();
    println!(
        "{} writes over {} cards: card state p50 {} B, p99 {} B, max {} B; {} writes ({:.2} %) over 1 KB",
        sizes.len(),
        cards.len(),
        at(0.5),
        at(0.99),
        sizes[sizes.len() - 1],
        over_1kb,
        100.0 * over_1kb as f64 / sizes.len() as f64
    );
}
