//! Per-card history: what a card did before the transaction being scored.
//!
//! [`CardState`] sees a card's transactions in arrival order and answers, for each new one, from
//! the card's PAST only (features first, then the transaction joins the history). Work per
//! transaction is O(1) amortised: each window keeps running totals over a time-sorted queue and
//! evicts from its front. Amounts are summed in whole cents and first-stage risks as integers, so
//! an empty window is exactly 0 and every path (batch, online, persisted and reloaded) gives
//! bit-identical numbers.
//!
//! A transaction older than the newest one already seen ("late", e.g. Kaggle's 2019-02-28, which
//! holds two days in file order) is handled exactly by a scan of the retained history, as long
//! as it is at most [`MAX_LATENESS`] behind; older history has been evicted by then.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::schema::Category;
use crate::time::{DAY, hour_of};

/// Look-back windows in seconds: 1 hour, 6 hours, 24 hours, 7 days.
pub const WINDOWS: [i64; 4] = [3_600, 6 * 3_600, DAY, 7 * DAY];
const W6: usize = 1;
const W24: usize = 2;
/// How far behind a card's newest transaction a late one may arrive and still see exact windows.
pub const MAX_LATENESS: i64 = DAY;
const RETAIN: i64 = 7 * DAY + MAX_LATENESS;
const N_CATEGORIES: usize = Category::ALL.len();
/// An amount at or above this (in cents) is "large": fraud comes in tight clusters of high
/// amounts ($250 and up) between runs of small "testing" ones.
pub const LARGE_AMOUNT_CENTS: i64 = 20_000;
/// First-stage risks are kept as `round(probability * RISK_SCALE)` in a `u16`: two bytes per
/// remembered transaction, and integer sums that every path computes exactly.
pub const RISK_SCALE: f64 = 65_535.0;

/// True from 22:00 to 03:59 (UTC of `unix_time`), where most fraud happens.
pub fn is_night(unix_time: i64) -> bool {
    let hour = hour_of(unix_time);
    hour >= 22 || hour <= 3
}

/// True from noon: each legitimate category happens in one half of the day on a card.
fn is_afternoon(unix_time: i64) -> bool {
    hour_of(unix_time) >= 12
}

/// The part of a transaction the card history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardEvent {
    pub unix_time: i64,
    pub amount_cents: i64,
    pub category: Category,
}

/// A transaction of the card's past, with the first-stage risk it was scored with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastEvent {
    pub event: CardEvent,
    pub risk: u16,
}

/// The per-card features of one transaction, from the card's earlier transactions only.
/// Values that do not exist yet (no history, an empty ratio) are NaN, which the models treat as
/// missing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CardHistory {
    /// Count and amount (dollars) of earlier transactions in each of [`WINDOWS`].
    pub counts: [f64; 4],
    pub sums: [f64; 4],
    pub secs_since_prev: f64,
    pub amt_over_card_mean: f64,
    /// (amount - card mean) / card standard deviation, over all earlier transactions.
    pub amt_zscore: f64,
    pub night_cnt_6h: f64,
    pub night_cnt_24h: f64,
    pub same_category_cnt_24h: f64,
    /// Share of the card's earlier transactions in this transaction's category.
    pub category_share: f64,
    /// Earlier transactions of at least [`LARGE_AMOUNT_CENTS`] in the last 24 h.
    pub large_cnt_24h: f64,
    pub distinct_categories_24h: f64,
    /// Amount, category code and hour of the card's previous transaction.
    pub prev_amt: f64,
    pub prev_category: f64,
    pub prev_hour: f64,
    /// Amount over the card's mean amount in this category.
    pub amt_over_category_mean: f64,
    /// Share of the card's earlier transactions in this category that fell in the same half of
    /// the day (before or after noon) as this one.
    pub category_halfday_share: f64,
    /// First-stage risk (probability) of the previous transaction, and the sum and maximum of the
    /// risks of the last 24 h.
    pub prev_risk: f64,
    pub risk_sum_24h: f64,
    pub risk_max_24h: f64,
}

/// Window features of one transaction, before the lifetime ratios are added.
struct Windows {
    counts: [f64; 4],
    sums: [f64; 4],
    nights_6h: f64,
    nights_24h: f64,
    same_category: f64,
    large: f64,
    distinct_categories: f64,
    risk_sum: f64,
    risk_max: f64,
    prev: Option<PastEvent>,
}

impl Windows {
    /// The features of the window totals at a transaction of `event`'s category.
    fn new(
        totals: &[WindowTotals; 4],
        event: &CardEvent,
        risk_max: u16,
        prev: Option<PastEvent>,
    ) -> Self {
        let day = &totals[W24];
        Windows {
            counts: totals.map(|w| f64::from(w.count)),
            sums: totals.map(|w| w.cents as f64 / 100.0),
            nights_6h: f64::from(totals[W6].nights),
            nights_24h: f64::from(day.nights),
            same_category: f64::from(day.categories[usize::from(event.category.code())]),
            large: f64::from(day.large),
            distinct_categories: day.distinct_categories(),
            risk_sum: day.risk as f64 / RISK_SCALE,
            risk_max: f64::from(risk_max) / RISK_SCALE,
            prev,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct WindowTotals {
    /// Index in `recent` of the first transaction inside the window.
    start: usize,
    count: u32,
    cents: i64,
    nights: u32,
    large: u32,
    risk: u64,
    categories: [u16; N_CATEGORIES],
}

impl WindowTotals {
    fn add(&mut self, e: &PastEvent, sign: i64) {
        let step = |x: u32, by: bool| (i64::from(x) + sign * i64::from(by)) as u32;
        self.count = step(self.count, true);
        self.cents += sign * e.event.amount_cents;
        self.nights = step(self.nights, is_night(e.event.unix_time));
        self.large = step(self.large, e.event.amount_cents >= LARGE_AMOUNT_CENTS);
        self.risk = (self.risk as i64 + sign * i64::from(e.risk)) as u64;
        let c = &mut self.categories[usize::from(e.event.category.code())];
        *c = (i64::from(*c) + sign) as u16;
    }

    fn distinct_categories(&self) -> f64 {
        self.categories.iter().filter(|&&n| n > 0).count() as f64
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
    category_cents: [i64; N_CATEGORIES],
    /// Transactions per category made in the afternoon (the rest were in the morning).
    category_afternoons: [u32; N_CATEGORIES],
    /// Newest `unix_time` seen.
    newest: Option<i64>,
    /// Transactions of the last [`RETAIN`] seconds before `newest`, sorted by time.
    recent: VecDeque<PastEvent>,
    /// The newest transaction evicted from `recent`: the previous transaction of one that
    /// follows a long gap, or of a late arrival that precedes everything retained.
    last_evicted: Option<PastEvent>,
    #[serde(skip)]
    cache: Option<Cache>,
}

/// Running state rebuilt from `recent` after loading or after a late arrival.
#[derive(Debug, Clone, Default)]
struct Cache {
    totals: [WindowTotals; 4],
    /// The 24 h risk maximum as a monotonic queue: (position, risk) with strictly decreasing
    /// risks, so the front is the window's maximum once entries that left it are skipped; each
    /// transaction enters and leaves once (O(1) amortised). A position is an index in `recent`
    /// plus `evicted`.
    risk_max: VecDeque<(usize, u16)>,
    /// Transactions evicted from the front of `recent` since the cache was built.
    evicted: usize,
}

impl PartialEq for CardState {
    /// Equal histories; the cache does not matter.
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count
            && self.sum_cents == other.sum_cents
            && self.sum_sq_cents == other.sum_sq_cents
            && self.category_counts == other.category_counts
            && self.category_cents == other.category_cents
            && self.category_afternoons == other.category_afternoons
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

    /// Features of `event` from the card's past; then `event` joins the history with the risk
    /// that `risk_of` gives from those features.
    pub fn observe(
        &mut self,
        event: &CardEvent,
        risk_of: impl FnOnce(&CardHistory) -> u16,
    ) -> CardHistory {
        match self.newest {
            Some(newest) if event.unix_time < newest => {
                let history = self.history(event, self.scan(event));
                self.insert_late(PastEvent {
                    event: *event,
                    risk: risk_of(&history),
                });
                history
            }
            _ => {
                let totals = self.totals_at(event.unix_time);
                let history = self.history(event, self.windows_of(&totals, event));
                let past = PastEvent {
                    event: *event,
                    risk: risk_of(&history),
                };
                self.push_in_order(past, totals);
                history
            }
        }
    }

    /// Features of `event` from the card's past, without recording it.
    pub fn peek(&self, event: &CardEvent) -> CardHistory {
        let windows = match self.newest {
            Some(newest) if event.unix_time < newest => self.scan(event),
            _ => self.windows_of(&self.totals_at(event.unix_time), event),
        };
        self.history(event, windows)
    }

    fn insert_late(&mut self, past: PastEvent) {
        self.add_to_lifetime(&past.event);
        let t = past.event.unix_time;
        let at = self.recent.partition_point(|e| e.event.unix_time <= t);
        self.recent.insert(at, past);
        self.cache = None; // rebuilt on the next in-order transaction
        self.evict();
    }

    fn push_in_order(&mut self, past: PastEvent, mut totals: [WindowTotals; 4]) {
        self.add_to_lifetime(&past.event);
        for w in &mut totals {
            w.add(&past, 1);
        }
        if self.cache.is_none() {
            self.cache = Some(self.rebuild_cache());
        }
        let at = self.recent.len();
        let cache = self.cache.as_mut().expect("built above");
        let first = cache.evicted + totals[W24].start;
        let queue = &mut cache.risk_max;
        while queue.front().is_some_and(|&(pos, _)| pos < first) {
            queue.pop_front();
        }
        while queue.back().is_some_and(|&(_, risk)| risk <= past.risk) {
            queue.pop_back();
        }
        queue.push_back((cache.evicted + at, past.risk));
        cache.totals = totals;
        self.recent.push_back(past);
        self.newest = Some(past.event.unix_time);
        self.evict();
    }

    fn add_to_lifetime(&mut self, event: &CardEvent) {
        let c = usize::from(event.category.code());
        self.count += 1;
        self.sum_cents += event.amount_cents;
        self.sum_sq_cents += u128::from(event.amount_cents.unsigned_abs()).pow(2);
        self.category_counts[c] += 1;
        self.category_cents[c] += event.amount_cents;
        self.category_afternoons[c] += u32::from(is_afternoon(event.unix_time));
    }

    fn evict(&mut self) {
        let Some(newest) = self.newest else { return };
        while self
            .recent
            .front()
            .is_some_and(|e| e.event.unix_time <= newest - RETAIN)
        {
            self.last_evicted = self.recent.pop_front();
            if let Some(cache) = &mut self.cache {
                cache.evicted += 1;
                for w in &mut cache.totals {
                    // Evicted transactions are older than every window, so each start is past them.
                    w.start -= 1;
                }
            }
        }
    }

    /// Window totals ending at `t` (at or after `newest`), from the cache when there is one.
    fn totals_at(&self, t: i64) -> [WindowTotals; 4] {
        let mut totals = self
            .cache
            .as_ref()
            .map_or_else(|| self.rebuild_totals(), |c| c.totals);
        for (w, seconds) in totals.iter_mut().zip(WINDOWS) {
            while let Some(e) = self
                .recent
                .get(w.start)
                .filter(|e| e.event.unix_time <= t - seconds)
            {
                w.add(e, -1);
                w.start += 1;
            }
        }
        totals
    }

    fn windows_of(&self, totals: &[WindowTotals; 4], event: &CardEvent) -> Windows {
        let risk_max = self.risk_max_from(totals[W24].start);
        let prev = self.recent.back().copied().or(self.last_evicted);
        Windows::new(totals, event, risk_max, prev)
    }

    fn history(&self, event: &CardEvent, windows: Windows) -> CardHistory {
        let amt = event.amount_cents as f64 / 100.0;
        let c = usize::from(event.category.code());
        let (mean, sd) = self.mean_and_sd();
        let in_category = self.category_counts[c];
        let category_mean = if in_category > 0 {
            self.category_cents[c] as f64 / f64::from(in_category) / 100.0
        } else {
            f64::NAN
        };
        let same_half = if is_afternoon(event.unix_time) {
            self.category_afternoons[c]
        } else {
            in_category - self.category_afternoons[c]
        };
        let prev = windows.prev;
        CardHistory {
            counts: windows.counts,
            sums: windows.sums,
            secs_since_prev: prev
                .map_or(f64::NAN, |p| (event.unix_time - p.event.unix_time) as f64),
            amt_over_card_mean: if mean > 0.0 { amt / mean } else { f64::NAN },
            amt_zscore: if sd > 0.0 {
                (amt - mean) / sd
            } else {
                f64::NAN
            },
            night_cnt_6h: windows.nights_6h,
            night_cnt_24h: windows.nights_24h,
            same_category_cnt_24h: windows.same_category,
            category_share: if self.count > 0 {
                f64::from(in_category) / self.count as f64
            } else {
                f64::NAN
            },
            large_cnt_24h: windows.large,
            distinct_categories_24h: windows.distinct_categories,
            prev_amt: prev.map_or(f64::NAN, |p| p.event.amount_cents as f64 / 100.0),
            prev_category: prev.map_or(f64::NAN, |p| f64::from(p.event.category.code())),
            prev_hour: prev.map_or(f64::NAN, |p| f64::from(hour_of(p.event.unix_time))),
            amt_over_category_mean: if category_mean > 0.0 {
                amt / category_mean
            } else {
                f64::NAN
            },
            category_halfday_share: if in_category > 0 {
                f64::from(same_half) / f64::from(in_category)
            } else {
                f64::NAN
            },
            prev_risk: prev.map_or(f64::NAN, |p| f64::from(p.risk) / RISK_SCALE),
            risk_sum_24h: windows.risk_sum,
            risk_max_24h: windows.risk_max,
        }
    }

    /// The largest risk of `recent[start..]` (0 when empty), from the queue when there is one.
    fn risk_max_from(&self, start: usize) -> u16 {
        match &self.cache {
            Some(cache) => cache
                .risk_max
                .iter()
                .find(|&&(pos, _)| pos >= cache.evicted + start)
                .map_or(0, |&(_, risk)| risk),
            None => self
                .recent
                .range(start..)
                .map(|e| e.risk)
                .max()
                .unwrap_or(0),
        }
    }

    fn rebuild_cache(&self) -> Cache {
        let totals = self.rebuild_totals();
        let mut risk_max: VecDeque<(usize, u16)> = VecDeque::new();
        for (pos, e) in self.recent.iter().enumerate().skip(totals[W24].start) {
            while risk_max.back().is_some_and(|&(_, risk)| risk <= e.risk) {
                risk_max.pop_back();
            }
            risk_max.push_back((pos, e.risk));
        }
        Cache {
            totals,
            risk_max,
            evicted: 0,
        }
    }

    fn rebuild_totals(&self) -> [WindowTotals; 4] {
        let newest = self.newest.unwrap_or(i64::MIN);
        WINDOWS.map(|seconds| {
            let start = self
                .recent
                .partition_point(|e| e.event.unix_time <= newest.saturating_sub(seconds));
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
        let mut totals = [WindowTotals::default(); 4];
        let mut risk_max = 0;
        let mut prev = self.last_evicted;
        for e in self.recent.iter().take_while(|e| e.event.unix_time <= t) {
            prev = Some(*e);
            for (w, seconds) in totals.iter_mut().zip(WINDOWS) {
                if e.event.unix_time > t - seconds {
                    w.add(e, 1);
                }
            }
            if e.event.unix_time > t - WINDOWS[W24] {
                risk_max = risk_max.max(e.risk);
            }
        }
        Windows::new(&totals, event, risk_max, prev)
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

    /// Observes with a fixed risk for every transaction.
    fn see(card: &mut CardState, e: CardEvent, risk: u16) -> CardHistory {
        card.observe(&e, |_| risk)
    }

    const T0: i64 = 1_325_376_000; // 2012-01-01 00:00 UTC, a Sunday

    #[test]
    fn first_transaction_has_no_history() {
        let h = see(&mut CardState::default(), ev(T0, 1000, Category::Home), 0);
        assert_eq!(h.counts, [0.0; 4]);
        assert_eq!(h.sums, [0.0; 4]);
        assert!(h.secs_since_prev.is_nan() && h.amt_over_card_mean.is_nan());
        assert!(h.amt_zscore.is_nan() && h.category_share.is_nan());
        assert!(h.prev_amt.is_nan() && h.prev_risk.is_nan());
        assert!(h.amt_over_category_mean.is_nan() && h.category_halfday_share.is_nan());
        assert_eq!(
            (h.risk_sum_24h, h.risk_max_24h, h.large_cnt_24h),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn hand_computed_windows() {
        let mut card = CardState::default();
        see(&mut card, ev(T0, 1000, Category::Home), 100); // 00:00, night
        see(&mut card, ev(T0 + 1800, 30_000, Category::Home), 6553); // 00:30, night, large
        see(&mut card, ev(T0 + 5 * 3600, 2000, Category::Travel), 200); // 05:00
        // Next day 00:30 exactly: the 00:30 transaction is 24 h back, so outside (t - w, t].
        let h = see(&mut card, ev(T0 + DAY + 1800, 6000, Category::Home), 0);
        assert_eq!(h.counts, [0.0, 0.0, 1.0, 3.0]);
        assert_eq!(h.sums, [0.0, 0.0, 20.0, 330.0]);
        assert_eq!((h.night_cnt_6h, h.night_cnt_24h), (0.0, 0.0));
        assert_eq!(h.same_category_cnt_24h, 0.0);
        assert_eq!((h.large_cnt_24h, h.distinct_categories_24h), (0.0, 1.0));
        assert_eq!(h.secs_since_prev, (DAY + 1800 - 5 * 3600) as f64);
        assert_eq!(h.amt_over_card_mean, 60.0 / (330.0 / 3.0));
        assert_eq!(h.category_share, 2.0 / 3.0);
        assert_eq!(h.amt_over_category_mean, 60.0 / 155.0);
        assert_eq!(
            h.category_halfday_share, 1.0,
            "both Home ones were in the morning"
        );
        assert_eq!((h.prev_amt, h.prev_hour), (20.0, 5.0));
        assert_eq!(h.prev_category, f64::from(Category::Travel.code()));
        assert_eq!(h.prev_risk, 200.0 / RISK_SCALE);
        assert_eq!(
            (h.risk_sum_24h, h.risk_max_24h),
            (200.0 / RISK_SCALE, 200.0 / RISK_SCALE)
        );
        // Half an hour after the 00:30 one, the 6 h and 24 h windows see it and the night ones.
        let h = see(&mut card, ev(T0 + DAY + 3600, 100, Category::Home), 0);
        assert_eq!(h.counts, [1.0, 1.0, 2.0, 4.0]);
        assert_eq!((h.night_cnt_6h, h.night_cnt_24h), (1.0, 1.0));
        assert_eq!(h.risk_max_24h, 200.0 / RISK_SCALE);
        // Eight days later everything but the lifetime stats is gone, and exactly zero.
        let h = see(&mut card, ev(T0 + 9 * DAY, 100, Category::Home), 0);
        assert_eq!(h.counts, [0.0; 4]);
        assert_eq!(h.sums, [0.0; 4]);
        assert_eq!((h.risk_sum_24h, h.risk_max_24h), (0.0, 0.0));
        assert_eq!(h.prev_amt, 1.0, "the previous transaction, 8 days back");
        // Only what a late arrival could still need is kept: the last 8 days.
        assert_eq!(card.recent.len(), 3);
    }

    #[test]
    fn a_late_transaction_sees_only_its_own_past_and_is_kept_in_order() {
        let mut card = CardState::default();
        see(&mut card, ev(T0, 1000, Category::Home), 10);
        see(&mut card, ev(T0 + 7200, 2000, Category::Home), 20);
        let late = see(&mut card, ev(T0 + 3600, 500, Category::Travel), 30);
        assert_eq!(late.counts, [0.0, 1.0, 1.0, 1.0]);
        assert_eq!(late.secs_since_prev, 3600.0);
        assert_eq!(late.prev_risk, 10.0 / RISK_SCALE);
        let times: Vec<i64> = card.recent.iter().map(|e| e.event.unix_time).collect();
        assert_eq!(times, vec![T0, T0 + 3600, T0 + 7200]);
        let next = see(&mut card, ev(T0 + 7300, 100, Category::Home), 0);
        // (T0 + 3700, T0 + 7300]: the late 01:00 transaction is just outside the hour.
        assert_eq!(next.counts, [1.0, 3.0, 3.0, 3.0]);
        assert_eq!(next.sums, [20.0, 35.0, 35.0, 35.0]);
        assert_eq!(next.risk_max_24h, 30.0 / RISK_SCALE);
        assert_eq!(next.prev_risk, 20.0 / RISK_SCALE);
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
            let risk = (i * 997 % 65_536) as u16;
            let a = see(&mut live, e, risk);
            let b = see(&mut loaded, e, risk);
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "row {i}");
            stored = serde_json::to_string(&loaded).unwrap();
        }
        assert_eq!(live, serde_json::from_str::<CardState>(&stored).unwrap());
    }
}
