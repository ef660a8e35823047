//! The first stage: a card-risk model whose score of each transaction joins the card's history.
//!
//! Fraud comes in bursts on one card, and a burst is easiest to see through how suspicious the
//! card's previous transactions looked. So every transaction is first scored from its own and
//! its card's features (the first [`FIRST_STAGE_FEATURES`]), the score is remembered with the
//! transaction, and the final model reads the remembered scores of the card's past (`prev_risk`,
//! `risk_sum_24h`, `risk_max_24h`). Training must show the final model the scores serving will
//! give, which in-sample scores are not: the first stage is two models, each fitted on the cards
//! of one half (see [`card_half`]), and a card is always scored by the other half's model, in
//! training and in serving alike.

use serde::{Deserialize, Serialize};

use super::{Classifier, Dataset, GbdtModel, GbdtParams, InvalidModel};
use crate::error::Result;
use crate::features::{CardRisk, FIRST_STAGE_FEATURES, FeatureVector, RISK_SCALE, card_half};

/// The two first-stage models; `halves[h]` was fitted on the cards of half `h`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardRiskModel {
    pub halves: [GbdtModel; 2],
}

impl CardRiskModel {
    /// Fits one model per half of the cards on `sample` (rows of the fit slice, legitimate rows
    /// kept at `params.legit_sample_rate`), whose row `i` belongs to card `cards[i]`. A half
    /// without both classes gets a constant model at the sample's fraud rate.
    pub fn fit(sample: &Dataset, cards: &[u64], params: &GbdtParams) -> Result<Self> {
        assert_eq!(sample.n_rows(), cards.len(), "one card per row");
        let features: Vec<usize> = (0..FIRST_STAGE_FEATURES).collect();
        let prior = Self::population_rate(sample, params);
        let fit_half = |h: usize| -> Result<GbdtModel> {
            let rows: Vec<usize> = (0..cards.len())
                .filter(|&i| card_half(cards[i]) == h)
                .collect();
            let half = sample.take(&rows);
            let frauds = half.frauds();
            if frauds == 0 || frauds == half.n_rows() {
                return Ok(GbdtModel::constant(prior));
            }
            GbdtModel::fit_sample(&half, &features, params)
        };
        let (first, second) = rayon::join(|| fit_half(0), || fit_half(1));
        Ok(CardRiskModel {
            halves: [first?, second?],
        })
    }

    /// The fraud rate of the population a sample was drawn from (its legitimate rows were kept
    /// at the sampling rate), clamped away from 0 and 1 so a constant model stays finite.
    fn population_rate(sample: &Dataset, params: &GbdtParams) -> f64 {
        let frauds = sample.frauds() as f64;
        let legit = (sample.n_rows() as f64 - frauds) / params.legit_sample_rate;
        (frauds / (frauds + legit)).clamp(1e-6, 1.0 - 1e-6)
    }

    /// Structural checks after loading: the trees are sound and read only first-stage features.
    pub fn validate(&self) -> Result<(), InvalidModel> {
        for (half, model) in self.halves.iter().enumerate() {
            model
                .trees
                .validate(FIRST_STAGE_FEATURES)
                .map_err(|source| InvalidModel::FirstStage {
                    half,
                    source: Box::new(source),
                })?;
            if !model.offset.is_finite() {
                return Err(InvalidModel::FirstStageOffset {
                    half,
                    offset: model.offset,
                });
            }
        }
        Ok(())
    }
}

impl CardRisk for CardRiskModel {
    fn risk(&self, card: u64, features: &FeatureVector) -> u16 {
        let p = self.halves[1 - card_half(card)].predict_proba(features);
        (p * RISK_SCALE).round() as u16
    }
}
