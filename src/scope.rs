//! What an environment owns, as rules about names: the one place that says whether a name
//! lies inside a scope setting and whether two environments' scopes overlap.
//!
//! Three shapes of setting, each with its own rule:
//! - **Parameter paths** (`parameter_paths`) are SSM hierarchies and match whole path
//!   segments: `/a` covers `/a` and `/a/x`, never `/ab/y`; `/a/` covers what lies below `/a`.
//! - **The IAM path** (`iam_path`) starts and ends with `/` (AWS's rule), so a plain prefix
//!   test is already segment-exact.
//! - **Name prefixes** (`alarm_prefixes`, `dashboard_prefixes`, `budget_prefixes`,
//!   `topic_prefixes`) are plain string prefixes: those names have no hierarchy.
//!
//! A setting that covers a whole service (`/`, or an empty prefix) must be named in
//! `scope.whole_service`: a typo there would otherwise let plumb prune an entire account.
//!
//! Which settings exist is the kinds' business: each declares its [`Rule`], and the scope
//! table is read by setting name, so a new kind brings its own setting.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::Environment;
use crate::suggest;

/// What plumb owns in an environment: `[environments.NAME.scope]`, one setting per rule that
/// the kinds declare (see [`Rule`]), read by name. A setting left out owns nothing.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    settings: BTreeMap<String, Setting>,
    /// The settings that may cover a whole service (`/`, or an empty prefix): an explicit
    /// opt-in, since such a scope prunes everything of that kind in the account.
    pub whole_service: Vec<String>,
}

/// One setting's value as written: a list, or (`iam_path`) one string.
#[derive(Clone, Debug)]
enum Setting {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for Setting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Setting;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Setting, E> {
                Ok(Setting::One(value.to_string()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Setting, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<String>()? {
                    values.push(value);
                }
                Ok(Setting::Many(values))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut settings = BTreeMap::<String, Setting>::deserialize(deserializer)?;
        let whole_service = match settings.remove("whole_service") {
            None => Vec::new(),
            Some(Setting::Many(list)) => list,
            Some(Setting::One(_)) => {
                return Err(serde::de::Error::custom(
                    "`whole_service` is a list of scope settings",
                ));
            }
        };
        Ok(Scope {
            settings,
            whole_service,
        })
    }
}

/// The scope setting of SSM parameters (replicas copy what it owns).
pub const PARAMETER_PATHS: &str = "parameter_paths";

impl Scope {
    /// A scope owning only `values` of `setting`, nothing else (a replica region's).
    pub fn only(&self, setting: &str, values: Vec<String>) -> Scope {
        Scope {
            settings: BTreeMap::from([(setting.to_string(), Setting::Many(values))]),
            whole_service: self
                .whole_service
                .iter()
                .filter(|s| *s == setting)
                .cloned()
                .collect(),
        }
    }

    /// The values of one setting (none when it is not set).
    pub fn values(&self, setting: &str) -> Vec<&str> {
        match self.settings.get(setting) {
            Some(Setting::One(value)) => vec![value.as_str()],
            Some(Setting::Many(values)) => values.iter().map(String::as_str).collect(),
            None => Vec::new(),
        }
    }

    /// Whether a setting is unknown or of the wrong form: then the scope says nothing
    /// reliable, and the environment's declarations are not checked against it.
    pub fn is_malformed(&self, rules: &[Rule]) -> bool {
        self.settings.iter().any(
            |(setting, value)| match rules.iter().find(|r| r.setting == setting) {
                None => true,
                Some(rule) => wrong_form(rule, value).is_some(),
            },
        )
    }
}

/// The shape of a setting's values, and so the rule for the names under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// SSM hierarchies, matched whole segment by segment.
    Paths,
    /// One IAM path; an object is in scope by its own IAM path, not its name.
    IamPath,
    /// Plain name prefixes (names without hierarchy).
    Prefixes,
}

/// How a kind's objects fall in an environment's scope. Kinds declare one
/// (`Kind::SCOPE`); kinds of one service may share a setting (IAM's `iam_path`).
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The setting's key in `[environments.NAME.scope]`.
    pub setting: &'static str,
    pub shape: Shape,
    /// Objects that exist once per account, not per region (IAM, Budgets, dashboards): two
    /// environments of one account overlap there whatever their regions.
    pub account_wide: bool,
    /// What AWS allows in the names the setting covers, and how to say so.
    pub allows: fn(char) -> bool,
    pub allowed: &'static str,
}

impl Rule {
    /// Whether the setting in `scope` covers the object `name`.
    pub fn covers(&self, scope: &Scope, name: &str) -> bool {
        let values = scope.values(self.setting);
        match self.shape {
            Shape::Paths => values.iter().any(|p| path_covers(p, name)),
            Shape::IamPath => values.iter().any(|p| !p.is_empty()),
            Shape::Prefixes => values.iter().any(|p| name.starts_with(p)),
        }
    }

    /// Whether one value covers every object of its service.
    fn is_whole_service(&self, value: &str) -> bool {
        match self.shape {
            Shape::Paths => value.trim_end_matches('/').is_empty(),
            Shape::IamPath => value == "/",
            Shape::Prefixes => value.is_empty(),
        }
    }

    /// Whether some object could lie under both values.
    fn overlaps(&self, a: &str, b: &str) -> bool {
        match self.shape {
            Shape::Paths => paths_overlap(a, b),
            Shape::IamPath | Shape::Prefixes => prefixes_overlap(a, b),
        }
    }
}

/// Whether the parameter path `prefix` covers the parameter `name`, segment by segment.
pub fn path_covers(prefix: &str, name: &str) -> bool {
    if prefix.ends_with('/') {
        let folder = prefix.trim_end_matches('/');
        return folder.is_empty() || name.starts_with(&format!("{folder}/"));
    }
    name == prefix || name.starts_with(&format!("{prefix}/"))
}

/// Whether some name could lie under both parameter paths.
fn paths_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches('/'), b.trim_end_matches('/'));
    a.is_empty()
        || b.is_empty()
        || a == b
        || a.starts_with(&format!("{b}/"))
        || b.starts_with(&format!("{a}/"))
}

/// Whether some name could start with both prefixes.
fn prefixes_overlap(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Problems with the scope of one environment, as (field, message) pairs; `rules` are the
/// kinds' (one per setting).
pub fn check(scope: &Scope, rules: &[Rule]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let known = || rules.iter().map(|r| r.setting);
    for (setting, value) in &scope.settings {
        let Some(rule) = rules.iter().find(|r| r.setting == setting) else {
            let hint = suggest::closest(setting, known().chain(["whole_service"]))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            problems.push(("scope".into(), format!("unknown setting `{setting}`{hint}")));
            continue;
        };
        problems.extend(
            check_setting(rule, value)
                .into_iter()
                .map(|m| (format!("scope.{setting}"), m)),
        );
    }
    for listed in &scope.whole_service {
        if !known().any(|s| s == listed) {
            let settings: Vec<&str> = known().collect();
            problems.push((
                "scope.whole_service".into(),
                format!(
                    "`{listed}` is not a scope setting; use one of `{}`",
                    settings.join("`, `")
                ),
            ));
        }
    }
    for rule in rules {
        let opted_in = scope.whole_service.iter().any(|s| s == rule.setting);
        for value in scope.values(rule.setting) {
            if rule.is_whole_service(value) && !opted_in {
                problems.push(("scope".into(), whole_service_message(rule.setting, value)));
            }
        }
    }
    problems
}

/// One setting's problems: its form, AWS's rules for its values, their characters.
/// Why a setting's value is not of its rule's form: one IAM path, or a list.
fn wrong_form(rule: &Rule, value: &Setting) -> Option<&'static str> {
    match (rule.shape, value) {
        (Shape::IamPath, Setting::Many(_)) => Some("must be one IAM path (a string), such as \"/app/\""),
        (Shape::Paths | Shape::Prefixes, Setting::One(_)) => Some("must be a list of strings"),
        _ => None,
    }
}

fn check_setting(rule: &Rule, value: &Setting) -> Vec<String> {
    if let Some(problem) = wrong_form(rule, value) {
        return vec![problem.to_string()];
    }
    let values: Vec<&String> = match value {
        Setting::One(value) => vec![value],
        Setting::Many(values) => values.iter().collect(),
    };
    let mut problems = Vec::new();
    for value in values {
        match rule.shape {
            Shape::Paths if !value.starts_with('/') => {
                problems.push(format!(
                    "`{value}` must start with `/` (SSM hierarchies are absolute)"
                ));
            }
            Shape::IamPath if !(value.starts_with('/') && value.ends_with('/')) => {
                problems.push(format!(
                    "`{value}` must start and end with `/` (AWS's rule for IAM paths)"
                ));
            }
            _ => {}
        }
        if let Some(bad) = value.chars().find(|c| !(rule.allows)(*c)) {
            problems.push(format!(
                "`{}` has {bad:?}; AWS allows {} here",
                value.escape_debug(),
                rule.allowed
            ));
        }
    }
    problems
}

fn whole_service_message(setting: &str, value: &str) -> String {
    format!(
        "{setting} `{value}` covers every object of its kind in the account and region, so plumb \
         would delete everything there that desired/ does not declare; if that is meant, add \
         whole_service = [\"{setting}\"] to the scope"
    )
}

/// Where two scopes of one account overlap: (setting, one value, the other value) for each
/// overlapping pair; only the account-wide settings when the regions differ.
pub fn overlaps(
    a: &Scope,
    b: &Scope,
    same_region: bool,
    rules: &[Rule],
) -> Vec<(&'static str, String, String)> {
    let mut found = Vec::new();
    for rule in rules.iter().filter(|r| same_region || r.account_wide) {
        for x in a.values(rule.setting) {
            for y in b.values(rule.setting) {
                if rule.overlaps(x, y) {
                    found.push((rule.setting, x.to_string(), y.to_string()));
                }
            }
        }
    }
    found
}

/// The message for two environments of one account and region whose scopes overlap.
pub fn overlap_message(a: &Environment, b: &Environment, overlaps: &[(&str, String, String)]) -> String {
    let pairs: Vec<String> = overlaps
        .iter()
        .map(|(setting, x, y)| format!("{setting} `{x}` and `{y}`"))
        .collect();
    let place = if a.region == b.region {
        format!("account and region {}", a.region)
    } else {
        "an account (IAM, Budgets and dashboards are account-wide)".to_string()
    };
    format!(
        "environments `{}` and `{}` share {place} but their scopes overlap ({}): each would \
         delete the other's objects; give them disjoint scopes",
        a.label(),
        b.label(),
        pairs.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::{Rule, Scope, Shape, check, path_covers, paths_overlap, prefixes_overlap};

    const RULES: [Rule; 2] = [
        Rule {
            setting: "parameter_paths",
            shape: Shape::Paths,
            account_wide: false,
            allows: |c| c != ' ',
            allowed: "no spaces",
        },
        Rule {
            setting: "iam_path",
            shape: Shape::IamPath,
            account_wide: true,
            allows: |c| c != ' ',
            allowed: "no spaces",
        },
    ];

    fn problems(toml: &str) -> Vec<(String, String)> {
        let scope: Scope = toml::from_str(toml).unwrap();
        check(&scope, &RULES)
    }

    #[test]
    fn settings_are_the_kinds_and_each_has_its_form() {
        assert!(problems("parameter_paths = [\"/a/\"]\niam_path = \"/a/\"\n").is_empty());
        assert_eq!(
            problems("parameter_path = [\"/a/\"]\n"),
            [(
                "scope".to_string(),
                "unknown setting `parameter_path`; did you mean `parameter_paths`?".to_string()
            )]
        );
        assert_eq!(
            problems("iam_path = [\"/a/\"]\nparameter_paths = \"/a/\"\n"),
            [
                (
                    "scope.iam_path".to_string(),
                    "must be one IAM path (a string), such as \"/app/\"".to_string()
                ),
                (
                    "scope.parameter_paths".to_string(),
                    "must be a list of strings".to_string()
                ),
            ]
        );
        let wrong: Result<Scope, _> = toml::from_str("iam_path = 5\n");
        assert!(
            wrong
                .unwrap_err()
                .to_string()
                .contains("a string or a list of strings")
        );
    }

    #[test]
    fn a_whole_service_needs_its_opt_in() {
        let found = problems("parameter_paths = [\"/\"]\n");
        assert!(
            found[0].1.contains("whole_service = [\"parameter_paths\"]"),
            "{found:?}"
        );
        assert!(problems("parameter_paths = [\"/\"]\nwhole_service = [\"parameter_paths\"]\n").is_empty());
    }

    #[test]
    fn parameter_paths_match_whole_segments() {
        assert!(path_covers("/a", "/a"));
        assert!(path_covers("/a", "/a/x"));
        assert!(!path_covers("/a", "/ab/y"));
        assert!(!path_covers("/a", "/ab"));
        assert!(path_covers("/a/", "/a/x/y"));
        assert!(!path_covers("/a/", "/a"));
        assert!(!path_covers("/a/", "/ab/x"));
        assert!(path_covers("/", "/anything"));
        assert!(!path_covers("/dev/app/", "/dev/application/x"));
    }

    #[test]
    fn overlap_is_symmetric_and_segment_exact() {
        assert!(paths_overlap("/app/", "/app/b/"));
        assert!(paths_overlap("/app/b/", "/app/"));
        assert!(!paths_overlap("/app/", "/apps/"));
        assert!(!paths_overlap("/dev/", "/prod/"));
        assert!(paths_overlap("/", "/prod/"));
        assert!(prefixes_overlap("app-", "app-dev-"));
        assert!(!prefixes_overlap("app-dev-", "app-prod-"));
        assert!(prefixes_overlap("/mono/", "/mono/"));
    }
}
