//! Deny and review thresholds from dollars: the pair with the least expected cost on labelled,
//! scored rows (the model's validation slice). A missed fraud costs its amount; a declined good
//! transaction costs the false-decline price; a review costs the review price and catches the
//! fraud it holds (the payment goes through, and the fraud team stops the goods or refunds).

use fraud_core::ports::Outcome;
use serde::{Deserialize, Serialize};

/// What a declined good transaction costs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FalseDeclineCost {
    /// Its own amount (the sale lost): what `fraud train`'s dollar threshold uses.
    Amount,
    /// A fixed price in dollars (margin, support call, a customer who leaves).
    Dollars(f64),
}

/// The prices the fit minimises.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    pub false_decline: FalseDeclineCost,
    /// Dollars per reviewed transaction; `None` switches review off.
    pub review: Option<f64>,
    /// Most reviews as a share of all transactions (the team's capacity).
    pub review_rate_max: f64,
}

/// Outcomes of a set of labelled rows under a deny and a review threshold, and their cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub transactions: u64,
    pub frauds: u64,
    pub fraud_dollars: f64,
    /// Fraud denied or reviewed, and its dollars.
    pub frauds_caught: u64,
    pub fraud_dollars_caught: f64,
    pub false_declines: u64,
    pub false_decline_dollars: f64,
    pub reviews: u64,
    pub cost: f64,
    pub value_detection_rate: f64,
    pub false_decline_rate: f64,
    pub review_rate: f64,
}

/// The fitted thresholds and what they give on the rows they were fitted on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fitted {
    pub deny: f64,
    pub review: Option<f64>,
    pub figures: Figures,
}

impl Costs {
    /// The given prices, else those `policy` was fitted with, else a false decline at its
    /// amount and no review price; no review capacity limit (a backtest counts, it does not fit).
    pub fn for_policy(
        policy: &crate::Policy,
        false_decline: Option<FalseDeclineCost>,
        review: Option<f64>,
    ) -> Costs {
        let fitted = policy.document().expected.as_ref();
        Costs {
            false_decline: false_decline
                .or(fitted.map(|e| e.false_decline_cost))
                .unwrap_or(FalseDeclineCost::Amount),
            review: review.or(fitted.and_then(|e| e.review_cost)),
            review_rate_max: 1.0,
        }
    }

    fn false_decline_cents(&self, amount: f64) -> i64 {
        match self.false_decline {
            FalseDeclineCost::Amount => cents(amount),
            FalseDeclineCost::Dollars(price) => cents(price),
        }
    }
}

/// Whole cents, so sums are exact and do not depend on the order of equal scores.
fn cents(dollars: f64) -> i64 {
    (dollars * 100.0).round() as i64
}

/// The deny and review thresholds of least cost on `labels`, `scores` and `amounts` (one each
/// per row). Thresholds fall halfway between neighbouring distinct scores, never inside a tie.
pub fn fit_thresholds(labels: &[u8], scores: &[f64], amounts: &[f64], costs: &Costs) -> Fitted {
    assert!(
        labels.len() == scores.len() && scores.len() == amounts.len(),
        "one score and amount per label"
    );
    let n = scores.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    // declined[k]: the false-decline cost of denying the k highest rows; missed[k]: the fraud
    // dollars below them.
    let mut declined = vec![0i64; n + 1];
    let mut missed = vec![0i64; n + 1];
    for (k, &i) in order.iter().enumerate() {
        let good = i64::from(labels[i] == 0);
        declined[k + 1] = declined[k] + good * costs.false_decline_cents(amounts[i]);
    }
    for (k, &i) in order.iter().enumerate().rev() {
        missed[k] = missed[k + 1] + i64::from(labels[i] == 1) * cents(amounts[i]);
    }
    // Cut positions between distinct scores (and both ends).
    let cuts: Vec<usize> = (0..=n)
        .filter(|&k| k == 0 || k == n || scores[order[k - 1]] != scores[order[k]])
        .collect();
    let review_cents = costs.review.map_or(0, cents);
    let window = match costs.review {
        Some(_) => (costs.review_rate_max.clamp(0.0, 1.0) * n as f64).floor() as usize,
        None => 0,
    };
    // For each deny cut, the best review cut within the review capacity: the least of
    // review_cents * k + missed[k] over the window (a sliding-window minimum).
    let below = |k: usize| review_cents * k as i64 + missed[k];
    let mut window_min: std::collections::VecDeque<usize> = Default::default();
    let mut next = 0;
    let mut best = (i64::MAX, 0, 0);
    for (c, &deny_cut) in cuts.iter().enumerate() {
        while next < cuts.len() && cuts[next] <= deny_cut + window {
            while window_min
                .back()
                .is_some_and(|&b| below(cuts[b]) >= below(cuts[next]))
            {
                window_min.pop_back();
            }
            window_min.push_back(next);
            next += 1;
        }
        while window_min.front().is_some_and(|&f| f < c) {
            window_min.pop_front();
        }
        let review_cut = cuts[*window_min.front().expect("the deny cut is in its window")];
        let cost = declined[deny_cut] - review_cents * deny_cut as i64 + below(review_cut);
        if cost < best.0 {
            best = (cost, deny_cut, review_cut);
        }
    }
    let (_, deny_cut, review_cut) = best;
    let threshold = |cut: usize| threshold_at(&order, scores, cut);
    let deny = threshold(deny_cut);
    let review = (review_cut > deny_cut).then(|| threshold(review_cut));
    Fitted {
        deny,
        review,
        figures: figures(labels, scores, amounts, costs, deny, review),
    }
}

/// The threshold that denies the `cut` highest rows: halfway to the next lower score; above
/// every score for none; at the lowest score for all.
fn threshold_at(order: &[usize], scores: &[f64], cut: usize) -> f64 {
    match (
        cut.checked_sub(1).map(|k| scores[order[k]]),
        order.get(cut).map(|&i| scores[i]),
    ) {
        (None, Some(top)) => top.next_up().min(1.0),
        (None, None) => 1.0,
        (Some(last), Some(below)) => (last + below) / 2.0,
        (Some(last), None) => last,
    }
}

/// The figures of a deny and an optional review threshold on labelled rows.
pub fn figures(
    labels: &[u8],
    scores: &[f64],
    amounts: &[f64],
    costs: &Costs,
    deny: f64,
    review: Option<f64>,
) -> Figures {
    let mut tally = Tally::default();
    for ((&label, &score), &amount) in labels.iter().zip(scores).zip(amounts) {
        let outcome = if score >= deny {
            Outcome::Deny
        } else if review.is_some_and(|r| score >= r) {
            Outcome::Review
        } else {
            Outcome::Approve
        };
        tally.add(outcome, label, amount);
    }
    tally.figures(costs)
}

/// Counts of labelled rows by outcome, in whole cents, turned into [`Figures`] at a price.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    transactions: u64,
    frauds: u64,
    fraud_cents: i64,
    frauds_caught: u64,
    caught_cents: i64,
    false_declines: u64,
    declined_cents: i64,
    reviews: u64,
}

impl Tally {
    pub fn add(&mut self, outcome: Outcome, label: u8, amount: f64) {
        self.transactions += 1;
        self.reviews += u64::from(outcome == Outcome::Review);
        if label == 1 {
            self.frauds += 1;
            self.fraud_cents += cents(amount);
            if outcome != Outcome::Approve {
                self.frauds_caught += 1;
                self.caught_cents += cents(amount);
            }
        } else if outcome == Outcome::Deny {
            self.false_declines += 1;
            self.declined_cents += cents(amount);
        }
    }

    pub fn figures(&self, costs: &Costs) -> Figures {
        let declines = match costs.false_decline {
            FalseDeclineCost::Amount => self.declined_cents,
            FalseDeclineCost::Dollars(price) => cents(price) * self.false_declines as i64,
        };
        let reviews = costs.review.map_or(0, cents) * self.reviews as i64;
        let missed = self.fraud_cents - self.caught_cents;
        let goods = self.transactions - self.frauds;
        Figures {
            transactions: self.transactions,
            frauds: self.frauds,
            fraud_dollars: self.fraud_cents as f64 / 100.0,
            frauds_caught: self.frauds_caught,
            fraud_dollars_caught: self.caught_cents as f64 / 100.0,
            false_declines: self.false_declines,
            false_decline_dollars: self.declined_cents as f64 / 100.0,
            reviews: self.reviews,
            cost: (missed + declines + reviews) as f64 / 100.0,
            value_detection_rate: ratio(self.caught_cents as f64, self.fraud_cents as f64),
            false_decline_rate: ratio(self.false_declines as f64, goods as f64),
            review_rate: ratio(self.reviews as f64, self.transactions as f64),
        }
    }
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows with scores on a coarse grid (many ties), frauds scoring higher on the whole.
    fn rows(n: usize, seed: u64) -> (Vec<u8>, Vec<f64>, Vec<f64>) {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        let (mut labels, mut scores, mut amounts) = (vec![], vec![], vec![]);
        for _ in 0..n {
            let fraud = next() < 0.2;
            let score = ((next() * 0.6 + if fraud { 0.4 } else { 0.0 }) * 20.0).floor() / 20.0;
            labels.push(u8::from(fraud));
            scores.push(score);
            amounts.push((next() * 900.0 * 100.0).round() / 100.0 + 1.0);
        }
        (labels, scores, amounts)
    }

    /// Every pair of thresholds between distinct scores, tried one by one.
    fn brute_force_least_cost(
        labels: &[u8],
        scores: &[f64],
        amounts: &[f64],
        costs: &Costs,
    ) -> f64 {
        let mut distinct: Vec<f64> = scores.to_vec();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let mut candidates: Vec<f64> = distinct.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
        candidates.push(distinct[0]);
        candidates.push(1.0);
        let mut best = f64::INFINITY;
        for &deny in &candidates {
            let no_review = figures(labels, scores, amounts, costs, deny, None);
            best = best.min(no_review.cost);
            for &review in candidates.iter().filter(|&&r| r < deny) {
                let f = figures(labels, scores, amounts, costs, deny, Some(review));
                if costs.review.is_some()
                    && f.reviews as f64 <= costs.review_rate_max * labels.len() as f64
                {
                    best = best.min(f.cost);
                }
            }
        }
        best
    }

    #[test]
    fn the_fit_finds_the_least_cost_of_every_threshold_pair() {
        let priced = [
            (FalseDeclineCost::Amount, None, 0.0),
            (FalseDeclineCost::Dollars(50.0), None, 0.0),
            (FalseDeclineCost::Dollars(50.0), Some(10.0), 0.05),
            (FalseDeclineCost::Amount, Some(3.0), 0.5),
            (FalseDeclineCost::Dollars(500.0), Some(1.0), 1.0),
        ];
        for seed in 0..6 {
            let (labels, scores, amounts) = rows(300, seed);
            for (false_decline, review, review_rate_max) in priced {
                let costs = Costs {
                    false_decline,
                    review,
                    review_rate_max,
                };
                let fitted = fit_thresholds(&labels, &scores, &amounts, &costs);
                let expected = brute_force_least_cost(&labels, &scores, &amounts, &costs);
                assert!(
                    (fitted.figures.cost - expected).abs() < 1e-6,
                    "seed {seed}, {costs:?}: fitted {fitted:?}, brute force {expected}"
                );
                assert_eq!(
                    fitted.figures,
                    figures(
                        &labels,
                        &scores,
                        &amounts,
                        &costs,
                        fitted.deny,
                        fitted.review
                    )
                );
                assert!(fitted.figures.review_rate <= review_rate_max + 1e-12);
                assert!(fitted.review.is_none_or(|r| r < fitted.deny));
                assert!(review.is_some() || fitted.review.is_none());
            }
        }
    }

    #[test]
    fn figures_count_each_kind_of_row() {
        let labels = [1, 1, 0, 0, 1, 0];
        let scores = [0.9, 0.5, 0.8, 0.4, 0.1, 0.05];
        let amounts = [100.0, 20.0, 50.0, 30.0, 7.0, 3.0];
        let costs = Costs {
            false_decline: FalseDeclineCost::Dollars(10.0),
            review: Some(2.0),
            review_rate_max: 1.0,
        };
        let f = figures(&labels, &scores, &amounts, &costs, 0.7, Some(0.3));
        assert_eq!(
            (f.frauds, f.frauds_caught, f.false_declines, f.reviews),
            (3, 2, 1, 2)
        );
        assert_eq!(f.fraud_dollars, 127.0);
        assert_eq!(f.fraud_dollars_caught, 120.0);
        assert_eq!(f.false_decline_dollars, 50.0);
        // 7 missed + 10 for the false decline + 2 x 2 for the reviews.
        assert_eq!(f.cost, 21.0);
        assert_eq!(f.false_decline_rate, 1.0 / 3.0);
        assert_eq!(f.review_rate, 2.0 / 6.0);
    }
}
