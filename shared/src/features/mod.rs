//! The ONE definition of the model's features, used by training, batch evaluation and online
//! scoring alike: [`FeatureInput::from_transaction`] (stateless part), [`CardState`] (per-card
//! history) and [`assemble`] (their union, in [`FEATURE_NAMES`] order).
//!
//! Time features come from `unix_time`, never from the date string (DATA.md: the date string is
//! shifted seven years and holds two days on 2019-02-28). Only the age uses the date string,
//! because `dob` lives in that shifted calendar.

mod card;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

pub use card::{
    CardEvent, CardHistory, CardState, LARGE_AMOUNT_CENTS, MAX_LATENESS, PastEvent, RISK_SCALE,
    WINDOWS, is_night,
};

use crate::schema::{Category, Gender, Transaction};
use crate::time::{hour_of, weekday_of};

/// Bump when a feature's definition changes without its name changing: models trained on the
/// old definition are then refused at load time (the hash below includes it).
pub const FEATURE_SET_VERSION: u32 = 2;

/// Feature names, in the order of every feature vector and model column. The first
/// [`FIRST_STAGE_FEATURES`] describe the transaction and its card's past; the rest summarise the
/// first-stage risks of the card's earlier transactions (see [`CardRisk`]).
pub const FEATURE_NAMES: [&str; 35] = [
    "amt",
    "log_amt",
    "hour",
    "weekday",
    "is_night",
    "category",
    "age",
    "distance_km",
    "city_pop",
    "gender",
    "cnt_1h",
    "sum_1h",
    "cnt_24h",
    "sum_24h",
    "cnt_7d",
    "sum_7d",
    "secs_since_prev",
    "amt_over_card_mean",
    "amt_zscore",
    "night_cnt_24h",
    "same_category_cnt_24h",
    "category_share",
    "cnt_6h",
    "sum_6h",
    "night_cnt_6h",
    "large_cnt_24h",
    "distinct_categories_24h",
    "prev_amt",
    "prev_category",
    "prev_hour",
    "amt_over_category_mean",
    "category_halfday_share",
    "prev_risk",
    "risk_sum_24h",
    "risk_max_24h",
];
pub const N_FEATURES: usize = FEATURE_NAMES.len();
/// The features a first-stage (card risk) model may use: everything but the risks themselves.
pub const FIRST_STAGE_FEATURES: usize = 32;

/// One row of features; NaN marks a value that does not exist (no card history yet).
pub type FeatureVector = [f64; N_FEATURES];

/// SHA-256 (hex) of the feature set version and names: a model is only usable by a build whose
/// features hash the same.
pub fn feature_set_hash() -> String {
    feature_hash_of(FEATURE_SET_VERSION, &FEATURE_NAMES)
}

pub(crate) fn feature_hash_of(version: u32, names: &[impl AsRef<str>]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("fraud-features v{version}\n"));
    for name in names {
        hasher.update(name.as_ref());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

const EARTH_RADIUS_KM: f64 = 6371.0;

/// Great-circle distance in km between two (lat, long) points in degrees.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().asin()
}

/// Everything the features need from one transaction, with the stateless features computed.
/// Compact (training keeps one per row) and free of names, addresses and the card number's text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureInput {
    /// The card, used only as an in-memory map key during batch work; never written anywhere.
    pub card: u64,
    pub event: CardEvent,
    pub age_years: f64,
    pub distance_km: f64,
    pub city_pop: f64,
    pub is_male: bool,
}

impl FeatureInput {
    pub fn from_transaction(txn: &Transaction) -> Self {
        FeatureInput {
            card: txn.cc_num,
            event: CardEvent {
                unix_time: txn.unix_time,
                amount_cents: txn.amount_cents(),
                category: txn.category,
            },
            age_years: (txn.trans_date_trans_time.days() - txn.dob.0) as f64 / 365.25,
            distance_km: haversine_km(txn.lat, txn.long, txn.merch_lat, txn.merch_long),
            city_pop: txn.city_pop as f64,
            is_male: txn.gender == Gender::M,
        }
    }

    pub fn category(&self) -> Category {
        self.event.category
    }
}

/// The feature vector of a transaction given its card's history.
pub fn assemble(input: &FeatureInput, card: &CardHistory) -> FeatureVector {
    let t = input.event.unix_time;
    let amt = input.event.amount_cents as f64 / 100.0;
    [
        amt,
        amt.ln_1p(),
        f64::from(hour_of(t)),
        f64::from(weekday_of(t)),
        f64::from(u8::from(is_night(t))),
        f64::from(input.event.category.code()),
        input.age_years,
        input.distance_km,
        input.city_pop,
        f64::from(u8::from(input.is_male)),
        card.counts[0],
        card.sums[0],
        card.counts[2],
        card.sums[2],
        card.counts[3],
        card.sums[3],
        card.secs_since_prev,
        card.amt_over_card_mean,
        card.amt_zscore,
        card.night_cnt_24h,
        card.same_category_cnt_24h,
        card.category_share,
        card.counts[1],
        card.sums[1],
        card.night_cnt_6h,
        card.large_cnt_24h,
        card.distinct_categories_24h,
        card.prev_amt,
        card.prev_category,
        card.prev_hour,
        card.amt_over_category_mean,
        card.category_halfday_share,
        card.prev_risk,
        card.risk_sum_24h,
        card.risk_max_24h,
    ]
}

/// The first stage: scores a transaction from its first [`FIRST_STAGE_FEATURES`] features, and the
/// card's history keeps that risk with the transaction, so later transactions of the card see how
/// suspicious its recent ones looked (fraud comes in bursts on one card).
pub trait CardRisk: Sync {
    /// The risk of the transaction of `card` with features `features`, scaled by [`RISK_SCALE`].
    fn risk(&self, card: u64, features: &FeatureVector) -> u16;
}

/// No first stage: every risk is 0. For the first pass of training, which fits the first stage.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRisk;

impl CardRisk for NoRisk {
    fn risk(&self, _card: u64, _features: &FeatureVector) -> u16 {
        0
    }
}

/// Which half of the cards a card belongs to (0 or 1), from a mix of its number. The first stage
/// is two models, each fitted on one half; a card is scored by the model of the other half, so
/// training sees the same out-of-sample risks that serving does.
pub fn card_half(card: u64) -> usize {
    let mut z = card.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 63) as usize
}

/// Features of `input` from its card's past; then `input` joins that past with its first-stage
/// risk. The one step of training, batch evaluation and online scoring alike.
pub fn observe(
    state: &mut CardState,
    input: &FeatureInput,
    risk: &(impl CardRisk + ?Sized),
) -> FeatureVector {
    let mut features = [f64::NAN; N_FEATURES];
    state.observe(&input.event, |history| {
        features = assemble(input, history);
        risk.risk(input.card, &features)
    });
    features
}

/// Features of a stream of transactions in arrival order, one in-memory [`CardState`] per card:
/// the batch path (training, `fraud eval`). Online scoring uses [`CardState`] through a store.
/// The cards are split into shards, so a batch is worked on every core, each shard in order.
pub struct FeatureBuilder<'r> {
    shards: Vec<HashMap<u64, CardState>>,
    risk: &'r dyn CardRisk,
}

impl std::fmt::Debug for FeatureBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureBuilder")
            .field("cards", &self.cards())
            .finish_non_exhaustive()
    }
}

impl<'r> FeatureBuilder<'r> {
    /// A builder whose card histories remember `risk`'s score of each transaction (the model's
    /// first stage; [`NoRisk`] while fitting that stage).
    pub fn with_risk(risk: &'r dyn CardRisk) -> Self {
        let shards = rayon::current_num_threads().max(1);
        FeatureBuilder {
            shards: (0..shards).map(|_| HashMap::new()).collect(),
            risk,
        }
    }

    fn shard_of(&self, card: u64) -> usize {
        (card.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % self.shards.len()
    }

    /// Features of `input` from its card's past; then `input` joins that past.
    pub fn next(&mut self, input: &FeatureInput) -> FeatureVector {
        let shard = self.shard_of(input.card);
        observe(
            self.shards[shard].entry(input.card).or_default(),
            input,
            self.risk,
        )
    }

    /// [`Self::next`] for each of `inputs`, in order per card, the shards in parallel: the same
    /// features as one call after another.
    pub fn next_batch(&mut self, inputs: &[FeatureInput]) -> Vec<FeatureVector> {
        use rayon::prelude::*;
        let shard_of: Vec<usize> = inputs.iter().map(|i| self.shard_of(i.card)).collect();
        let mut counts = vec![0usize; self.shards.len()];
        for &shard in &shard_of {
            counts[shard] += 1;
        }
        let risk = self.risk;
        // Each shard's rows in input order, in a vector sized for them: no regrowth and no row
        // index stored beside each row (both cost copies of 280-byte rows).
        let parts: Vec<Vec<FeatureVector>> = self
            .shards
            .par_iter_mut()
            .enumerate()
            .map(|(shard, cards)| {
                let mut rows = Vec::with_capacity(counts[shard]);
                for (input, _) in inputs.iter().zip(&shard_of).filter(|(_, s)| **s == shard) {
                    rows.push(observe(cards.entry(input.card).or_default(), input, risk));
                }
                rows
            })
            .collect();
        let mut next = vec![0usize; parts.len()];
        shard_of
            .iter()
            .map(|&shard| {
                next[shard] += 1;
                parts[shard][next[shard] - 1]
            })
            .collect()
    }

    /// Number of cards with history.
    pub fn cards(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_known_distances() {
        // One degree of latitude is about 111.19 km on this sphere.
        assert!((haversine_km(0.0, 0.0, 1.0, 0.0) - 111.195).abs() < 1e-3);
        assert_eq!(haversine_km(36.0, -81.0, 36.0, -81.0), 0.0);
        // New York to Los Angeles, about 3936 km on a 6371 km sphere.
        let d = haversine_km(40.7128, -74.0060, 34.0522, -118.2437);
        assert!((d - 3935.7).abs() < 1.0, "{d}");
    }

    #[test]
    fn the_feature_hash_depends_on_names_order_and_version() {
        let h = feature_set_hash();
        assert_eq!(h.len(), 64);
        let mut names = FEATURE_NAMES;
        names.swap(0, 1);
        assert_ne!(feature_hash_of(FEATURE_SET_VERSION, &names), h);
        assert_ne!(feature_hash_of(FEATURE_SET_VERSION + 1, &FEATURE_NAMES), h);
    }

    #[test]
    fn stateless_features_of_the_first_kaggle_row() {
        let txn = crate::schema::tests::sample();
        let input = FeatureInput::from_transaction(&txn);
        let v = assemble(&input, &CardState::default().peek(&input.event));
        let named: HashMap<&str, f64> = FEATURE_NAMES.iter().copied().zip(v).collect();
        assert_eq!(named["amt"], 4.97);
        assert_eq!(named["log_amt"], 4.97f64.ln_1p());
        assert_eq!(named["hour"], 0.0);
        assert_eq!(named["weekday"], 6.0, "2012-01-01 was a Sunday");
        assert_eq!(named["is_night"], 1.0);
        assert_eq!(named["category"], f64::from(Category::MiscNet.code()));
        assert_eq!(named["gender"], 0.0);
        assert_eq!(named["city_pop"], 3495.0);
        // 1988-03-09 to 2019-01-01: 11,255 days.
        assert!((named["age"] - 11_255.0 / 365.25).abs() < 1e-12);
        assert!(
            (named["distance_km"] - 78.6).abs() < 0.1,
            "{}",
            named["distance_km"]
        );
        assert!(named["secs_since_prev"].is_nan());
    }
}
