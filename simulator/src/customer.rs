//! Card holders and their transactions.

use fake::Fake;
use fake::faker::address::en::{BuildingNumber, SecondaryAddress, StreetName};
use fake::faker::job::en::Title;
use fake::faker::name::en::{FirstName, LastName};
use fraud_core::schema::{Category, Gender};
use fraud_core::time::{DAY, format_date};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};

use crate::reference::{Profile, Reference, csv_field};

/// The random stream of customer `customer` for `stream` (a day number, or one of the tags
/// below): independent of every other stream, so the output does not depend on thread count.
fn rng_for(seed: u64, customer: u32, stream: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..12].copy_from_slice(&customer.to_le_bytes());
    key[16..24].copy_from_slice(&stream.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

const INIT_STREAM: u64 = u64::MAX;
const CARD_STREAM: u64 = u64::MAX - 1;

/// One generated transaction, before formatting.
#[derive(Debug, Clone)]
pub struct Row {
    /// Seconds since 1970-01-01 in the generator's calendar.
    pub unix_time: i64,
    pub customer: u32,
    /// Tie-break between one customer's rows of the same second.
    pub seq: u32,
    pub category: Category,
    pub cents: i64,
    pub merchant: u16,
    pub merch_lat: f64,
    pub merch_long: f64,
    pub fraud: bool,
    pub trans_num: u128,
}

/// A card holder with the state of their legitimate-transaction stream.
#[derive(Debug)]
pub struct Customer {
    pub index: u32,
    pub card: u64,
    /// `first,last,gender,street,city,state,zip,lat,long,city_pop,job,dob`, rendered once.
    pub fields: String,
    pub profile: usize,
    lat: f64,
    long: f64,
    /// Legitimate transactions not yet placed on a day.
    remaining: u64,
    /// The fraud episode's rows, in time order (empty without an episode).
    fraud_rows: Vec<Row>,
    /// Days holding fraud rows: the customer's legitimate rows on them are removed.
    fraud_days: Vec<i64>,
}

/// A card number of one of the networks the generator's Faker picks, with a valid Luhn digit.
fn card_number(rng: &mut impl Rng) -> u64 {
    // (prefix, length, weight): shares of card lengths as in the Kaggle data.
    const NETWORKS: [(&str, usize, u32); 10] = [
        ("50", 12, 2),   // Maestro
        ("4", 13, 2),    // Visa 13
        ("36", 14, 2),   // Diners
        ("34", 15, 2),   // Amex
        ("2131", 15, 2), // JCB 15
        ("51", 16, 3),   // Mastercard
        ("4", 16, 3),    // Visa 16
        ("6011", 16, 2), // Discover
        ("3528", 16, 2), // JCB 16
        ("4", 19, 2),    // Visa 19
    ];
    let total: u32 = NETWORKS.iter().map(|n| n.2).sum();
    let mut pick = rng.random_range(0..total);
    let &(prefix, len, _) = NETWORKS
        .iter()
        .find(|n| {
            let hit = pick < n.2;
            pick = pick.saturating_sub(n.2);
            hit
        })
        .expect("weights cover the range");
    let mut number = prefix
        .bytes()
        .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
    for _ in prefix.len()..len - 1 {
        number = number * 10 + rng.random_range(0..10);
    }
    (0..10)
        .map(|check| number * 10 + check)
        .find(|&n| luhn_valid(n))
        .expect("one check digit fits")
}

/// The Luhn checksum every real card number satisfies.
fn luhn_valid(number: u64) -> bool {
    let sum: u64 = number
        .to_string()
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u64::from(b - b'0');
            match (i % 2 == 1, d * 2) {
                (true, x) if x > 9 => x - 9,
                (true, x) => x,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Replaces the rare repeated card number, so every customer has a card of their own.
pub fn make_cards_unique(customers: &mut [Customer], seed: u64) {
    let mut seen = std::collections::HashSet::with_capacity(customers.len());
    for c in customers.iter_mut() {
        let mut rng = rng_for(seed, c.index, CARD_STREAM);
        while !seen.insert(c.card) {
            c.card = card_number(&mut rng);
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl Customer {
    /// Customer `index`: who they are, where they live, their profile, and the fraud episode.
    /// `first..=last` are the generator's days. Ages are census ages on `reference_day`, the
    /// day the generator "ran": dob = that day - age, as the original computed it from today.
    pub fn new(
        index: u32,
        seed: u64,
        first: i64,
        last: i64,
        reference_day: i64,
        reference: &Reference,
    ) -> Self {
        let mut rng = rng_for(seed, index, INIT_STREAM);
        let r: f64 = rng.random();
        let &(_, age, gender) = reference
            .age_gender
            .iter()
            .find(|(cum, _, _)| *cum > r)
            .unwrap_or_else(|| reference.age_gender.last().expect("demographics table"));
        let age_years = f64::from(age) + rng.random::<f64>();
        let dob = reference_day - (age_years * 365.25) as i64;
        let place = &reference.places[rng.random_range(0..reference.places.len())];
        let profile = reference
            .rules
            .iter()
            .find(|rule| {
                rule.gender == gender
                    && (rule.age.0..rule.age.1).contains(&age_years)
                    && (rule.city_pop.0..rule.city_pop.1).contains(&(place.city_pop as f64))
            })
            .map_or(0, |rule| rule.profile);
        let first_name: String = FirstName().fake_with_rng(&mut rng);
        let last_name: String = LastName().fake_with_rng(&mut rng);
        let number: String = BuildingNumber().fake_with_rng(&mut rng);
        let street: String = StreetName().fake_with_rng(&mut rng);
        let street = if rng.random_bool(0.3) {
            let secondary: String = SecondaryAddress().fake_with_rng(&mut rng);
            format!("{number} {street} {secondary}")
        } else {
            format!("{number} {street}")
        };
        let job: String = Title().fake_with_rng(&mut rng);
        let fields = format!(
            "{},{},{},{},{},{},{}",
            csv_field(&first_name),
            csv_field(&last_name),
            if gender == Gender::M { "M" } else { "F" },
            csv_field(&street),
            place.fields,
            csv_field(&job),
            format_date(dob)
        );
        let card = card_number(&mut rng);
        let legit = &reference.profiles[profile];
        let rate = rng.random_range(legit.rate.0..=legit.rate.1);
        let mut customer = Customer {
            index,
            card,
            fields,
            profile,
            lat: place.lat,
            long: place.long,
            remaining: (last - first) as u64 * rate,
            fraud_rows: Vec::new(),
            fraud_days: Vec::new(),
        };
        // 99 of the 101 values of randint(0, 100) start an episode, as in the generator.
        if rng.random_range(0..=100) < 99 {
            customer.add_fraud_episode(&mut rng, first, last, reference);
        }
        customer
    }

    /// Two calendar days at a random date, `U{min..max}` fraud rows spread over them by the
    /// fraud profile's day weights.
    fn add_fraud_episode(
        &mut self,
        rng: &mut ChaCha8Rng,
        first: i64,
        last: i64,
        reference: &Reference,
    ) {
        let start = first + rng.random_range(1..=(last - first - 7));
        let profile = &reference.fraud_profiles[self.profile];
        let n = rng.random_range(profile.rate.0..=profile.rate.1);
        let first_year = fraud_core::time::civil_from_days(start).0;
        let weight = |d: i64| {
            profile.day_weight(
                d,
                (fraud_core::time::civil_from_days(d).0 - first_year) as usize,
            )
        };
        let (w0, w1) = (weight(start), weight(start + 1));
        let share0 = if w0 + w1 > 0.0 { w0 / (w0 + w1) } else { 0.5 };
        for seq in 0..n {
            let day = if rng.random::<f64>() <= share0 {
                start
            } else {
                start + 1
            };
            let row = self.transaction(rng, profile, day, true, seq as u32, reference);
            self.fraud_rows.push(row);
            if !self.fraud_days.contains(&day) {
                self.fraud_days.push(day);
            }
        }
        self.fraud_rows.sort_by_key(|r| (r.unix_time, r.seq));
    }

    pub fn has_fraud_episode(&self) -> bool {
        !self.fraud_rows.is_empty()
    }

    /// This customer's rows of generator day `day`: the day's share of the remaining legitimate
    /// transactions (`share` = the day's weight over the rest's), dropped on a fraud day, and
    /// the fraud rows of the day.
    pub fn rows_on(&mut self, day: i64, share: f64, seed: u64, reference: &Reference) -> Vec<Row> {
        let mut rng = rng_for(seed, self.index, day as u64);
        let n = if self.remaining == 0 || share <= 0.0 {
            0
        } else if share >= 1.0 {
            self.remaining
        } else {
            Binomial::new(self.remaining, share).map_or(0, |b| b.sample(&mut rng))
        };
        self.remaining -= n;
        let mut rows: Vec<Row> = self
            .fraud_rows
            .iter()
            .filter(|r| r.unix_time.div_euclid(DAY) == day)
            .cloned()
            .collect();
        if !self.fraud_days.contains(&day) {
            let profile = &reference.profiles[self.profile];
            for seq in 0..n {
                rows.push(self.transaction(
                    &mut rng,
                    profile,
                    day,
                    false,
                    1000 + seq as u32,
                    reference,
                ));
            }
        }
        rows
    }

    /// One transaction of `profile` on `day`.
    fn transaction(
        &self,
        rng: &mut ChaCha8Rng,
        profile: &Profile,
        day: i64,
        fraud: bool,
        seq: u32,
        reference: &Reference,
    ) -> Row {
        let (category, am) = profile.category_and_half(rng.random());
        let mut amount = profile.amounts[usize::from(category.code())].sample(rng);
        if amount < 1.0 {
            // The generator's own patch for the many sub-dollar gamma draws.
            amount = rng.random_range(1.0..10.0);
        }
        let (mut from, mut to) = if am { (0, 12) } else { (12, 24) };
        if fraud && rng.random_range(1..=100) > 20 {
            // 80 % of fraud moves to the night: 00-03 for a morning draw, 22-23 for an afternoon one.
            if am {
                to = 4;
            } else {
                from = 22;
            }
        }
        let seconds = rng.random_range(from..to) * 3600
            + rng.random_range(0..60) * 60
            + rng.random_range(0..60);
        let merchants = &reference.merchants[usize::from(category.code())];
        Row {
            unix_time: day * DAY + seconds,
            customer: self.index,
            seq,
            category,
            cents: (amount * 100.0).round() as i64,
            merchant: rng.random_range(0..merchants.len()) as u16,
            // Within one degree of home on each axis, six decimals, added in floating point
            // as the original pipeline did (hence the occasional 17-digit value).
            merch_lat: self.lat + round6(rng.random_range(-1.0..=1.0)),
            merch_long: self.long + round6(rng.random_range(-1.0..=1.0)),
            fraud,
            trans_num: rng.random(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_known_numbers_and_rejects_a_changed_digit() {
        assert!(luhn_valid(4_111_111_111_111_111));
        assert!(luhn_valid(79_927_398_713));
        assert!(!luhn_valid(79_927_398_714));
    }

    #[test]
    fn card_numbers_pass_luhn_and_span_the_kaggle_lengths() {
        let mut rng = rng_for(1, 2, 3);
        let mut lengths = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let n = card_number(&mut rng);
            assert!(luhn_valid(n), "{n}");
            lengths.insert(n.to_string().len());
        }
        assert_eq!(
            lengths.into_iter().collect::<Vec<_>>(),
            vec![12, 13, 14, 15, 16, 19]
        );
    }
}
