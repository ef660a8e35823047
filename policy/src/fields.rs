//! The names a rule may use: the transaction's fields, its features and the score. Resolved on
//! demand while a rule runs, so a decision builds no map of values.

use cel::common::types::{CelBool, CelDouble, CelInt, CelString};
use cel::common::value::CowVal;
use cel::context::VariableResolver;
use fraud_core::card_key::CardKey;
use fraud_core::schema::Gender;
use fraud_core::{FEATURE_NAMES, FeatureVector, Transaction};

/// What a rule sees of one transaction.
#[derive(Clone, Copy)]
pub struct PolicyInput<'a> {
    pub txn: &'a Transaction,
    pub card: &'a CardKey,
    /// In [`FEATURE_NAMES`] order; NaN where the card has no history (any comparison is false).
    pub features: &'a FeatureVector,
    /// The model's fraud probability.
    pub score: f64,
    pub card_history_used: bool,
}

/// The transaction's own fields, with their CEL types. These names win over features of the same
/// name (`category` is the category's name here, not the model's code for it).
const TRANSACTION_FIELDS: [(&str, &str); 14] = [
    ("amt", "double, dollars"),
    ("category", "string, e.g. \"shopping_net\""),
    ("merchant", "string"),
    ("state", "string, e.g. \"NY\""),
    ("zip", "int"),
    ("city", "string"),
    ("city_pop", "int"),
    ("gender", "string, \"M\" or \"F\""),
    ("lat", "double"),
    ("long", "double"),
    ("merch_lat", "double"),
    ("merch_long", "double"),
    ("unix_time", "int, seconds"),
    ("card", "string, the card key"),
];

/// Features with a type of their own; every other feature is a double.
const TYPED_FEATURES: [(&str, &str); 3] = [
    ("hour", "int, 0-23"),
    ("weekday", "int, 0 (Monday)-6"),
    ("is_night", "bool, 22:00-03:59"),
];

/// Everything else a rule may name.
const DECISION_FIELDS: [(&str, &str); 2] = [
    ("score", "double, the model's fraud probability"),
    (
        "card_history_used",
        "bool, false when the card state was unavailable",
    ),
];

/// Every name a rule may use and its type, in the order the policy README lists them.
pub fn field_names() -> Vec<(&'static str, String)> {
    let mut names: Vec<(&'static str, String)> = TRANSACTION_FIELDS
        .iter()
        .chain(&DECISION_FIELDS)
        .map(|(name, kind)| (*name, (*kind).to_owned()))
        .collect();
    for name in FEATURE_NAMES {
        if TRANSACTION_FIELDS.iter().any(|(field, _)| *field == name) {
            continue;
        }
        let kind = TYPED_FEATURES
            .iter()
            .find(|(feature, _)| *feature == name)
            .map_or("double, feature (NaN without card history)", |(_, kind)| {
                *kind
            });
        names.push((name, kind.to_owned()));
    }
    names
}

/// Whether a rule may use `name`.
pub fn is_known(name: &str) -> bool {
    resolve(name, None).is_some()
}

impl VariableResolver for PolicyInput<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        resolve(variable, Some(self))
    }
}

/// Every field at a placeholder of its type (0, "", false): a rule is run on it once at load,
/// so a type error (`category > 3`) refuses the policy instead of failing on live traffic.
pub struct Placeholders;

impl VariableResolver for Placeholders {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        resolve(variable, None)
    }
}

/// `name`'s value for `input`, or a placeholder of its type without one.
fn resolve<'b>(name: &str, input: Option<&'b PolicyInput<'_>>) -> Option<CowVal<'b, 'b>> {
    let text = |value: &'b str| Some(CowVal::owned(CelString::from(value)));
    let double = |value: f64| Some(CowVal::owned(CelDouble::from(value)));
    let int = |value: i64| Some(CowVal::owned(CelInt::from(value)));
    let flag = |value: bool| Some(CowVal::owned(CelBool::from(value)));
    let txn = input.map(|input| input.txn);
    let of_txn = |read: fn(&Transaction) -> f64| txn.map_or(0.0, read);
    match name {
        "amt" => double(of_txn(|t| t.amt)),
        "category" => text(txn.map_or("", |t| t.category.as_str())),
        "merchant" => text(txn.map_or("", |t| t.merchant.as_str())),
        "state" => text(txn.map_or("", |t| t.state.as_str())),
        "zip" => int(txn.map_or(0, |t| i64::from(t.zip))),
        "city" => text(txn.map_or("", |t| t.city.as_str())),
        "city_pop" => int(txn.map_or(0, |t| t.city_pop as i64)),
        "gender" => text(match txn.map(|t| t.gender) {
            Some(Gender::F) => "F",
            _ => "M",
        }),
        "lat" => double(of_txn(|t| t.lat)),
        "long" => double(of_txn(|t| t.long)),
        "merch_lat" => double(of_txn(|t| t.merch_lat)),
        "merch_long" => double(of_txn(|t| t.merch_long)),
        "unix_time" => int(txn.map_or(0, |t| t.unix_time)),
        "card" => text(input.map_or("", |input| input.card.as_str())),
        "score" => double(input.map_or(0.0, |input| input.score)),
        "card_history_used" => flag(input.is_some_and(|input| input.card_history_used)),
        _ => {
            let index = FEATURE_NAMES.iter().position(|feature| *feature == name)?;
            let value = input.map_or(0.0, |input| input.features[index]);
            match name {
                "hour" | "weekday" => int(value as i64),
                "is_night" => flag(value == 1.0),
                _ => double(value),
            }
        }
    }
}
