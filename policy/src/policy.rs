//! A checked, compiled policy and the one function that applies it. Evaluation order, as in
//! Stripe Radar: the allow list, the block list, the rules in order, then the thresholds; the
//! first match decides.

use std::collections::HashSet;
use std::sync::Arc;

use cel::{Context, Env, Program, Value};
use fraud_core::ports::Outcome;

use crate::document::{ListEntries, PolicyDocument, RuleSpec, SCHEMA_VERSION, Thresholds};
use crate::fields::{Placeholders, PolicyInput, is_known};
use crate::{PolicyError, Problem};

/// What decided a transaction when no list or rule did.
pub const THRESHOLD: &str = "threshold";

/// The version of the policy used when none is configured: the model's own threshold.
pub const MODEL_THRESHOLD_VERSION: &str = "model-threshold";

/// A policy ready to decide: lists as hash sets, rules compiled.
pub struct Policy {
    document: PolicyDocument,
    allow: ListSets,
    block: ListSets,
    rules: Vec<CompiledRule>,
    env: Arc<Env>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("version", &self.document.version)
            .field("thresholds", &self.document.thresholds)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

/// The outcome and what decided it: a list (`lists.block.merchants`), a rule's name, or
/// [`THRESHOLD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'p> {
    pub outcome: Outcome,
    pub rule: &'p str,
}

struct CompiledRule {
    name: String,
    outcome: Outcome,
    program: Program,
}

/// One list's entries by kind, each looked up in O(1).
struct ListSets {
    cards: HashSet<String>,
    merchants: HashSet<String>,
    categories: HashSet<String>,
    states: HashSet<String>,
    zips: HashSet<u32>,
    /// `lists.allow.` or `lists.block.`, then the kind: what a match reports as its rule.
    names: [&'static str; 5],
}

impl Policy {
    /// Reads and checks a policy document; `origin` (a path or `s3://` URI) names it in errors.
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<Policy, PolicyError> {
        let document: PolicyDocument = serde_json::from_slice(bytes)
            .map_err(|e| PolicyError::new(origin, Problem::Json(e)))?;
        Policy::compile(document).map_err(|problem| PolicyError::new(origin, problem))
    }

    /// The policy that only applies the model's threshold (no lists, no rules, no review).
    pub fn model_threshold(threshold: f64) -> Policy {
        let document = PolicyDocument {
            schema_version: SCHEMA_VERSION,
            version: MODEL_THRESHOLD_VERSION.to_owned(),
            description: Some("the model's own threshold".to_owned()),
            thresholds: Thresholds {
                deny: threshold.clamp(0.0, 1.0),
                review: None,
            },
            lists: Default::default(),
            rules: Vec::new(),
            expected: None,
        };
        Policy::compile(document).expect("a threshold alone is a valid policy")
    }

    /// Checks every field of `document` and compiles its rules.
    pub fn compile(document: PolicyDocument) -> Result<Policy, Problem> {
        if document.schema_version != SCHEMA_VERSION {
            return Err(Problem::Schema {
                found: document.schema_version,
            });
        }
        check_version(&document.version)?;
        check_thresholds(&document.thresholds)?;
        let allow = ListSets::new(&document.lists.allow, "allow")?;
        let block = ListSets::new(&document.lists.block, "block")?;
        let env = Arc::new(Env::stdlib());
        let mut rules = Vec::with_capacity(document.rules.len());
        for (index, spec) in document.rules.iter().enumerate() {
            if rules.iter().any(|r: &CompiledRule| r.name == spec.name) {
                return Err(Problem::Field {
                    field: format!("rules[{index}].name"),
                    reason: format!("{:?} names two rules; rule names are unique", spec.name),
                });
            }
            rules.push(compile_rule(spec, index, &env)?);
        }
        Ok(Policy {
            document,
            allow,
            block,
            rules,
            env,
        })
    }

    pub fn version(&self) -> &str {
        &self.document.version
    }

    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    /// Whether the thresholds were fitted on `model_version`'s scores: `None` for a policy
    /// written by hand (no expected figures), whose thresholds no fit tied to a model.
    pub fn fitted_for(&self, model_version: &str) -> Option<bool> {
        let expected = self.document.expected.as_ref()?;
        Some(expected.model_version == model_version)
    }

    /// Whether deciding needs the card's key: a list of cards, or a rule reading `card`.
    pub fn needs_card_key(&self) -> bool {
        let lists = &self.document.lists;
        !lists.allow.cards.is_empty()
            || !lists.block.cards.is_empty()
            || self
                .rules
                .iter()
                .any(|rule| rule.program.references().has_variable("card"))
    }

    /// The outcome for one transaction and what decided it.
    pub fn decide(&self, input: &PolicyInput<'_>) -> Verdict<'_> {
        if let Some(list) = self.allow.matching(input) {
            return Verdict {
                outcome: Outcome::Approve,
                rule: list,
            };
        }
        if let Some(list) = self.block.matching(input) {
            return Verdict {
                outcome: Outcome::Deny,
                rule: list,
            };
        }
        if !self.rules.is_empty() {
            let mut context = Context::with_env(Arc::clone(&self.env));
            context.set_variable_resolver(input);
            for rule in &self.rules {
                match rule.program.execute(&context) {
                    Ok(Value::Bool(true)) => {
                        return Verdict {
                            outcome: rule.outcome,
                            rule: &rule.name,
                        };
                    }
                    Ok(Value::Bool(false)) => {}
                    // Checked at load on placeholders; a value-dependent failure (a division by
                    // zero) skips the rule rather than failing the authorisation.
                    Ok(other) => {
                        tracing::warn!(rule = %rule.name, value = ?other, "policy rule gave no bool: skipped")
                    }
                    Err(e) => {
                        tracing::warn!(rule = %rule.name, error = %e, "policy rule failed: skipped")
                    }
                }
            }
        }
        Verdict {
            outcome: self.by_threshold(input.score),
            rule: THRESHOLD,
        }
    }

    /// The thresholds' outcome for a score.
    pub fn by_threshold(&self, score: f64) -> Outcome {
        let thresholds = &self.document.thresholds;
        if score >= thresholds.deny {
            Outcome::Deny
        } else if thresholds.review.is_some_and(|review| score >= review) {
            Outcome::Review
        } else {
            Outcome::Approve
        }
    }
}

/// Versions name files and S3 keys: letters, digits, `.`, `_`, `-`.
fn check_version(version: &str) -> Result<(), Problem> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if version.is_empty() || version.len() > 64 || !version.chars().all(allowed) {
        return Err(Problem::Field {
            field: "version".into(),
            reason: format!(
                "{version:?}: 1 to 64 letters, digits, '.', '_' or '-' (it names policies/<version>.json)"
            ),
        });
    }
    Ok(())
}

fn check_thresholds(thresholds: &Thresholds) -> Result<(), Problem> {
    let probability = |field: &str, value: f64| {
        if (0.0..=1.0).contains(&value) {
            Ok(())
        } else {
            Err(Problem::Field {
                field: format!("thresholds.{field}"),
                reason: format!("{value} is not a probability in [0, 1]"),
            })
        }
    };
    probability("deny", thresholds.deny)?;
    if let Some(review) = thresholds.review {
        probability("review", review)?;
        if review >= thresholds.deny {
            return Err(Problem::Field {
                field: "thresholds.review".into(),
                reason: format!(
                    "{review} is not below thresholds.deny ({}); leave review out to switch review off",
                    thresholds.deny
                ),
            });
        }
    }
    Ok(())
}

/// Parses a rule, checks the names it uses, and runs it once on placeholders to find type errors.
fn compile_rule(spec: &RuleSpec, index: usize, env: &Arc<Env>) -> Result<CompiledRule, Problem> {
    let refused = |reason: String| Problem::Rule {
        name: spec.name.clone(),
        index,
        reason,
    };
    let reserved = spec.name == THRESHOLD || spec.name.starts_with("lists.");
    if spec.name.trim().is_empty() || reserved {
        return Err(Problem::Field {
            field: format!("rules[{index}].name"),
            reason: format!(
                "{:?}: a rule needs a name of its own (not empty, not {THRESHOLD:?}, not starting with \"lists.\")",
                spec.name
            ),
        });
    }
    let program = env
        .compile(&spec.when)
        .map_err(|e| refused(format!("does not parse: {e}")))?;
    let references = program.references();
    let mut unknown: Vec<&str> = references
        .variables()
        .into_iter()
        .filter(|name| !is_known(name))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(refused(format!(
            "names unknown field(s) {} (the fields are listed in policy/README.md)",
            unknown.join(", ")
        )));
    }
    let mut context = Context::with_env(Arc::clone(env));
    context.set_variable_resolver(&Placeholders);
    match program.execute(&context) {
        Ok(Value::Bool(_)) => {}
        Ok(other) => {
            return Err(refused(format!(
                "gives {:?}, not true or false",
                other.type_of()
            )));
        }
        Err(e) => return Err(refused(format!("fails on a sample transaction: {e}"))),
    }
    Ok(CompiledRule {
        name: spec.name.clone(),
        outcome: spec.outcome,
        program,
    })
}

impl ListSets {
    fn new(entries: &ListEntries, list: &'static str) -> Result<ListSets, Problem> {
        let field = |kind: &str, index: usize| format!("lists.{list}.{kind}[{index}]");
        for (index, card) in entries.cards.iter().enumerate() {
            check_card_key(card).map_err(|reason| Problem::Field {
                field: field("cards", index),
                reason,
            })?;
        }
        for (index, category) in entries.categories.iter().enumerate() {
            if category.parse::<fraud_core::schema::Category>().is_err() {
                return Err(Problem::Field {
                    field: field("categories", index),
                    reason: format!("{category:?} is not a category of the transaction schema"),
                });
            }
        }
        for (index, state) in entries.states.iter().enumerate() {
            if state.len() != 2 || !state.chars().all(|c| c.is_ascii_uppercase()) {
                return Err(Problem::Field {
                    field: field("states", index),
                    reason: format!("{state:?} is not a two-letter state code such as \"NY\""),
                });
            }
        }
        for (index, zip) in entries.zips.iter().enumerate() {
            if *zip > 99_999 {
                return Err(Problem::Field {
                    field: field("zips", index),
                    reason: format!("{zip} is not a five-digit zip code"),
                });
            }
        }
        for (index, merchant) in entries.merchants.iter().enumerate() {
            if merchant.trim().is_empty() {
                return Err(Problem::Field {
                    field: field("merchants", index),
                    reason: "an empty merchant name".into(),
                });
            }
        }
        let names = match list {
            "allow" => [
                "lists.allow.cards",
                "lists.allow.merchants",
                "lists.allow.categories",
                "lists.allow.states",
                "lists.allow.zips",
            ],
            _ => [
                "lists.block.cards",
                "lists.block.merchants",
                "lists.block.categories",
                "lists.block.states",
                "lists.block.zips",
            ],
        };
        Ok(ListSets {
            cards: entries.cards.iter().cloned().collect(),
            merchants: entries.merchants.iter().cloned().collect(),
            categories: entries.categories.iter().cloned().collect(),
            states: entries.states.iter().cloned().collect(),
            zips: entries.zips.iter().copied().collect(),
            names,
        })
    }

    /// The first kind of entry that holds the transaction, by name.
    fn matching(&self, input: &PolicyInput<'_>) -> Option<&'static str> {
        let txn = input.txn;
        let hits = [
            !self.cards.is_empty() && self.cards.contains(input.card.as_str()),
            !self.merchants.is_empty() && self.merchants.contains(&txn.merchant),
            !self.categories.is_empty() && self.categories.contains(txn.category.as_str()),
            !self.states.is_empty() && self.states.contains(&txn.state),
            !self.zips.is_empty() && self.zips.contains(&txn.zip),
        ];
        hits.iter()
            .position(|hit| *hit)
            .map(|kind| self.names[kind])
    }
}

/// A card key is the 64-hex-digit keyed hash. A card number is refused without being repeated.
fn check_card_key(card: &str) -> Result<(), String> {
    if card.len() == 64
        && card
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        return Ok(());
    }
    let digits = card.chars().filter(|c| c.is_ascii_digit()).count();
    if (12..=19).contains(&digits) && card.chars().all(|c| c.is_ascii_digit() || c == ' ') {
        return Err(
            "looks like a card number; lists hold card keys (`fraud policy card-key` makes one)"
                .into(),
        );
    }
    Err(format!(
        "{} characters, not a card key (64 lowercase hex digits from `fraud policy card-key`)",
        card.len()
    ))
}
