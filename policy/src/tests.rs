use fraud_core::card_key::{CardHasher, CardKey};
use fraud_core::ports::Outcome;
use fraud_core::schema::Category;
use fraud_core::testing::sample_transaction;
use fraud_core::{FEATURE_NAMES, FeatureVector, N_FEATURES, Transaction};
use serde_json::{Value, json};

use crate::{Policy, PolicyInput, Problem, THRESHOLD};

fn card_key(cc_num: u64) -> CardKey {
    CardHasher::new(b"a test secret of some length")
        .unwrap()
        .key(cc_num)
}

fn features() -> FeatureVector {
    let mut features = [f64::NAN; N_FEATURES];
    let set = |features: &mut FeatureVector, name: &str, value: f64| {
        features[FEATURE_NAMES.iter().position(|f| *f == name).unwrap()] = value;
    };
    set(&mut features, "hour", 2.0);
    set(&mut features, "is_night", 1.0);
    set(&mut features, "cnt_24h", 3.0);
    features
}

/// A policy with every part: lists of each kind, three rules, review on.
fn full_policy() -> Value {
    json!({
        "schema_version": 1,
        "version": "2026-12-03.a",
        "thresholds": {"deny": 0.8, "review": 0.3},
        "lists": {
            "allow": {"cards": [card_key(1).as_str()], "merchants": ["fraud_Trusted"]},
            "block": {"cards": [card_key(2).as_str()], "categories": ["grocery_net"],
                      "states": ["AK"], "zips": [99501]}
        },
        "rules": [
            {"name": "big-net-at-night", "outcome": "deny",
             "when": "amt > 1500 && category == \"shopping_net\" && is_night"},
            {"name": "busy-card-review", "outcome": "review", "when": "cnt_24h >= 10.0"},
            {"name": "tiny-and-trusted", "outcome": "approve", "when": "amt < 1.0 && score < 0.95"}
        ]
    })
}

fn policy(document: &Value) -> Result<Policy, Problem> {
    Policy::from_json(document.to_string().as_bytes(), "test.json").map_err(|e| e.problem)
}

struct Case {
    txn: Transaction,
    card: CardKey,
    features: FeatureVector,
    score: f64,
}

impl Case {
    fn new(score: f64) -> Case {
        Case {
            txn: sample_transaction(),
            card: card_key(3),
            features: features(),
            score,
        }
    }

    fn decide(&self, policy: &Policy) -> (Outcome, String) {
        let verdict = policy.decide(&PolicyInput {
            txn: &self.txn,
            card: &self.card,
            features: &self.features,
            score: self.score,
            card_history_used: true,
        });
        (verdict.outcome, verdict.rule.to_owned())
    }
}

fn decided(outcome: Outcome, rule: &str) -> (Outcome, String) {
    (outcome, rule.to_owned())
}

#[test]
fn thresholds_decide_when_no_list_or_rule_matches() {
    let policy = policy(&full_policy()).unwrap();
    assert_eq!(
        Case::new(0.1).decide(&policy),
        decided(Outcome::Approve, THRESHOLD)
    );
    assert_eq!(
        Case::new(0.3).decide(&policy),
        decided(Outcome::Review, THRESHOLD)
    );
    assert_eq!(
        Case::new(0.79).decide(&policy),
        decided(Outcome::Review, THRESHOLD)
    );
    assert_eq!(
        Case::new(0.8).decide(&policy),
        decided(Outcome::Deny, THRESHOLD)
    );
}

#[test]
fn the_allow_list_comes_before_the_block_list_and_the_block_list_before_rules() {
    let policy = policy(&full_policy()).unwrap();
    // On the allow list by card and on the block list by state: allowed.
    let mut case = Case::new(0.99);
    case.card = card_key(1);
    case.txn.state = "AK".into();
    assert_eq!(
        case.decide(&policy),
        decided(Outcome::Approve, "lists.allow.cards")
    );
    // Blocked by state, though a rule would approve it.
    case.card = card_key(3);
    case.txn.amt = 0.5;
    case.score = 0.01;
    assert_eq!(
        case.decide(&policy),
        decided(Outcome::Deny, "lists.block.states")
    );
    // Each kind of block entry.
    let mut case = Case::new(0.01);
    case.card = card_key(2);
    assert_eq!(
        case.decide(&policy),
        decided(Outcome::Deny, "lists.block.cards")
    );
    let mut case = Case::new(0.01);
    case.txn.category = Category::GroceryNet;
    assert_eq!(
        case.decide(&policy),
        decided(Outcome::Deny, "lists.block.categories")
    );
    let mut case = Case::new(0.01);
    case.txn.zip = 99501;
    assert_eq!(
        case.decide(&policy),
        decided(Outcome::Deny, "lists.block.zips")
    );
    let mut case = Case::new(0.99);
    case.txn.merchant = "fraud_Trusted".into();
    assert_eq!(
        case.decide(&policy),
        decided(Outcome::Approve, "lists.allow.merchants")
    );
}

#[test]
fn rules_run_in_order_and_the_first_match_decides() {
    let policy = policy(&full_policy()).unwrap();
    let mut case = Case::new(0.01);
    case.txn.amt = 1600.0;
    case.txn.category = Category::ShoppingNet;
    assert_eq!(
        case.decide(&policy),
        decided(Outcome::Deny, "big-net-at-night")
    );
    // Not at night: the rule does not match, the threshold approves.
    case.features[FEATURE_NAMES.iter().position(|f| *f == "is_night").unwrap()] = 0.0;
    assert_eq!(case.decide(&policy), decided(Outcome::Approve, THRESHOLD));
    // Both later rules match: the first of them decides.
    let mut case = Case::new(0.9);
    case.txn.amt = 0.5;
    case.features[FEATURE_NAMES.iter().position(|f| *f == "cnt_24h").unwrap()] = 12.0;
    assert_eq!(
        case.decide(&policy),
        decided(Outcome::Review, "busy-card-review")
    );
    case.features[FEATURE_NAMES.iter().position(|f| *f == "cnt_24h").unwrap()] = 1.0;
    assert_eq!(
        case.decide(&policy),
        decided(Outcome::Approve, "tiny-and-trusted")
    );
    // Without card history the feature is NaN: comparisons on it are false.
    case.features[FEATURE_NAMES.iter().position(|f| *f == "cnt_24h").unwrap()] = f64::NAN;
    case.txn.amt = 5.0;
    assert_eq!(case.decide(&policy), decided(Outcome::Deny, THRESHOLD));
}

#[test]
fn the_model_threshold_policy_denies_at_the_threshold_and_never_reviews() {
    let policy = Policy::model_threshold(0.42);
    assert_eq!(policy.version(), crate::MODEL_THRESHOLD_VERSION);
    assert_eq!(
        Case::new(0.4199).decide(&policy),
        decided(Outcome::Approve, THRESHOLD)
    );
    assert_eq!(
        Case::new(0.42).decide(&policy),
        decided(Outcome::Deny, THRESHOLD)
    );
}

/// `document` with `change` applied, refused with a message holding every part of `expected`.
fn refused(change: impl FnOnce(&mut Value), expected: &[&str]) {
    let mut document = full_policy();
    change(&mut document);
    let message = match policy(&document) {
        Ok(_) => panic!("accepted: {document}"),
        Err(problem) => problem.to_string(),
    };
    for part in expected {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
}

#[test]
fn a_malformed_document_is_refused_naming_the_problem() {
    let problem = Policy::from_json(b"{\"schema_version\": 1,", "policies/x.json")
        .err()
        .unwrap();
    let message = problem.to_string();
    assert!(
        message.starts_with("policy policies/x.json: not a policy document"),
        "{message}"
    );
    refused(
        |d| d["thresholds"]["denny"] = json!(0.5),
        &["unknown field `denny`"],
    );
    refused(|d| d["extra"] = json!(1), &["unknown field `extra`"]);
    refused(
        |d| d["lists"]["block"]["ips"] = json!([]),
        &["unknown field `ips`"],
    );
    refused(
        |d| drop(d.as_object_mut().unwrap().remove("version")),
        &["missing field `version`"],
    );
    refused(
        |d| d["schema_version"] = json!(2),
        &["schema_version 2", "reads 1"],
    );
    refused(|d| d["version"] = json!("a/b"), &["version", "\"a/b\""]);
}

#[test]
fn thresholds_outside_a_probability_or_review_above_deny_are_refused() {
    refused(
        |d| d["thresholds"]["deny"] = json!(1.5),
        &["thresholds.deny", "1.5", "[0, 1]"],
    );
    refused(
        |d| d["thresholds"]["review"] = json!(-0.1),
        &["thresholds.review", "-0.1"],
    );
    refused(
        |d| d["thresholds"]["review"] = json!(0.9),
        &[
            "thresholds.review",
            "0.9",
            "not below thresholds.deny (0.8)",
        ],
    );
    refused(|d| d["thresholds"]["review"] = json!(0.8), &["not below"]);
}

#[test]
fn an_unknown_outcome_or_a_bad_list_entry_is_refused() {
    refused(
        |d| d["rules"][1]["outcome"] = json!("flag"),
        &["unknown variant `flag`", "approve", "review", "deny"],
    );
    refused(
        |d| d["lists"]["block"]["categories"][0] = json!("groceries"),
        &["lists.block.categories[0]", "\"groceries\""],
    );
    refused(
        |d| d["lists"]["allow"]["states"] = json!(["ny"]),
        &["lists.allow.states[0]", "\"ny\""],
    );
    refused(
        |d| d["lists"]["block"]["zips"] = json!([123456]),
        &["lists.block.zips[0]", "123456"],
    );
    refused(
        |d| d["lists"]["allow"]["merchants"] = json!([" "]),
        &["lists.allow.merchants[0]"],
    );
    refused(
        |d| d["lists"]["allow"]["cards"] = json!(["abc"]),
        &["lists.allow.cards[0]", "not a card key"],
    );
}

#[test]
fn a_card_number_in_a_list_is_refused_without_being_repeated() {
    let mut document = full_policy();
    document["lists"]["block"]["cards"] = json!(["4263982640269299"]);
    let message = policy(&document).err().unwrap().to_string();
    assert!(message.contains("looks like a card number"), "{message}");
    assert!(!message.contains("4263982640269299"), "{message}");
}

#[test]
fn a_rule_that_does_not_parse_names_an_unknown_field_or_has_the_wrong_type_is_refused() {
    refused(
        |d| d["rules"][0]["when"] = json!("amt >"),
        &["rule \"big-net-at-night\" (rules[0])", "does not parse"],
    );
    refused(
        |d| d["rules"][1]["when"] = json!("amount > 3.0 || merchnt == \"x\""),
        &[
            "rule \"busy-card-review\" (rules[1])",
            "unknown field(s) amount, merchnt",
        ],
    );
    refused(
        |d| d["rules"][2]["when"] = json!("category > 3"),
        &["rules[2]", "fails on a sample transaction"],
    );
    refused(
        |d| d["rules"][2]["when"] = json!("amt + 1.0"),
        &["rules[2]", "not true or false"],
    );
    refused(
        |d| d["rules"][2]["name"] = json!("busy-card-review"),
        &["rules[2].name", "two rules"],
    );
    refused(
        |d| d["rules"][0]["name"] = json!("threshold"),
        &["rules[0].name"],
    );
    refused(
        |d| d["rules"][0]["name"] = json!("lists.allow.cards"),
        &["rules[0].name"],
    );
    refused(
        |d| drop(d["rules"][0].as_object_mut().unwrap().remove("when")),
        &["missing field `when`"],
    );
}

#[test]
fn every_field_a_rule_may_name_resolves_to_its_type() {
    let conditions = crate::field_names()
        .into_iter()
        .map(|(name, kind)| match kind.split(',').next().unwrap() {
            "double" => format!("({name} == {name} || {name} != {name})"),
            "int" => format!("{name} >= 0 || {name} < 0"),
            "string" => format!("size({name}) >= 0"),
            "bool" => format!("({name} || !{name})"),
            other => panic!("{name}: type {other}"),
        })
        .collect::<Vec<_>>();
    let mut document = full_policy();
    document["rules"] =
        json!([{"name": "all", "outcome": "review", "when": conditions.join(" && ")}]);
    let policy = policy(&document).unwrap();
    assert_eq!(
        Case::new(0.0).decide(&policy),
        decided(Outcome::Review, "all")
    );
}

#[tokio::test]
async fn a_published_policy_loads_through_the_active_pointer_and_versions_are_immutable() {
    use crate::{ACTIVE_POLICY_KEY, load_policy, publish_policy};
    let dir = tempfile::tempdir().unwrap();
    let store = fraud_embedded::LocalObjectStore::new(dir.path());
    let first = policy(&full_policy()).unwrap();
    let pointer = publish_policy(&store, &first).await.unwrap();
    assert_eq!(pointer.key, "policies/2026-12-03.a.json");
    let loaded = load_policy(&store, ACTIVE_POLICY_KEY).await.unwrap();
    assert_eq!(loaded.document(), first.document());
    // Publishing the same document again is a no-op; changing it under the same version is refused.
    publish_policy(&store, &first).await.unwrap();
    let mut changed = full_policy();
    changed["thresholds"]["deny"] = json!(0.9);
    let message = publish_policy(&store, &policy(&changed).unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("already published with other content"),
        "{message}"
    );
    // A new version moves the pointer; the old document stays.
    changed["version"] = json!("2026-12-03.b");
    publish_policy(&store, &policy(&changed).unwrap())
        .await
        .unwrap();
    let loaded = load_policy(&store, ACTIVE_POLICY_KEY).await.unwrap();
    assert_eq!(
        (loaded.version(), loaded.document().thresholds.deny),
        ("2026-12-03.b", 0.9)
    );
    assert_eq!(
        load_policy(&store, "policies/2026-12-03.a.json")
            .await
            .unwrap()
            .version(),
        "2026-12-03.a"
    );
}

#[tokio::test]
async fn a_pointer_to_another_version_or_to_nothing_is_refused() {
    use crate::{ACTIVE_POLICY_KEY, load_policy};
    use fraud_core::ports::ObjectStore;
    let dir = tempfile::tempdir().unwrap();
    let store = fraud_embedded::LocalObjectStore::new(dir.path());
    let pointer = |version: &str| {
        json!({"key": "policies/2026-12-03.a.json", "version": version})
            .to_string()
            .into_bytes()
    };
    store
        .put(ACTIVE_POLICY_KEY, pointer("2026-12-03.a"))
        .await
        .unwrap();
    let refusal = || async {
        load_policy(&store, ACTIVE_POLICY_KEY)
            .await
            .unwrap_err()
            .to_string()
    };
    let message = refusal().await;
    assert!(
        message.contains("2026-12-03.a.json") && message.contains("not found"),
        "{message}"
    );
    store
        .put(
            "policies/2026-12-03.a.json",
            full_policy().to_string().into_bytes(),
        )
        .await
        .unwrap();
    store
        .put(ACTIVE_POLICY_KEY, pointer("2026-12-04"))
        .await
        .unwrap();
    let message = refusal().await;
    assert!(
        message.contains("names version \"2026-12-04\""),
        "{message}"
    );
}
