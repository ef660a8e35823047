//! The generator's own tables and parameters (reference/, MIT, see NOTICE), embedded in the
//! binary and parsed once: nothing is read or downloaded at run time.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use fraud_core::schema::{Category, Gender};
use fraud_core::time::days_from_civil;
use rand_distr::Gamma;
use serde::Deserialize;

use crate::SimError;

const PLACES: &str = include_str!("../reference/us_places.csv");
const MERCHANTS: &str = include_str!("../reference/merchants.csv");
const AGE_GENDER: &str = include_str!("../reference/age_gender_demographics.csv");
const MAIN_CONFIG: &str = include_str!("../reference/profiles/main_config.json");

/// The profile files by name, legitimate then fraud.
const PROFILES: [(&str, &str, &str); 12] = {
    macro_rules! p {
        ($name:literal) => {
            (
                $name,
                include_str!(concat!("../reference/profiles/", $name, ".json")),
                include_str!(concat!("../reference/profiles/fraud_", $name, ".json")),
            )
        };
    }
    [
        p!("adults_2550_female_rural"),
        p!("adults_2550_female_urban"),
        p!("adults_2550_male_rural"),
        p!("adults_2550_male_urban"),
        p!("adults_50up_female_rural"),
        p!("adults_50up_female_urban"),
        p!("adults_50up_male_rural"),
        p!("adults_50up_male_urban"),
        p!("young_adults_female_rural"),
        p!("young_adults_female_urban"),
        p!("young_adults_male_rural"),
        p!("young_adults_male_urban"),
    ]
};

/// The order of `categories_wt` in every profile file. The generator draws one uniform number,
/// walks the cumulative weights in this order to pick the category, and compares the same
/// number with the AM share: so categories early in the list happen only before noon.
const CATEGORY_ORDER: [Category; 14] = [
    Category::GasTransport,
    Category::GroceryNet,
    Category::GroceryPos,
    Category::MiscNet,
    Category::MiscPos,
    Category::ShoppingNet,
    Category::ShoppingPos,
    Category::Entertainment,
    Category::FoodDining,
    Category::HealthFitness,
    Category::Home,
    Category::KidsPets,
    Category::PersonalCare,
    Category::Travel,
];

/// One US place a card holder can live in.
#[derive(Debug, Clone)]
pub struct Place {
    /// `city,state,zip,lat,long,city_pop` rendered for the CSV (zip without leading zeros).
    pub fields: String,
    pub lat: f64,
    pub long: f64,
    pub city_pop: u64,
}

#[derive(Deserialize)]
struct MinMax {
    min: i64,
    max: i64,
}

#[derive(Deserialize)]
struct Holiday {
    #[serde(rename = "start_date (MM-DD)")]
    start: String,
    #[serde(rename = "end_date (MM-DD)")]
    end: String,
    weight: f64,
}

#[derive(Deserialize)]
struct DateWeights {
    day_of_week: BTreeMap<String, f64>,
    time_of_year: BTreeMap<String, Holiday>,
    year: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
struct MeanSd {
    mean: f64,
    stdev: f64,
}

#[derive(Deserialize)]
struct ProfileFile {
    avg_transactions_per_day: MinMax,
    date_wt: DateWeights,
    categories_wt: BTreeMap<String, f64>,
    categories_amt: BTreeMap<String, MeanSd>,
    shopping_time: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
struct Range {
    min: f64,
    max: f64,
}

#[derive(Deserialize)]
struct Rule {
    gender: String,
    age: Range,
    city_pop: Range,
}

/// The share of each (month, day) of a year.
type DayShares = BTreeMap<(u32, u32), f64>;

/// A behaviour profile (legitimate or fraud), ready to sample from.
#[derive(Debug)]
pub struct Profile {
    /// Transactions per day of the date range: uniform integer in `min..=max`.
    pub rate: (u64, u64),
    /// Weekday proportions, Monday = 0.
    pub weekday: [f64; 7],
    /// Proportion of each (month, day) in a non-leap and a leap year.
    season: [DayShares; 2],
    /// Year weights in the order of the range's years (missing years weigh 100).
    years: Vec<f64>,
    /// Cumulative category proportions in [`CATEGORY_ORDER`].
    pub categories: [(Category, f64); 14],
    /// Cumulative share of AM shopping (the same draw as the category).
    pub am_share: f64,
    /// Amount distribution per category code.
    pub amounts: [Gamma<f64>; 14],
}

fn proportions<K: Ord + Clone>(weights: &BTreeMap<K, f64>) -> BTreeMap<K, f64> {
    let total: f64 = weights.values().sum();
    weights
        .iter()
        .map(|(k, w)| (k.clone(), w / total))
        .collect()
}

fn month_day(text: &str) -> Option<(u32, u32)> {
    let (m, d) = text.split_once('-')?;
    Some((m.trim().parse().ok()?, d.trim().parse().ok()?))
}

/// `date_wt.day_of_week` as Monday-first proportions (a missing day weighs 100).
fn weekday_proportions(day_of_week: &BTreeMap<String, f64>) -> [f64; 7] {
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let weekday_w: BTreeMap<usize, f64> = days
        .iter()
        .enumerate()
        .map(|(i, d)| (i, *day_of_week.get(*d).unwrap_or(&100.0)))
        .collect();
    let weekday_p = proportions(&weekday_w);
    std::array::from_fn(|i| weekday_p[&i])
}

/// `date_wt.time_of_year` as the proportion of each (month, day), in a non-leap and a leap year.
/// Every day weighs 100 unless a holiday range says otherwise.
fn season_proportions(time_of_year: &BTreeMap<String, Holiday>) -> Result<[DayShares; 2], String> {
    let mut all: BTreeMap<(u32, u32), f64> = BTreeMap::new();
    for day in days_from_civil(2000, 1, 1)..days_from_civil(2001, 1, 1) {
        let (_, m, d) = fraud_core::time::civil_from_days(day);
        all.insert((m, d), 100.0);
    }
    for (holiday, h) in time_of_year {
        let (start, end) = match (month_day(&h.start), month_day(&h.end)) {
            (Some(s), Some(e)) if s <= e => (s, e),
            _ => {
                return Err(format!(
                    "time_of_year {holiday}: bad dates {} .. {}",
                    h.start, h.end
                ));
            }
        };
        for (_, w) in all.range_mut(start..=end) {
            *w = h.weight;
        }
    }
    let mut non_leap = all.clone();
    non_leap.remove(&(2, 29));
    Ok([proportions(&non_leap), proportions(&all)])
}

/// `categories_wt` as cumulative proportions in [`CATEGORY_ORDER`], the order the generator
/// walks them in.
fn cumulative_categories(
    categories_wt: &BTreeMap<String, f64>,
) -> Result<[(Category, f64); 14], String> {
    let total: f64 = CATEGORY_ORDER
        .iter()
        .map(|c| categories_wt.get(c.as_str()).copied().unwrap_or(0.0))
        .sum();
    if categories_wt.len() != CATEGORY_ORDER.len() || total <= 0.0 {
        return Err("categories_wt must weigh the 14 categories".into());
    }
    let mut cum = 0.0;
    Ok(CATEGORY_ORDER.map(|c| {
        cum += categories_wt[c.as_str()] / total;
        (c, cum)
    }))
}

/// `shopping_time`'s share of AM shopping.
fn am_share(shopping_time: &BTreeMap<String, f64>) -> Result<f64, String> {
    let (am, pm) = (
        shopping_time.get("AM").copied().unwrap_or(0.0),
        shopping_time.get("PM").copied().unwrap_or(0.0),
    );
    if am + pm <= 0.0 {
        return Err("shopping_time must weigh AM and PM".into());
    }
    Ok(am / (am + pm))
}

/// `categories_amt` as a gamma distribution per category code, with the file's mean and
/// standard deviation.
fn amount_distributions(
    categories_amt: &BTreeMap<String, MeanSd>,
) -> Result<[Gamma<f64>; 14], String> {
    let mut amounts = Vec::with_capacity(14);
    for c in Category::ALL {
        let MeanSd { mean, stdev } = categories_amt
            .get(c.as_str())
            .ok_or_else(|| format!("categories_amt lacks {c}"))?;
        let gamma = Gamma::new(mean * mean / (stdev * stdev), stdev * stdev / mean)
            .map_err(|e| format!("categories_amt {c}: {e}"))?;
        amounts.push(gamma);
    }
    Ok(amounts.try_into().expect("14 categories"))
}

impl Profile {
    /// Parses the profile file `name`; its errors name the file.
    fn parse(name: &str, json: &str) -> Result<Self, SimError> {
        let bad = |reason: String| SimError::Reference {
            file: format!("profiles/{name}.json"),
            reason,
        };
        let file: ProfileFile = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        Profile::from_file(&file).map_err(bad)
    }

    /// The sampling form of a profile file (the first problem found is the one reported).
    fn from_file(file: &ProfileFile) -> Result<Self, String> {
        let (lo, hi) = (
            file.avg_transactions_per_day.min,
            file.avg_transactions_per_day.max,
        );
        if lo < 0 || hi < lo {
            return Err(format!("avg_transactions_per_day {lo}..{hi}"));
        }
        Ok(Profile {
            rate: (lo as u64, hi as u64),
            weekday: weekday_proportions(&file.date_wt.day_of_week),
            season: season_proportions(&file.date_wt.time_of_year)?,
            years: file.date_wt.year.values().copied().collect(),
            categories: cumulative_categories(&file.categories_wt)?,
            am_share: am_share(&file.shopping_time)?,
            amounts: amount_distributions(&file.categories_amt)?,
        })
    }

    /// Unnormalised weight of a day (days since 1970-01-01), the generator's product of year,
    /// time-of-year and weekday proportions. `year_index` counts years from the range's start.
    pub fn day_weight(&self, day: i64, year_index: usize) -> f64 {
        let (year, m, d) = fraud_core::time::civil_from_days(day);
        // The generator tests `year % 4 == 0` for its leap table; so do we.
        let season = &self.season[usize::from(year % 4 == 0)];
        let year_w = self.years.get(year_index).copied().unwrap_or(100.0);
        let weekday = (day + 3).rem_euclid(7) as usize;
        year_w * season.get(&(m, d)).copied().unwrap_or(0.0) * self.weekday[weekday]
    }

    /// The category and half day of one draw `r` in [0, 1).
    pub fn category_and_half(&self, r: f64) -> (Category, bool) {
        let category = self
            .categories
            .iter()
            .find(|(_, cum)| *cum >= r)
            .map_or(self.categories[13].0, |(c, _)| *c);
        (category, r <= self.am_share)
    }
}

/// A rule of main_config.json: which customers get a profile.
#[derive(Debug)]
pub struct ProfileRule {
    pub profile: usize,
    pub gender: Gender,
    pub age: (f64, f64),
    pub city_pop: (f64, f64),
}

/// All reference data.
#[derive(Debug)]
pub struct Reference {
    pub places: Vec<Place>,
    /// Merchant names per category code, rendered as CSV fields.
    pub merchants: [Vec<String>; 14],
    /// Cumulative share, age, gender.
    pub age_gender: Vec<(f64, u32, Gender)>,
    pub profiles: Vec<Profile>,
    pub fraud_profiles: Vec<Profile>,
    pub rules: Vec<ProfileRule>,
}

/// A CSV field, quoted when it holds a comma, a quote or a line end.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn parse_places() -> Result<Vec<Place>, SimError> {
    let mut places = Vec::new();
    for (i, line) in PLACES.lines().enumerate().skip(1) {
        let bad = |reason: &str| SimError::Reference {
            file: format!("us_places.csv, line {}", i + 1),
            reason: reason.into(),
        };
        let (_, output) = line
            .split_once(',')
            .ok_or_else(|| bad("no output column"))?;
        let f: Vec<&str> = output.split('|').collect();
        if f.len() != 6 {
            return Err(bad("expected city|state|zip|lat|long|city_pop"));
        }
        let zip: u32 = f[2].parse().map_err(|_| bad("bad zip"))?;
        let lat: f64 = f[3].parse().map_err(|_| bad("bad lat"))?;
        let long: f64 = f[4].parse().map_err(|_| bad("bad long"))?;
        let city_pop: u64 = f[5].parse().map_err(|_| bad("bad city_pop"))?;
        places.push(Place {
            fields: format!(
                "{},{},{zip},{},{},{city_pop}",
                csv_field(f[0]),
                csv_field(f[1]),
                f[3],
                f[4]
            ),
            lat,
            long,
            city_pop,
        });
    }
    Ok(places)
}

/// Merchant names per category code (lines of an unknown category are skipped).
fn parse_merchants() -> [Vec<String>; 14] {
    let mut merchants: [Vec<String>; 14] = Default::default();
    for line in MERCHANTS.lines().skip(1) {
        if let Some((category, name)) = line.split_once('|')
            && let Ok(c) = category.parse::<Category>()
        {
            merchants[usize::from(c.code())].push(csv_field(name));
        }
    }
    merchants
}

/// The census table as (cumulative share, age, gender), for one uniform draw to pick from.
fn parse_age_gender() -> Result<Vec<(f64, u32, Gender)>, SimError> {
    let mut age_gender = Vec::new();
    let mut cum = 0.0;
    for (i, line) in AGE_GENDER.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let parsed = (f.len() == 4)
            .then(|| Some((f[1].parse::<u32>().ok()?, f[2], f[3].parse::<f64>().ok()?)))
            .flatten();
        let (age, gender, prop) = parsed.ok_or_else(|| SimError::Reference {
            file: format!("age_gender_demographics.csv, line {}", i + 1),
            reason: "expected ,age,gender,prop".into(),
        })?;
        cum += prop;
        let gender = if gender.starts_with('M') {
            Gender::M
        } else {
            Gender::F
        };
        age_gender.push((cum, age, gender));
    }
    Ok(age_gender)
}

/// The legitimate and the fraud profiles, both in [`PROFILES`] order.
fn parse_profiles() -> Result<(Vec<Profile>, Vec<Profile>), SimError> {
    let mut profiles = Vec::new();
    let mut fraud_profiles = Vec::new();
    for (name, legit, fraud) in PROFILES {
        profiles.push(Profile::parse(name, legit)?);
        fraud_profiles.push(Profile::parse(&format!("fraud_{name}"), fraud)?);
    }
    Ok((profiles, fraud_profiles))
}

/// The rules of main_config.json, each naming its profile by index in [`PROFILES`]; a negative
/// maximum means no upper bound.
fn parse_rules() -> Result<Vec<ProfileRule>, SimError> {
    let bad = |reason: String| SimError::Reference {
        file: "profiles/main_config.json".into(),
        reason,
    };
    let config: BTreeMap<String, Rule> =
        serde_json::from_str(MAIN_CONFIG).map_err(|e| bad(e.to_string()))?;
    let open = |x: f64| if x < 0.0 { f64::INFINITY } else { x };
    let mut rules = Vec::new();
    for (file, rule) in config {
        let name = file.trim_end_matches(".json");
        let profile = PROFILES
            .iter()
            .position(|(n, _, _)| *n == name)
            .ok_or_else(|| bad(format!("unknown profile {file}")))?;
        rules.push(ProfileRule {
            profile,
            gender: if rule.gender == "M" {
                Gender::M
            } else {
                Gender::F
            },
            age: (rule.age.min, open(rule.age.max)),
            city_pop: (rule.city_pop.min, open(rule.city_pop.max)),
        });
    }
    Ok(rules)
}

fn parse() -> Result<Reference, SimError> {
    let places = parse_places()?;
    let merchants = parse_merchants();
    let age_gender = parse_age_gender()?;
    let (profiles, fraud_profiles) = parse_profiles()?;
    let rules = parse_rules()?;
    Ok(Reference {
        places,
        merchants,
        age_gender,
        profiles,
        fraud_profiles,
        rules,
    })
}

static REFERENCE: LazyLock<Result<Reference, SimError>> = LazyLock::new(parse);

/// The parsed reference data (parsed on first use).
pub fn reference() -> Result<&'static Reference, SimError> {
    REFERENCE.as_ref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_parse_completely() {
        let r = reference().unwrap();
        assert_eq!(r.places.len(), 32_948);
        assert!(r.merchants.iter().all(|m| m.len() == 50));
        assert_eq!(r.profiles.len(), 12);
        assert_eq!(r.rules.len(), 12);
        assert!((r.age_gender.last().unwrap().0 - 1.0).abs() < 1e-6);
        let ages: Vec<u32> = r.age_gender.iter().map(|a| a.1).collect();
        assert_eq!((ages[0], *ages.last().unwrap()), (15, 95));
        assert!(
            r.merchants[usize::from(Category::MiscNet.code())]
                .iter()
                .any(|m| m.starts_with("\"fraud_"))
        );
    }

    #[test]
    fn one_draw_decides_category_and_half_day() {
        let r = reference().unwrap();
        for (i, p) in r.profiles.iter().enumerate() {
            // The first categories of the list are AM only, the last ones PM only.
            for (r, expect_am) in [(0.001, true), (0.999, false)] {
                assert_eq!(p.category_and_half(r).1, expect_am, "profile {i}");
            }
            let (c, _) = p.category_and_half(0.0);
            assert_eq!(c, Category::GasTransport);
            assert_eq!(p.category_and_half(1.0).0, Category::Travel);
        }
    }

    #[test]
    fn december_weighs_double_and_weekends_more() {
        let p = &reference().unwrap().profiles[0];
        let dec = p.day_weight(days_from_civil(2012, 12, 12), 0);
        let oct = p.day_weight(days_from_civil(2012, 10, 10), 0);
        // Both Wednesdays.
        assert!((dec / oct - 2.0).abs() < 1e-12);
        let sat = p.day_weight(days_from_civil(2012, 10, 13), 0);
        assert!(sat > oct * 1.4);
    }
}
