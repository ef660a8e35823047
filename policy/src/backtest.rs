//! A policy replayed on labelled, scored transactions before it goes live: what each list and
//! rule decided, the frauds it caught and the good customers it declined or sent to review, in
//! dollars, and the whole policy against the model's threshold alone.

use fraud_core::card_key::{CardHasher, CardKey};
use fraud_core::ports::Outcome;
use fraud_core::{FeatureVector, Transaction};
use serde::{Deserialize, Serialize};

use crate::fit::{Costs, FalseDeclineCost, Figures, Tally};
use crate::{Policy, PolicyInput, THRESHOLD, Verdict};

/// What one list, rule or threshold outcome decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFigures {
    /// `lists.block.merchants`, a rule's name, or `threshold`.
    pub rule: String,
    pub outcome: Outcome,
    pub transactions: u64,
    pub frauds: u64,
    pub fraud_dollars: f64,
    pub good: u64,
    pub good_dollars: f64,
}

/// The backtest's result, written as `backtest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    pub policy_version: String,
    pub model_version: String,
    /// The labelled file replayed.
    pub data: String,
    pub false_decline_cost: FalseDeclineCost,
    pub review_cost: Option<f64>,
    /// The whole policy.
    pub policy: Figures,
    /// The policy's thresholds alone (no lists, no rules): what the lists and rules change.
    pub thresholds_only: Figures,
    /// The model's own threshold, deny or approve: the answer before policies.
    pub model_only: Figures,
    /// Every list kind and rule of the policy in evaluation order (those that decided nothing
    /// too), then the thresholds' outcomes.
    pub by_rule: Vec<RuleFigures>,
}

/// Adds transactions one by one; [`Backtest::finish`] gives the report.
pub struct Backtest<'p> {
    policy: &'p Policy,
    /// Card keys for a policy that needs them; otherwise every card reads as the empty key.
    hasher: Option<&'p CardHasher>,
    no_key: CardKey,
    model_threshold: f64,
    whole: Tally,
    thresholds_only: Tally,
    model_only: Tally,
    by_rule: Vec<RuleFigures>,
}

impl<'p> Backtest<'p> {
    pub fn new(policy: &'p Policy, hasher: Option<&'p CardHasher>, model_threshold: f64) -> Self {
        let document = policy.document();
        let mut by_rule = Vec::new();
        let mut row = |rule: &str, outcome| {
            by_rule.push(RuleFigures {
                rule: rule.to_owned(),
                outcome,
                transactions: 0,
                frauds: 0,
                fraud_dollars: 0.0,
                good: 0,
                good_dollars: 0.0,
            })
        };
        for (list, outcome) in [
            (&document.lists.allow, Outcome::Approve),
            (&document.lists.block, Outcome::Deny),
        ] {
            let name = if outcome == Outcome::Approve {
                "allow"
            } else {
                "block"
            };
            let kinds = [
                ("cards", list.cards.is_empty()),
                ("merchants", list.merchants.is_empty()),
                ("categories", list.categories.is_empty()),
                ("states", list.states.is_empty()),
                ("zips", list.zips.is_empty()),
            ];
            for (kind, _) in kinds.iter().filter(|(_, empty)| !empty) {
                row(&format!("lists.{name}.{kind}"), outcome);
            }
        }
        for rule in &document.rules {
            row(&rule.name, rule.outcome);
        }
        for outcome in [Outcome::Deny, Outcome::Review, Outcome::Approve] {
            row(THRESHOLD, outcome);
        }
        Backtest {
            policy,
            hasher,
            no_key: CardKey::from_stored(String::new()),
            model_threshold,
            whole: Tally::default(),
            thresholds_only: Tally::default(),
            model_only: Tally::default(),
            by_rule,
        }
    }

    /// One labelled transaction with its features and model score, decided as the service
    /// decides it.
    pub fn add_transaction(
        &mut self,
        txn: &Transaction,
        features: &FeatureVector,
        score: f64,
        label: u8,
    ) {
        let key = self.hasher.map(|h| h.key(txn.cc_num));
        let policy = self.policy;
        let verdict = policy.decide(&PolicyInput {
            txn,
            card: key.as_ref().unwrap_or(&self.no_key),
            features,
            score,
            card_history_used: true,
        });
        self.add(&verdict, score, label, txn.amt);
    }

    /// The policy's verdict on a transaction, its model score, label and amount.
    fn add(&mut self, verdict: &Verdict<'_>, score: f64, label: u8, amount: f64) {
        self.whole.add(verdict.outcome, label, amount);
        self.thresholds_only
            .add(self.policy.by_threshold(score), label, amount);
        let model = if score >= self.model_threshold {
            Outcome::Deny
        } else {
            Outcome::Approve
        };
        self.model_only.add(model, label, amount);
        let row = self
            .by_rule
            .iter_mut()
            .find(|r| r.rule == verdict.rule && r.outcome == verdict.outcome)
            .expect("every verdict names a list, rule or threshold of the policy");
        row.transactions += 1;
        if label == 1 {
            row.frauds += 1;
            row.fraud_dollars += amount;
        } else {
            row.good += 1;
            row.good_dollars += amount;
        }
    }

    pub fn finish(self, model_version: &str, data: &str, costs: &Costs) -> BacktestReport {
        let round = |dollars: f64| (dollars * 100.0).round() / 100.0;
        BacktestReport {
            policy_version: self.policy.version().to_owned(),
            model_version: model_version.to_owned(),
            data: data.to_owned(),
            false_decline_cost: costs.false_decline,
            review_cost: costs.review,
            policy: self.whole.figures(costs),
            thresholds_only: self.thresholds_only.figures(costs),
            model_only: self.model_only.figures(costs),
            by_rule: self
                .by_rule
                .into_iter()
                .map(|r| RuleFigures {
                    fraud_dollars: round(r.fraud_dollars),
                    good_dollars: round(r.good_dollars),
                    ..r
                })
                .collect(),
        }
    }
}
