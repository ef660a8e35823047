//! Per-card history: what a card did before the transaction being scored.
//!
//! [`CardState`] sees a card's transactions in arrival order and answers, for each new one, from
//! the card's PAST only (features first, then the transaction joins the history). Work per
//! transaction is O(1) amortised: each window keeps running totals over a time-sorted queue and
//! evicts from its front. Amounts are summed in whole cents so an empty window is exactly 0 and
//! every path (batch, online, persisted and reloaded) gives bit-identical numbers.
//!
//! A transaction older than the newest one already seen ("late", e.g. Kaggle's 2019-02-28, which
//! holds two days in file order) is handled exactly by a scan of the retained history, as long
//! as it is at most [`MAX_LATENESS`] behind; older history has been evicted by then.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::schema::Category;
use crate::time::{DAY, hour_of};

/// Look-back windows in seconds: 1 hour, 24 hours, 7 days.
pub const WINDOWS: [i64; 3] = [3_600, DAY, 7 * DAY];
const W24: usize = 1;
/// How far behind a card's newest transaction a late one may arrive and still see exact windows.
pub const MAX_LATENESS: i64 = DAY;
const RETAIN: i64 = 7 * DAY + MAX_LATENESS;
const N_CATEGORIES: usize = Category::ALL.len();

/// True from 22:00 to 03:59 (UTC of `unix_time`), where most fraud happens.
pub fn is_night(unix_time: i64) -> bool {
    let hour = hour_of(unix_time);
    hour >= 22 || hour <= 3
}

/// The part of a transaction the card history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardEvent {
    pub unix_time: i64,
    pub amount_cents: i64,
    pub category: Category,
}

/// The per-card features of one transaction, from the card's earlier transactions only.
/// Ratios are NaN when the card has no usable history (the models treat NaN as missing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CardHistory {
    /// Count and amount (dollars) of earlier transactions in the last 1 h, 24 h and 7 d.
    pub counts: [f64; 3],
    pub sums: [f64; 3],
    pub secs_since_prev: f64,
    pub amt_over_card_mean: f64,
    /// (amount - card mean) / card standard deviation, over all earlier transactions.
    pub amt_zscore: f64,
    pub night_cnt_24h: f64,
    pub same_category_cnt_24h: f64,
    /// Share of the card's earlier transactions in this transaction's category.
    pub category_share: f64,
}

/// Window features of one transaction, before the lifetime ratios are added.
struct Windows {
    counts: [f64; 3],
    sums: [f64; 3],
    nights: f64,
    same_category: f64,
    secs_since_prev: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct WindowTotals {
    /// Index in `recent` of the first transaction inside the window.
    start: usize,
    count: u32,
    cents: i64,
    nights: u32,
    categories: [u16; N_CATEGORIES],
}

impl WindowTotals {
    fn add(&mut self, e: &CardEvent, sign: i64) {
        self.count = (i64::from(self.count) + sign) as u32;
        self.cents += sign * e.amount_cents;
        self.nights = (i64::from(self.nights) + sign * i64::from(is_night(e.unix_time))) as u32;
        let c = &mut self.categories[usize::from(e.category.code())];
        *c = (i64::from(*c) + sign) as u16;
    }
}

/// One card's history. Serializable so a store can persist it between requests; the running
/// window totals are a cache rebuilt from `recent` after loading.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CardState {
    count: u64,
    sum_cents: i64,
    sum_sq_cents: u128,
    category_counts: [u32; N_CATEGORIES],
    /// Newest `unix_time` seen.
    newest: Option<i64>,
    /// Transactions of the last [`RETAIN`] seconds before `newest`, sorted by time.
    recent: VecDeque<CardEvent>,
    /// Time of the newest transaction evicted from `recent`: the previous transaction of a late
    /// arrival that precedes everything retained.
    last_evicted: Option<i64>,
    #[serde(skip)]
    totals: Option<[WindowTotals; 3]>,
}

impl PartialEq for CardState {
    /// Equal histories; the cache does not matter.
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count
            && self.sum_cents == other.sum_cents
            && self.sum_sq_cents == other.sum_sq_cents
            && self.category_counts == other.category_counts
            && self.newest == other.newest
            && self.recent == other.recent
            && self.last_evicted == other.last_evicted
    }
}

impl CardState {
    /// Transactions seen on this card.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Features of `event` from the card's past, then `event` joins the history.
    pub fn observe(&mut self, event: &CardEvent) -> CardHistory {
        match self.newest {
            Some(newest) if event.unix_time < newest => {
                let history = self.history(event, self.scan(event));
                self.record(event);
                history
            }
            _ => {
                let totals = self.totals_at(event.unix_time);
                let history = self.history(event, Self::from_totals(&totals, event, self.newest));
                self.push_in_order(event, totals);
                history
            }
        }
    }

    /// Features of `event` from the card's past, without recording it.
    pub fn peek(&self, event: &CardEvent) -> CardHistory {
        let windows = match self.newest {
            Some(newest) if event.unix_time < newest => self.scan(event),
            _ => Self::from_totals(&self.totals_at(event.unix_time), event, self.newest),
        };
        self.history(event, windows)
    }

    /// Adds `event` to the history without computing features (history replay).
    pub fn record(&mut self, event: &CardEvent) {
        match self.newest {
            Some(newest) if event.unix_time < newest => {
                self.add_to_lifetime(event);
                let at = self
                    .recent
                    .partition_point(|e| e.unix_time <= event.unix_time);
                self.recent.insert(at, *event);
                self.totals = None; // rebuilt on the next in-order transaction
                self.evict();
            }
            _ => {
                let totals = self.totals_at(event.unix_time);
                self.push_in_order(event, totals);
            }
        }
    }

    fn push_in_order(&mut self, event: &CardEvent, mut totals: [WindowTotals; 3]) {
        self.add_to_lifetime(event);
        for w in &mut totals {
            w.add(event, 1);
        }
        self.recent.push_back(*event);
        self.totals = Some(totals);
        self.newest = Some(event.unix_time);
        self.evict();
    }

    fn add_to_lifetime(&mut self, event: &CardEvent) {
        self.count += 1;
        self.sum_cents += event.amount_cents;
        self.sum_sq_cents += u128::from(event.amount_cents.unsigned_abs()).pow(2);
        self.category_counts[usize::from(event.category.code())] += 1;
    }

    fn evict(&mut self) {
        let Some(newest) = self.newest else { return };
        while self
            .recent
            .front()
            .is_some_and(|e| e.unix_time <= newest - RETAIN)
        {
            self.last_evicted = self.recent.pop_front().map(|e| e.unix_time);
            if let Some(totals) = &mut self.totals {
                for w in totals {
                    // Evicted transactions are older than every window, so each start is past them.
                    w.start -= 1;
                }
            }
        }
    }

    /// Window totals ending at `t` (at or after `newest`), from the cache when there is one.
    fn totals_at(&self, t: i64) -> [WindowTotals; 3] {
        let mut totals = self.totals.unwrap_or_else(|| self.rebuild_totals());
        for (w, seconds) in totals.iter_mut().zip(WINDOWS) {
            while let Some(e) = self
                .recent
                .get(w.start)
                .filter(|e| e.unix_time <= t - seconds)
            {
                w.add(e, -1);
                w.start += 1;
            }
        }
        totals
    }

    fn from_totals(totals: &[WindowTotals; 3], event: &CardEvent, newest: Option<i64>) -> Windows {
        let cat = usize::from(event.category.code());
        Windows {
            counts: totals.map(|w| f64::from(w.count)),
            sums: totals.map(|w| w.cents as f64 / 100.0),
            nights: f64::from(totals[W24].nights),
            same_category: f64::from(totals[W24].categories[cat]),
            secs_since_prev: newest.map_or(f64::NAN, |n| (event.unix_time - n) as f64),
        }
    }

    fn history(&self, event: &CardEvent, windows: Windows) -> CardHistory {
        let amt = event.amount_cents as f64 / 100.0;
        let (mean, sd) = self.mean_and_sd();
        CardHistory {
            counts: windows.counts,
            sums: windows.sums,
            secs_since_prev: windows.secs_since_prev,
            amt_over_card_mean: if mean > 0.0 { amt / mean } else { f64::NAN },
            amt_zscore: if sd > 0.0 {
                (amt - mean) / sd
            } else {
                f64::NAN
            },
            night_cnt_24h: windows.nights,
            same_category_cnt_24h: windows.same_category,
            category_share: if self.count > 0 {
                f64::from(self.category_counts[usize::from(event.category.code())])
                    / self.count as f64
            } else {
                f64::NAN
            },
        }
    }

    fn rebuild_totals(&self) -> [WindowTotals; 3] {
        let newest = self.newest.unwrap_or(i64::MIN);
        WINDOWS.map(|seconds| {
            let start = self
                .recent
                .partition_point(|e| e.unix_time <= newest.saturating_sub(seconds));
            let mut w = WindowTotals {
                start,
                ..WindowTotals::default()
            };
            for e in self.recent.range(start..) {
                w.add(e, 1);
            }
            w
        })
    }

    /// Exact window features for a late transaction, by a scan of the retained history.
    fn scan(&self, event: &CardEvent) -> Windows {
        let t = event.unix_time;
        let mut counts = [0.0; 3];
        let mut cents = [0i64; 3];
        let (mut nights, mut same_cat, mut prev) = (0.0, 0.0, self.last_evicted);
        for e in self.recent.iter().take_while(|e| e.unix_time <= t) {
            prev = Some(e.unix_time);
            for (i, seconds) in WINDOWS.iter().enumerate() {
                if e.unix_time > t - seconds {
                    counts[i] += 1.0;
                    cents[i] += e.amount_cents;
                    if i == W24 {
                        nights += f64::from(u8::from(is_night(e.unix_time)));
                        same_cat += f64::from(u8::from(e.category == event.category));
                    }
                }
            }
        }
        Windows {
            counts,
            sums: cents.map(|c| c as f64 / 100.0),
            nights,
            same_category: same_cat,
            secs_since_prev: prev.map_or(f64::NAN, |p| (t - p) as f64),
        }
    }

    /// Mean and population standard deviation (dollars) of all earlier amounts, from exact
    /// integer sums; NaN mean and 0 deviation without history.
    fn mean_and_sd(&self) -> (f64, f64) {
        if self.count == 0 {
            return (f64::NAN, 0.0);
        }
        let n = i128::from(self.count);
        let sum = i128::from(self.sum_cents);
        let mean = sum as f64 / n as f64 / 100.0;
        // n * sum_sq - sum^2 = n^2 * variance, exact in integers.
        let spread = (n * self.sum_sq_cents as i128 - sum * sum).max(0);
        let sd = (spread as f64).sqrt() / n as f64 / 100.0;
        (mean, sd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: i64, cents: i64, category: Category) -> CardEvent {
        CardEvent {
            unix_time: t,
            amount_cents: cents,
            category,
        }
    }

    const T0: i64 = 1_325_376_000; // 2012-01-01 00:00 UTC, a Sunday

    #[test]
    fn first_transaction_has_no_history() {
        let h = CardState::default().observe(&ev(T0, 1000, Category::Home));
        assert_eq!(h.counts, [0.0; 3]);
        assert_eq!(h.sums, [0.0; 3]);
        assert!(h.secs_since_prev.is_nan() && h.amt_over_card_mean.is_nan());
        assert!(h.amt_zscore.is_nan() && h.category_share.is_nan());
    }

    #[test]
    fn hand_computed_windows() {
        let mut card = CardState::default();
        card.observe(&ev(T0, 1000, Category::Home)); // 00:00, night
        card.observe(&ev(T0 + 1800, 3000, Category::Home)); // 00:30, night
        card.observe(&ev(T0 + 5 * 3600, 2000, Category::Travel)); // 05:00
        // Next day 00:30 exactly: the 00:30 transaction is 24 h back, so outside (t - w, t].
        let h = card.observe(&ev(T0 + DAY + 1800, 6000, Category::Home));
        assert_eq!(h.counts, [0.0, 1.0, 3.0]);
        assert_eq!(h.sums, [0.0, 20.0, 60.0]);
        assert_eq!(h.night_cnt_24h, 0.0);
        assert_eq!(h.same_category_cnt_24h, 0.0);
        assert_eq!(h.secs_since_prev, (DAY + 1800 - 5 * 3600) as f64);
        assert_eq!(h.amt_over_card_mean, 3.0); // 60 / mean(10, 30, 20)
        let sd = ((100.0 + 100.0 + 0.0) / 3.0f64).sqrt();
        assert!((h.amt_zscore - 40.0 / sd).abs() < 1e-12);
        assert_eq!(h.category_share, 2.0 / 3.0);
        // Eight days later everything but the lifetime stats is gone, and exactly zero.
        let h = card.observe(&ev(T0 + 9 * DAY, 100, Category::Home));
        assert_eq!(h.counts, [0.0; 3]);
        assert_eq!(h.sums, [0.0; 3]);
        // Only what a late arrival could still need is kept: the last 8 days.
        assert_eq!(card.recent.len(), 2);
    }

    #[test]
    fn a_late_transaction_sees_only_its_own_past_and_is_kept_in_order() {
        let mut card = CardState::default();
        card.observe(&ev(T0, 1000, Category::Home));
        card.observe(&ev(T0 + 7200, 2000, Category::Home));
        let late = card.observe(&ev(T0 + 3600, 500, Category::Travel));
        assert_eq!(late.counts, [0.0, 1.0, 1.0]);
        assert_eq!(late.secs_since_prev, 3600.0);
        let times: Vec<i64> = card.recent.iter().map(|e| e.unix_time).collect();
        assert_eq!(times, vec![T0, T0 + 3600, T0 + 7200]);
        let next = card.observe(&ev(T0 + 7300, 100, Category::Home));
        // (T0 + 3700, T0 + 7300]: the late 01:00 transaction is just outside the hour.
        assert_eq!(next.counts, [1.0, 3.0, 3.0]);
        assert_eq!(next.sums, [20.0, 35.0, 35.0]);
    }

    #[test]
    fn persisted_state_answers_like_the_live_one() {
        let mut live = CardState::default();
        let mut stored = serde_json::to_string(&CardState::default()).unwrap();
        for i in 0..200 {
            let e = ev(
                T0 + i * 3000 + (i % 7) * 11,
                100 + i * 37 % 900,
                Category::ALL[(i % 14) as usize],
            );
            let mut loaded: CardState = serde_json::from_str(&stored).unwrap();
            let a = live.observe(&e);
            let b = loaded.observe(&e);
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "row {i}");
            stored = serde_json::to_string(&loaded).unwrap();
        }
        assert_eq!(live, serde_json::from_str::<CardState>(&stored).unwrap());
    }
}
