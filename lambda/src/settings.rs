//! Settings from the environment, read in one place per function. Every missing or invalid
//! variable is collected and named in one error, so a bad deployment is mended in one go rather
//! than one cold start per variable.

use std::collections::HashMap;

/// The settings a function could not read: every problem, each naming its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}", .problems.join("; "))]
pub struct SettingsError {
    pub problems: Vec<String>,
}

/// A function's settings, read from its environment in one pass.
pub trait FromEnv: Sized {
    /// Reads the settings from `vars`, which records every problem met on the way; `None`
    /// when a part could not be read.
    fn read(vars: &mut Vars) -> Option<Self>;

    /// The settings from the process environment.
    fn from_env() -> Result<Self, SettingsError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// The settings from an explicit map (tests).
    fn from_vars(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let mut vars = Vars::from_map(vars.clone());
        let settings = Self::read(&mut vars);
        vars.finish(settings)
    }
}

/// The environment being read, and the problems found so far.
#[derive(Debug, Default)]
pub struct Vars {
    vars: HashMap<String, String>,
    problems: Vec<String>,
}

impl Vars {
    /// The process environment.
    pub fn from_env() -> Self {
        Self::from_map(std::env::vars().collect())
    }

    /// An explicit map (tests, or a caller that merges several sources).
    pub fn from_map(vars: HashMap<String, String>) -> Self {
        Vars {
            vars,
            problems: Vec::new(),
        }
    }

    /// `name`'s value, trimmed; blank counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `name`'s value; when unset, a problem saying what it is for.
    pub fn required(&mut self, name: &str, what_for: &str) -> Option<String> {
        let value = self.get(name);
        if value.is_none() {
            self.problem(format!("{name} is not set ({what_for})"));
        }
        value
    }

    /// `name` parsed by `parse`, `default` when unset; a value `parse` refuses is a problem
    /// naming the value and what was `expected`.
    pub fn parsed<T>(
        &mut self,
        name: &str,
        default: T,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let Some(text) = self.get(name) else {
            return Some(default);
        };
        let value = parse(&text);
        if value.is_none() {
            self.problem(format!("{name}={text:?} is invalid ({expected})"));
        }
        value
    }

    /// `name` as one of the named `choices`, `default` when unset.
    pub fn choice<T: Copy>(&mut self, name: &str, default: T, choices: &[(&str, T)]) -> Option<T> {
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let expected = format!("expected {}", names.join(" or "));
        self.parsed(name, default, &expected, |text| {
            choices.iter().find(|(n, _)| *n == text).map(|(_, v)| *v)
        })
    }

    /// `name` as a boolean (`true`/`1`, `false`/`0`), `default` when unset.
    pub fn flag(&mut self, name: &str, default: bool) -> Option<bool> {
        self.parsed(name, default, "true or false", |text| match text {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        })
    }

    /// Records a problem the helpers above cannot see (one variable against another).
    pub fn problem(&mut self, text: String) {
        self.problems.push(text);
    }

    /// The settings built, or every problem found while reading them.
    pub fn finish<T>(self, settings: Option<T>) -> Result<T, SettingsError> {
        match settings {
            Some(settings) if self.problems.is_empty() => Ok(settings),
            _ if self.problems.is_empty() => Err(SettingsError {
                problems: vec!["settings incomplete".into()],
            }),
            _ => Err(SettingsError {
                problems: self.problems,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let mut v = vars(&[("MODE", "fast"), ("BUDGET", "soon"), ("BLANK", "  ")]);
        assert_eq!(v.required("BUCKET", "the data bucket"), None);
        assert_eq!(v.required("BLANK", "blank counts as unset"), None);
        assert_eq!(v.choice("MODE", 0, &[("a", 1), ("b", 2)]), None);
        assert_eq!(
            v.parsed("BUDGET", 5u64, "milliseconds", |t| t.parse().ok()),
            None
        );
        let err = v.finish(Some(())).unwrap_err();
        assert_eq!(
            err.problems,
            [
                "BUCKET is not set (the data bucket)",
                "BLANK is not set (blank counts as unset)",
                "MODE=\"fast\" is invalid (expected a or b)",
                "BUDGET=\"soon\" is invalid (milliseconds)",
            ]
        );
        assert!(err.to_string().starts_with("invalid configuration: BUCKET"));
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        let mut v = vars(&[("ON", "1"), ("MODE", " b ")]);
        assert_eq!(v.flag("ON", false), Some(true));
        assert_eq!(v.flag("OFF", false), Some(false));
        assert_eq!(v.choice("MODE", 0, &[("a", 1), ("b", 2)]), Some(2));
        assert_eq!(v.parsed("N", 7u32, "a count", |t| t.parse().ok()), Some(7));
        assert_eq!(v.finish(Some("ok")), Ok("ok"));
    }
}
