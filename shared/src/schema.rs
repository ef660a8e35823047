//! One Kaggle "kartik2112/fraud-detection" row, as read from the CSV and from the JSON body of the
//! original `/predict` service. Serde names are the original column names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time;

/// Largest amount accepted, in dollars: the Kaggle data tops out near $29k, so anything past a
/// million is a unit or parsing error upstream, not a purchase.
pub const MAX_AMOUNT: f64 = 1_000_000.0;
/// Largest `city_pop` accepted (the largest US city is under 10 million).
pub const MAX_CITY_POP: u64 = 100_000_000;
/// `unix_time` must fall before 2100-01-01.
pub const MAX_UNIX_TIME: i64 = 4_102_444_800;
/// Text fields longer than this are rejected (the longest Kaggle value is under 60 bytes).
pub const MAX_TEXT_LEN: usize = 256;
/// Oldest plausible card holder, in years, at the transaction.
pub const MAX_AGE_YEARS: i64 = 130;

/// Names of the CSV columns in file order, after the unnamed index column.
pub const COLUMNS: [&str; 22] = [
    "trans_date_trans_time",
    "cc_num",
    "merchant",
    "category",
    "amt",
    "first",
    "last",
    "gender",
    "street",
    "city",
    "state",
    "zip",
    "lat",
    "long",
    "city_pop",
    "job",
    "dob",
    "trans_num",
    "unix_time",
    "merch_lat",
    "merch_long",
    "is_fraud",
];

/// The 14 merchant categories of the data set, in the order their feature codes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Entertainment,
    FoodDining,
    GasTransport,
    GroceryNet,
    GroceryPos,
    HealthFitness,
    Home,
    KidsPets,
    MiscNet,
    MiscPos,
    PersonalCare,
    ShoppingNet,
    ShoppingPos,
    Travel,
}

impl Category {
    pub const ALL: [Category; 14] = [
        Category::Entertainment,
        Category::FoodDining,
        Category::GasTransport,
        Category::GroceryNet,
        Category::GroceryPos,
        Category::HealthFitness,
        Category::Home,
        Category::KidsPets,
        Category::MiscNet,
        Category::MiscPos,
        Category::PersonalCare,
        Category::ShoppingNet,
        Category::ShoppingPos,
        Category::Travel,
    ];

    /// The column value, e.g. `grocery_pos`.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Entertainment => "entertainment",
            Category::FoodDining => "food_dining",
            Category::GasTransport => "gas_transport",
            Category::GroceryNet => "grocery_net",
            Category::GroceryPos => "grocery_pos",
            Category::HealthFitness => "health_fitness",
            Category::Home => "home",
            Category::KidsPets => "kids_pets",
            Category::MiscNet => "misc_net",
            Category::MiscPos => "misc_pos",
            Category::PersonalCare => "personal_care",
            Category::ShoppingNet => "shopping_net",
            Category::ShoppingPos => "shopping_pos",
            Category::Travel => "travel",
        }
    }

    /// Stable numeric code (0-13), the feature value and the index of per-category counters.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl FromStr for Category {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Card holder's gender as recorded in the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Gender {
    M,
    F,
}

impl FromStr for Gender {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "M" => Ok(Gender::M),
            "F" => Ok(Gender::F),
            _ => Err(()),
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS`, held as seconds since 1970-01-01 of that (shifted) calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTimeText(pub i64);

/// `YYYY-MM-DD`, held as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateText(pub i64);

impl DateTimeText {
    pub fn days(self) -> i64 {
        self.0.div_euclid(time::DAY)
    }
}

impl FromStr for DateTimeText {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        time::parse_date_time(s).map(DateTimeText).ok_or(())
    }
}

impl FromStr for DateText {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        time::parse_date(s).map(DateText).ok_or(())
    }
}

impl fmt::Display for DateTimeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&time::format_date_time(self.0))
    }
}

impl fmt::Display for DateText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&time::format_date(self.0))
    }
}

macro_rules! text_serde {
    ($ty:ty, $expecting:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
                text.parse().map_err(|()| {
                    serde::de::Error::invalid_value(serde::de::Unexpected::Str(&text), &$expecting)
                })
            }
        }
    };
}
text_serde!(DateTimeText, "a date and time as YYYY-MM-DD HH:MM:SS");
text_serde!(DateText, "a date as YYYY-MM-DD");

/// One transaction in the Kaggle layout. `index` (the unnamed first column) and `is_fraud` are
/// optional: unlabeled input and the JSON body of `/predict` carry neither.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// The CSV's unnamed row index; in JSON bodies tolerated whatever its value, and ignored.
    #[serde(
        rename = "Unnamed: 0",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "tolerated"
    )]
    pub index: Option<u64>,
    pub trans_date_trans_time: DateTimeText,
    pub cc_num: u64,
    pub merchant: String,
    pub category: Category,
    pub amt: f64,
    pub first: String,
    pub last: String,
    pub gender: Gender,
    pub street: String,
    pub city: String,
    pub state: String,
    pub zip: u32,
    pub lat: f64,
    pub long: f64,
    pub city_pop: u64,
    pub job: String,
    pub dob: DateText,
    pub trans_num: String,
    pub unix_time: i64,
    pub merch_lat: f64,
    pub merch_long: f64,
    /// The label; optional. JSON bodies of `/predict` may carry it (the original service's
    /// clients sent whole rows): any value is tolerated there, and only 0 or 1 kept.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "tolerated"
    )]
    pub is_fraud: Option<u8>,
}

/// Accepts any JSON value for an optional column that scoring ignores: a well-typed value is
/// kept, anything else becomes `None` instead of failing the whole request.
fn tolerated<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// A field that failed validation: which one, its value, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("field `{field}` = {value:?}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &'static str, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        FieldError {
            field,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

fn check_range(field: &'static str, value: f64, lo: f64, hi: f64) -> Result<(), FieldError> {
    if !value.is_finite() {
        return Err(FieldError::new(field, value, "must be a finite number"));
    }
    if !(lo..=hi).contains(&value) {
        return Err(FieldError::new(
            field,
            value,
            format!("must be between {lo} and {hi}"),
        ));
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str, required: bool) -> Result<(), FieldError> {
    if required && value.trim().is_empty() {
        return Err(FieldError::new(field, value, "must not be empty"));
    }
    if value.len() > MAX_TEXT_LEN {
        return Err(FieldError::new(
            field,
            format!("{}...", value.chars().take(32).collect::<String>()),
            format!("is {} bytes, longer than {MAX_TEXT_LEN}", value.len()),
        ));
    }
    Ok(())
}

impl Transaction {
    /// Checks every value the features and the decision depend on; the first bad field is named.
    pub fn validate(&self) -> Result<(), FieldError> {
        if !(1_000_000_000..10_000_000_000_000_000_000).contains(&self.cc_num) {
            // Never echo a card number: only its length.
            let digits = self.cc_num.to_string().len();
            return Err(FieldError::new(
                "cc_num",
                format!("<{digits} digits>"),
                "must have 10 to 19 digits",
            ));
        }
        check_range("amt", self.amt, 0.0, MAX_AMOUNT)?;
        check_range("lat", self.lat, -90.0, 90.0)?;
        check_range("long", self.long, -180.0, 180.0)?;
        check_range("merch_lat", self.merch_lat, -90.0, 90.0)?;
        check_range("merch_long", self.merch_long, -180.0, 180.0)?;
        if self.city_pop > MAX_CITY_POP {
            return Err(FieldError::new(
                "city_pop",
                self.city_pop,
                format!("must be at most {MAX_CITY_POP}"),
            ));
        }
        if self.zip > 99_999 {
            return Err(FieldError::new(
                "zip",
                self.zip,
                "must have at most 5 digits",
            ));
        }
        if !(0..MAX_UNIX_TIME).contains(&self.unix_time) {
            return Err(FieldError::new(
                "unix_time",
                self.unix_time,
                format!("must be between 0 and {MAX_UNIX_TIME} (year 2100)"),
            ));
        }
        let age_days = self.trans_date_trans_time.days() - self.dob.0;
        if age_days < 0 {
            return Err(FieldError::new(
                "dob",
                self.dob,
                format!(
                    "is after the transaction date {}",
                    self.trans_date_trans_time
                ),
            ));
        }
        if age_days > MAX_AGE_YEARS * 366 {
            return Err(FieldError::new(
                "dob",
                self.dob,
                format!("makes the card holder older than {MAX_AGE_YEARS} years"),
            ));
        }
        if let Some(label) = self.is_fraud
            && label > 1
        {
            return Err(FieldError::new("is_fraud", label, "must be 0 or 1"));
        }
        check_text("trans_num", &self.trans_num, true)?;
        check_text("merchant", &self.merchant, true)?;
        for (field, value) in [
            ("first", &self.first),
            ("last", &self.last),
            ("street", &self.street),
            ("city", &self.city),
            ("state", &self.state),
            ("job", &self.job),
        ] {
            check_text(field, value, false)?;
        }
        Ok(())
    }

    /// The amount in whole cents (amounts carry two decimals), so sums are exact in every path.
    pub fn amount_cents(&self) -> i64 {
        (self.amt * 100.0).round() as i64
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample() -> Transaction {
        crate::testing::sample_transaction()
    }

    #[test]
    fn json_uses_the_original_column_names_and_round_trips() {
        let txn = sample();
        let json = serde_json::to_value(&txn).unwrap();
        assert_eq!(json["Unnamed: 0"], 0);
        assert_eq!(json["trans_date_trans_time"], "2019-01-01 00:00:18");
        assert_eq!(json["dob"], "1988-03-09");
        assert_eq!(json["category"], "misc_net");
        assert_eq!(json["gender"], "F");
        let back: Transaction = serde_json::from_value(json).unwrap();
        assert_eq!(back, txn);
    }

    #[test]
    fn the_original_service_body_without_index_or_label_is_accepted() {
        let mut json = serde_json::to_value(sample()).unwrap();
        json.as_object_mut().unwrap().remove("Unnamed: 0");
        json.as_object_mut().unwrap().remove("is_fraud");
        let txn: Transaction = serde_json::from_value(json).unwrap();
        assert_eq!((txn.index, txn.is_fraud), (None, None));
        txn.validate().unwrap();
    }

    #[test]
    fn validation_names_the_field_and_value() {
        type Breaker = fn(&mut Transaction);
        let cases: Vec<(Breaker, &str)> = vec![
            (|t| t.amt = f64::NAN, "amt"),
            (|t| t.amt = -1.0, "amt"),
            (|t| t.amt = 2e6, "amt"),
            (|t| t.lat = 91.0, "lat"),
            (|t| t.long = -181.0, "long"),
            (|t| t.merch_lat = f64::INFINITY, "merch_lat"),
            (|t| t.merch_long = 500.0, "merch_long"),
            (|t| t.city_pop = u64::MAX, "city_pop"),
            (|t| t.zip = 123_456, "zip"),
            (|t| t.unix_time = -5, "unix_time"),
            (
                |t| t.dob = DateText(t.trans_date_trans_time.days() + 1),
                "dob",
            ),
            (|t| t.dob = "1700-01-01".parse().unwrap(), "dob"),
            (|t| t.cc_num = 12, "cc_num"),
            (|t| t.is_fraud = Some(2), "is_fraud"),
            (|t| t.trans_num = String::new(), "trans_num"),
            (|t| t.job = "x".repeat(300), "job"),
        ];
        for (breaker, field) in cases {
            let mut txn = sample();
            breaker(&mut txn);
            let err = txn.validate().unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn a_bad_card_number_is_never_echoed() {
        let mut txn = sample();
        txn.cc_num = 123_456_789;
        let err = txn.validate().unwrap_err();
        assert!(!err.to_string().contains("123456789"), "{err}");
    }

    #[test]
    fn index_and_label_of_any_type_are_tolerated_in_json() {
        let mut json = serde_json::to_value(sample()).unwrap();
        json["Unnamed: 0"] = "row seven".into();
        json["is_fraud"] = serde_json::json!({"nested": true});
        let txn: Transaction = serde_json::from_value(json).unwrap();
        assert_eq!((txn.index, txn.is_fraud), (None, None));
    }

    #[test]
    fn unknown_category_and_bad_dates_fail_to_parse() {
        let mut json = serde_json::to_value(sample()).unwrap();
        json["category"] = "casino".into();
        let err = serde_json::from_value::<Transaction>(json).unwrap_err();
        assert!(err.to_string().contains("casino"), "{err}");
        let mut json = serde_json::to_value(sample()).unwrap();
        json["dob"] = "1988-02-30".into();
        let err = serde_json::from_value::<Transaction>(json).unwrap_err();
        assert!(err.to_string().contains("1988-02-30"), "{err}");
    }

    #[test]
    fn amounts_become_exact_cents() {
        let mut txn = sample();
        for (amt, cents) in [(4.97, 497), (45.0, 4500), (0.01, 1), (1088.43, 108_843)] {
            txn.amt = amt;
            assert_eq!(txn.amount_cents(), cents);
        }
    }
}
