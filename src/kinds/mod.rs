//! Resource kinds: one module per kind, grouped by AWS service (`ssm/parameter.rs`,
//! `iam/{user,group,policy}.rs`, `cloudwatch/{alarm,dashboard}.rs` (composite alarms'
//! own parts in `cloudwatch/composite.rs`), `sns/topic.rs`, `budgets/budget.rs`),
//! each implementing the typed [`Kind`] contract (see [`contract`]), listed once in
//! [`registry`].
//!
//! The registry's order is the dependency order: apply creates and updates kinds front to
//! back and deletes them back to front (policies before the groups and users that use them;
//! users before the groups and policies they use). The engine, the renderers and the executor
//! see kinds only through [`DynKind`].
//!
//! To add a kind: write `kinds/<service>/<kind>.rs` implementing [`Kind`], add it to
//! [`registry`] at its place in the dependency order, add a fixture folder under
//! `tests/fixtures/plans/`, and add its gaps in moto to `emulator/patches/<service>.py`
//! (CONTRIBUTING.md has the steps).

pub mod budgets;
pub mod cloudwatch;
pub mod contract;
pub mod iam;
pub mod sns;
pub mod ssm;

use std::collections::BTreeMap;
use std::future::Future;

pub use contract::{
    Declarations, Declared, DynKind, Fields, ImportContext, Imported, Kind, Live, Op, OutOfReach,
    is_runner_variable,
};

use crate::aws::AwsError;
use crate::scope::Rule;
use crate::source::{Diagnostic, Entry};

/// AWS's tag rules (SSM, IAM and CloudWatch alike): at most 50 tags, keys of 1 to 128
/// characters not starting with `aws:`, values of at most 256 characters. Keys starting with
/// `plumb:` are plumb's own markers and cannot be declared.
pub fn check_tags(entry: &Entry, tags: &BTreeMap<String, String>, problems: &mut Vec<Diagnostic>) {
    if tags.len() > 50 {
        problems.push(entry.error(Some("tags"), "AWS allows at most 50 tags"));
    }
    for (key, value) in tags {
        let lower = key.to_ascii_lowercase();
        if key.is_empty()
            || key.chars().count() > 128
            || lower.starts_with("aws:")
            || lower.starts_with("plumb:")
        {
            let message = format!(
                "tag key {key:?} must be 1-128 characters and not start with `aws:` (AWS's) or `plumb:` (plumb's own markers)"
            );
            problems.push(entry.error(Some("tags"), message));
        }
        if value.chars().count() > 256 {
            problems.push(entry.error(
                Some("tags"),
                format!("tag `{key}`'s value is over 256 characters"),
            ));
        }
    }
}

/// The steps of a multi-step change done so far. The step that fails says them ("done
/// before: deleted access key AKIA..., took it out of its groups"): the apply counts the whole
/// change as failed, and nobody should read that as "nothing happened".
#[derive(Default)]
pub struct Steps(Vec<String>);

impl Steps {
    /// Runs one step; once it succeeds, `done` says what it did.
    pub async fn step<T>(
        &mut self,
        done: impl Into<String>,
        step: impl Future<Output = Result<T, AwsError>>,
    ) -> Result<T, AwsError> {
        let result = step.await.map_err(|e| e.after_steps(&self.0))?;
        self.done(done);
        Ok(result)
    }

    /// Notes a step done whose description depends on its result.
    pub fn done(&mut self, done: impl Into<String>) {
        self.0.push(done.into());
    }

    /// The error of a step run outside [`Steps::step`], saying the steps done before it.
    pub fn failed(&self, error: AwsError) -> AwsError {
        error.after_steps(&self.0)
    }
}

/// A replacement: delete `live_name`, then create anew (see [`Steps`]).
pub async fn delete_then_create(
    live_name: &str,
    delete: impl Future<Output = Result<(), AwsError>>,
    create: impl Future<Output = Result<(), AwsError>>,
) -> Result<(), AwsError> {
    let mut steps = Steps::default();
    steps.step(format!("deleted `{live_name}`"), delete).await?;
    steps.step("", create).await
}

/// Live tags without plumb's own markers (`plumb:` keys), which are never declared nor
/// removed: tags as a declaration compares them.
pub fn declarable_tags(tags: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    tags.into_iter()
        .filter(|(key, _)| !key.starts_with("plumb:"))
        .collect()
}

/// Brings tags from `live` to `desired` with a service's two calls: `untag` the keys to
/// remove, then `tag` the tags to set; neither is called with nothing to do.
pub async fn sync_tags<U, T>(
    live: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
    untag: impl FnOnce(Vec<String>) -> U,
    tag: impl FnOnce(BTreeMap<String, String>) -> T,
) -> Result<(), AwsError>
where
    U: Future<Output = Result<(), AwsError>>,
    T: Future<Output = Result<(), AwsError>>,
{
    let (removed, set) = tag_changes(live, desired);
    if !removed.is_empty() {
        untag(removed).await?;
    }
    if !set.is_empty() {
        tag(set).await?;
    }
    Ok(())
}

/// What changing tags from `live` to `desired` takes: (keys to remove, tags to set).
pub fn tag_changes(
    live: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> (Vec<String>, BTreeMap<String, String>) {
    let removed = live
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    let set = desired
        .iter()
        .filter(|(k, v)| live.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (removed, set)
}

/// A JSON document with its numbers compared by value: JSON has one number type, so `80.0`
/// written by another tool and a declared `80` are the same (RFC 8259 §6). Integral floats
/// become integers, everywhere in the document.
pub fn numbers_by_value(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Json::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => Json::from(f as i64),
            _ => Json::Number(n),
        },
        Json::Array(items) => Json::Array(items.into_iter().map(numbers_by_value).collect()),
        Json::Object(map) => Json::Object(map.into_iter().map(|(k, v)| (k, numbers_by_value(v))).collect()),
        other => other,
    }
}

/// A declaration outside the environment's scope is a problem: plumb never touches it.
pub fn check_in_scope(entry: &Entry, rule: &Rule, problems: &mut Vec<Diagnostic>) {
    if rule.covers(&entry.env.scope, entry.name) {
        return;
    }
    let message = format!(
        "outside environment `{}`'s scope ({}: `{}`); plumb does not touch it",
        entry.env.name,
        rule.setting,
        entry.env.scope.values(rule.setting).join("`, `")
    );
    problems.push(entry.error(None, message));
}

/// The scope rule of every kind, each setting once (IAM's kinds share theirs).
pub fn scope_rules() -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    for kind in registry() {
        let rule = kind.scope();
        if !rules.iter().any(|r| r.setting == rule.setting) {
            rules.push(rule);
        }
    }
    rules
}

/// A file name for an imported document, one name to one file: letters, digits, `-` and `.`
/// as they are, any other character (and a leading `.`) as `_` and its UTF-8 bytes in hex
/// (`a+b` → `a_2bb`, `a_b` → `a_5fb`, `..` → `_2e.`), so no two names share a file and none
/// is hidden or climbs out of its folder.
pub fn file_name(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_alphanumeric() || c == '-' || (c == '.' && i > 0) {
            out.push(c);
        } else {
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!("_{byte:02x}"));
            }
        }
    }
    if out.is_empty() { "_".to_string() } else { out }
}

/// Every kind, in dependency order.
pub fn registry() -> Vec<&'static dyn DynKind> {
    vec![
        &iam::policy::Policies,
        &iam::group::Groups,
        &iam::user::Users,
        &ssm::parameter::Parameters,
        &sns::topic::Topics,
        &cloudwatch::alarm::Alarms,
        &cloudwatch::dashboard::Dashboards,
        &budgets::budget::Budgets,
    ]
}

#[cfg(test)]
mod tests {
    use super::{file_name, registry};

    #[test]
    fn file_names_are_one_to_one_and_stay_in_their_folder() {
        let names = ["a+b", "a=b", "a_b", "a@b", "..", ".", "_", "", "é", "x.json"];
        let files: Vec<String> = names.iter().map(|n| file_name(n)).collect();
        let mut distinct = files.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), names.len(), "{files:?}");
        assert!(
            files
                .iter()
                .all(|f| !f.starts_with('.') && !f.contains('/') && !f.is_empty())
        );
        assert_eq!(file_name("app-main"), "app-main");
    }

    #[test]
    fn names_and_tables_are_unique() {
        let kinds = registry();
        for (i, a) in kinds.iter().enumerate() {
            for b in &kinds[i + 1..] {
                assert_ne!(a.name(), b.name());
                assert_ne!(a.table(), b.table());
            }
        }
    }
}
