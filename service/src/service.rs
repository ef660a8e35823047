//! Scoring one transaction: features from the card's past (through the card-state port, within
//! a time budget), the model, the decision, the reasons, and the decision log. Plain logic,
//! generic over the ports, so it runs the same on Lambda, in `fraud serve` and in tests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fraud_core::card_key::{CardHasher, CardKey};
use fraud_core::features::{CardState, FeatureVector, assemble, observe};
use fraud_core::ports::{CardStore, DecisionLog, DecisionRecord};
pub use fraud_core::ports::{Decision, Outcome};
use fraud_core::{FEATURE_NAMES, FeatureInput, Transaction};
use fraud_policy::{Policy, PolicyInput};
use serde::{Deserialize, Serialize};

use crate::model::LoadedModel;

/// How many reasons a decision carries.
pub const REASONS: usize = 3;

/// A feature that pushed the score toward fraud.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub feature: String,
    /// The feature's value (null when the card has no history for it).
    pub value: Option<f64>,
    /// Its push on the log-odds of fraud (tree path attribution).
    pub contribution: f64,
}

/// The answer to `POST /predict`. `trans_num`, `prediction` and `model_version` are the
/// original service's fields; clients reading only those keep working. `prediction` is the
/// model's call at its own threshold; `decision` (approve or deny) follows the policy's
/// `outcome`, a review being approved and queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub trans_num: String,
    pub prediction: u8,
    pub model_version: String,
    pub fraud_probability: f64,
    pub decision: Decision,
    pub threshold: f64,
    pub reasons: Vec<Reason>,
    pub card_history_used: bool,
    pub outcome: Outcome,
    /// The list or rule that decided (`lists.block.merchants`, a rule's name), or `threshold`.
    pub rule: String,
    pub policy_version: String,
}

/// Told of every decision with its latency in microseconds (the score Lambda writes CloudWatch
/// EMF lines from it; tests collect them).
pub type DecisionSink = Arc<dyn Fn(&Prediction, u64) + Send + Sync>;

/// The scoring service: a loaded model, the decision policy and the two ports.
pub struct ScoreService<C, L> {
    pub model: Arc<LoadedModel>,
    policy: Policy,
    cards: C,
    log: L,
    hasher: CardHasher,
    store_budget: Duration,
    decision_sink: Option<DecisionSink>,
}

impl<C: CardStore, L: DecisionLog> ScoreService<C, L> {
    pub fn new(
        model: LoadedModel,
        cards: C,
        log: L,
        hasher: CardHasher,
        store_budget: Duration,
    ) -> Self {
        ScoreService {
            policy: Policy::model_threshold(model.artifact.threshold),
            model: Arc::new(model),
            cards,
            log,
            hasher,
            store_budget,
            decision_sink: None,
        }
    }

    /// Decides with `policy` instead of the model's threshold alone.
    pub fn with_policy(mut self, policy: Option<Policy>) -> Self {
        if let Some(policy) = policy {
            if policy.fitted_for(&self.model.artifact.model_version) == Some(false) {
                // Served anyway: a team may keep a policy's lists and rules across a model
                // change, but its thresholds were fitted on another model's probabilities.
                tracing::warn!(
                    policy_version = %policy.version(),
                    model_version = %self.model.artifact.model_version,
                    "the policy's thresholds were fitted for another model; refit them with `fraud policy fit`"
                );
            }
            self.policy = policy;
        }
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Tells `sink` of every decision, when there is one.
    pub fn with_decision_sink(mut self, sink: Option<DecisionSink>) -> Self {
        self.decision_sink = sink;
        self
    }

    pub fn cards(&self) -> &C {
        &self.cards
    }

    pub fn log(&self) -> &L {
        &self.log
    }

    /// The prediction for a transaction of `card` with `features`.
    fn predict(
        &self,
        txn: &Transaction,
        card: &CardKey,
        features: &FeatureVector,
        card_history_used: bool,
    ) -> Prediction {
        let artifact = &self.model.artifact;
        let (probability, contributions) = artifact.model.explain(features);
        let mut order: Vec<usize> = (0..features.len())
            .filter(|&f| contributions[f] > 0.0)
            .collect();
        order.sort_by(|&a, &b| contributions[b].total_cmp(&contributions[a]));
        let reasons = order
            .iter()
            .take(REASONS)
            .map(|&f| Reason {
                feature: FEATURE_NAMES[f].to_owned(),
                value: Some(features[f]).filter(|v| v.is_finite()),
                contribution: contributions[f],
            })
            .collect();
        let verdict = self.policy.decide(&PolicyInput {
            txn,
            card,
            features,
            score: probability,
            card_history_used,
        });
        Prediction {
            trans_num: txn.trans_num.clone(),
            prediction: u8::from(probability >= artifact.threshold),
            model_version: artifact.model_version.clone(),
            fraud_probability: probability,
            decision: verdict.outcome.decision(),
            threshold: artifact.threshold,
            reasons,
            card_history_used,
            outcome: verdict.outcome,
            rule: verdict.rule.to_owned(),
            policy_version: self.policy.version().to_owned(),
        }
    }

    /// Scores a validated transaction. The card's state is updated once per `trans_num` (a
    /// retry gets the first answer back); if the store fails or takes longer than its budget,
    /// the transaction is scored without history and a warning is logged, never an error. The
    /// decision is logged once per `trans_num`: a retry's append is a no-op in every log, and
    /// the sink hears of first answers only, so a retried authorisation is counted once.
    ///
    /// The decision is logged only after the card's change is durable. Logged earlier, a crash
    /// between the two could leave a logged decision whose card update was lost; a retry of a
    /// later transaction of that card would then be scored on a different history than the
    /// logged one, and the log would no longer hold what was answered (the kill test caught it).
    /// In this order a crash leaves at most a stored answer not yet logged, and the retry logs
    /// that same answer.
    pub async fn score(&self, txn: &Transaction) -> Prediction {
        let started = Instant::now();
        let input = FeatureInput::from_transaction(txn);
        let card = self.hasher.key(txn.cc_num);
        let (prediction, replayed) = self
            .score_with_history(txn, &input, &card)
            .await
            .unwrap_or_else(|problem| {
                tracing::warn!(card = %card, trans_num = %txn.trans_num, %problem, "card state unavailable: scoring without history");
                let history = CardState::default().peek(&input.event);
                (self.predict(txn, &card, &assemble(&input, &history), false), false)
            });
        let record = DecisionRecord {
            at: fraud_core::time::now_rfc3339(),
            trans_num: txn.trans_num.clone(),
            card: card.clone(),
            probability: prediction.fraud_probability,
            decision: prediction.decision,
            model_version: prediction.model_version.clone(),
            latency_us: started.elapsed().as_micros() as u64,
            card_history_used: prediction.card_history_used,
            outcome: Some(prediction.outcome),
            rule: Some(prediction.rule.clone()),
            policy_version: Some(prediction.policy_version.clone()),
        };
        if let Some(sink) = self.decision_sink.as_ref().filter(|_| !replayed) {
            sink(&prediction, record.latency_us);
        }
        // Appended on a retry too: if the first attempt stopped between the card store and the
        // log, this is where its decision is recorded.
        self.append_to_log(record, &txn.trans_num).await;
        prediction
    }

    /// Scores through the card store: the prediction, and whether it is a remembered answer to
    /// a retry.
    async fn score_with_history(
        &self,
        txn: &Transaction,
        input: &FeatureInput,
        card: &CardKey,
    ) -> Result<(Prediction, bool), String> {
        // The fresh prediction is also handed out directly, so only a retry decodes a stored one.
        let fresh: Mutex<Option<Prediction>> = Mutex::new(None);
        let with_history = |state: &mut CardState| {
            let features = observe(state, input, &self.model.artifact.card_risk);
            let prediction = self.predict(txn, card, &features, true);
            let answer = bincode::serde::encode_to_vec(&prediction, bincode::config::standard())
                .unwrap_or_default();
            if let Ok(mut slot) = fresh.lock() {
                *slot = Some(prediction);
            }
            answer
        };
        let apply = self.cards.apply(card, &txn.trans_num, &with_history);
        let applied = if self.cards.in_process() {
            apply.await
        } else {
            match tokio::time::timeout(self.store_budget, apply).await {
                Ok(applied) => applied,
                Err(_) => {
                    return Err(format!(
                        "no answer within {} ms",
                        self.store_budget.as_millis()
                    ));
                }
            }
        };
        let applied = applied.map_err(|problem| problem.to_string())?;
        let fresh = fresh.lock().ok().and_then(|mut slot| slot.take());
        match fresh {
            Some(prediction) if !applied.replayed => return Ok((prediction, false)),
            None if !applied.replayed => {
                return Err("the store answered without scoring".to_owned());
            }
            _ => {}
        }
        stored_answer(&applied.answer).map(|prediction| (prediction, true))
    }

    /// Appends to the decision log within the store budget (a log in this process has none).
    /// A failure is not returned (the answer stands): the decision is written whole into an
    /// error log line instead, so it is kept in the function's logs for backfill.
    async fn append_to_log(&self, record: DecisionRecord, trans_num: &str) {
        let kept = record.clone();
        let append = self.log.append(record);
        let logged = if self.log.in_process() {
            Ok(append.await)
        } else {
            tokio::time::timeout(self.store_budget, append).await
        };
        let problem = match logged {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", self.store_budget.as_millis()),
        };
        let decision = serde_json::to_string(&kept).unwrap_or_default();
        tracing::error!(%trans_num, %problem, %decision, "decision log append failed: the decision is kept in this line");
    }
}

/// The answer a card store remembered for a transaction. Answers stored by builds before the
/// decision policy lack its three fields: a retry arriving across that upgrade still gets the
/// answer it got first (the model's threshold decided it).
fn stored_answer(bytes: &[u8]) -> Result<Prediction, String> {
    let config = bincode::config::standard();
    let current = bincode::serde::decode_from_slice::<Prediction, _>(bytes, config);
    if let Ok((prediction, read)) = current
        && read == bytes.len()
    {
        return Ok(prediction);
    }
    let (before, _) =
        bincode::serde::decode_from_slice::<PredictionBeforePolicies, _>(bytes, config)
            .map_err(|e| format!("stored answer unreadable: {e}"))?;
    let outcome = match before.decision {
        Decision::Deny => Outcome::Deny,
        Decision::Approve => Outcome::Approve,
    };
    Ok(Prediction {
        trans_num: before.trans_num,
        prediction: before.prediction,
        model_version: before.model_version,
        fraud_probability: before.fraud_probability,
        decision: before.decision,
        threshold: before.threshold,
        reasons: before.reasons,
        card_history_used: before.card_history_used,
        outcome,
        rule: fraud_policy::THRESHOLD.to_owned(),
        policy_version: fraud_policy::MODEL_THRESHOLD_VERSION.to_owned(),
    })
}

/// [`Prediction`] as builds before the decision policy stored it.
#[derive(Deserialize)]
struct PredictionBeforePolicies {
    trans_num: String,
    prediction: u8,
    model_version: String,
    fraud_probability: f64,
    decision: Decision,
    threshold: f64,
    reasons: Vec<Reason>,
    card_history_used: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Prediction {
        Prediction {
            trans_num: "t1".into(),
            prediction: 1,
            model_version: "gbdt-x".into(),
            fraud_probability: 0.9,
            decision: Decision::Deny,
            threshold: 0.5,
            reasons: vec![Reason {
                feature: "amt".into(),
                value: Some(950.0),
                contribution: 1.5,
            }],
            card_history_used: true,
            outcome: Outcome::Review,
            rule: "night-review".into(),
            policy_version: "p1".into(),
        }
    }

    #[test]
    fn an_answer_stored_before_policies_reads_back_as_the_thresholds_answer() {
        #[derive(Serialize)]
        struct Old<'a> {
            trans_num: &'a str,
            prediction: u8,
            model_version: &'a str,
            fraud_probability: f64,
            decision: Decision,
            threshold: f64,
            reasons: &'a [Reason],
            card_history_used: bool,
        }
        let new = answer();
        let old = Old {
            trans_num: &new.trans_num,
            prediction: new.prediction,
            model_version: &new.model_version,
            fraud_probability: new.fraud_probability,
            decision: new.decision,
            threshold: new.threshold,
            reasons: &new.reasons,
            card_history_used: new.card_history_used,
        };
        let bytes = bincode::serde::encode_to_vec(&old, bincode::config::standard()).unwrap();
        let read = stored_answer(&bytes).unwrap();
        assert_eq!(
            (
                read.outcome,
                read.rule.as_str(),
                read.policy_version.as_str()
            ),
            (Outcome::Deny, "threshold", "model-threshold")
        );
        assert_eq!(
            (read.fraud_probability, read.reasons),
            (0.9, new.reasons.clone())
        );
        // A current answer reads back whole; garbage is refused.
        let bytes = bincode::serde::encode_to_vec(&new, bincode::config::standard()).unwrap();
        assert_eq!(stored_answer(&bytes).unwrap(), new);
        assert!(
            stored_answer(&[0xff, 0x01])
                .unwrap_err()
                .contains("stored answer unreadable")
        );
    }
}
