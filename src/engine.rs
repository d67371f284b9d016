//! The plan engine: desired + live → changes. Pure: no I/O, no AWS, no printing.
//!
//! # Guarantees (SPEC §5)
//! - **Exact**: every difference between a declared field and its live value becomes a field
//!   change; fields a declaration leaves out are not managed and never compared.
//! - **Quiet**: values are compared as the kinds normalised them (sets sorted, JSON parsed,
//!   decimals canonical), so an unchanged resource yields no change.
//! - **Secret-safe**: a field whose value is secret on either side is marked `sensitive` and
//!   carries no value into the plan.
//! - **Ordered**: deletions first (dependents before what they depend on), then replacements,
//!   creations and updates in the registry's dependency order.
//!
//! # Assumptions
//! `live` holds only objects inside the environment's scope (each kind's `fetch` filters),
//! so everything live but undeclared is pruned.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Environment;
use crate::glob;
use crate::kinds::Kind;
use crate::plan::{Action, Change, EnvPlan, FieldChange};
use crate::resource::{Field, Resource, Value};

/// Everything the plan for one environment is computed from.
pub struct EnvState<'a> {
    pub env: &'a Environment,
    pub account_id: Option<String>,
    pub desired: Vec<Resource>,
    pub live: Vec<Resource>,
}

pub fn plan_environment(state: EnvState, kinds: &[&dyn Kind]) -> EnvPlan {
    let mut live: BTreeMap<(&'static str, String), Resource> = state
        .live
        .into_iter()
        .map(|r| ((r.kind, r.name.clone()), r))
        .collect();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    for desired in state.desired {
        let kind = kinds.iter().find(|k| k.name() == desired.kind).copied();
        let Some(kind) = kind else { continue };
        match live.remove(&(desired.kind, desired.name.clone())) {
            None => match &desired.skip_create {
                Some(why) => notes.push(format!(
                    "{} `{}` does not exist and is not created: {why}",
                    desired.kind, desired.name
                )),
                None => changes.push(create(desired)),
            },
            Some(existing) => changes.extend(compare(kind, desired, existing)),
        }
    }
    changes.extend(live.into_values().map(delete));
    sort_changes(&mut changes, kinds);
    EnvPlan {
        environment: state.env.name.clone(),
        account_id: state.account_id,
        region: state.env.region.clone(),
        changes,
        notes,
    }
}

fn create(desired: Resource) -> Change {
    let fields = desired
        .fields
        .iter()
        .filter(|(_, f)| f.value.shown() != Some(&serde_json::Value::Null))
        .map(|(name, f)| field_change(name, None, Some(&f.value)))
        .collect();
    Change {
        action: Action::Create,
        kind: desired.kind.to_string(),
        name: desired.name.clone(),
        fields,
        reason: None,
        computed_against: None,
        desired: Some(Arc::new(desired)),
        live: None,
    }
}

fn delete(live: Resource) -> Change {
    let fields = live
        .fields
        .iter()
        .filter(|(_, f)| f.value.shown() != Some(&serde_json::Value::Null))
        .map(|(name, f)| field_change(name, Some(&f.value), None))
        .collect();
    Change {
        action: Action::Delete,
        kind: live.kind.to_string(),
        name: live.name.clone(),
        fields,
        reason: Some("not declared in desired/".into()),
        computed_against: live.version.clone(),
        desired: None,
        live: Some(Arc::new(live)),
    }
}

fn compare(kind: &dyn Kind, desired: Resource, live: Resource) -> Option<Change> {
    let null = Value::null();
    let mut fields = Vec::new();
    let mut replace_reasons = Vec::new();
    for (name, Field { value, create_only }) in &desired.fields {
        if *create_only {
            continue;
        }
        let before = live.get(name).unwrap_or(&null);
        if value.same_as(before) {
            continue;
        }
        if let Some(reason) = kind.replace_reason(name, before, value) {
            replace_reasons.push(reason);
        }
        fields.push(field_change(name, live.get(name), Some(value)));
    }
    if fields.is_empty() {
        return None;
    }
    let action = if replace_reasons.is_empty() {
        Action::Update
    } else {
        Action::Replace
    };
    Some(Change {
        action,
        kind: desired.kind.to_string(),
        name: desired.name.clone(),
        fields,
        reason: (!replace_reasons.is_empty()).then(|| replace_reasons.join("; ")),
        computed_against: live.version.clone(),
        desired: Some(Arc::new(desired)),
        live: Some(Arc::new(live)),
    })
}

/// A field's change; no value is kept when either side is secret.
fn field_change(name: &str, before: Option<&Value>, after: Option<&Value>) -> FieldChange {
    let sensitive = before.is_some_and(Value::is_sensitive) || after.is_some_and(Value::is_sensitive);
    let shown = |v: Option<&Value>| {
        if sensitive {
            None
        } else {
            v.and_then(Value::shown).cloned()
        }
    };
    FieldChange {
        field: name.to_string(),
        before: shown(before),
        after: shown(after),
        sensitive,
    }
}

/// Deletions first, dependents before their dependencies (the registry read backwards); then
/// replacements, creations and updates in registry order; by name within a kind.
fn sort_changes(changes: &mut [Change], kinds: &[&dyn Kind]) {
    let position = |kind: &str| kinds.iter().position(|k| k.name() == kind).unwrap_or(usize::MAX);
    changes.sort_by_cached_key(|c| {
        let order = match c.action {
            Action::Delete => kinds.len() - position(&c.kind).min(kinds.len()),
            _ => position(&c.kind),
        };
        (c.action, order, c.name.clone())
    });
}

/// Why carrying out this plan must be refused before any write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Protected {
        environment: String,
        action: &'static str,
        kind: String,
        name: String,
        rule: String,
    },
    TooManyDeletes {
        environment: String,
        count: usize,
        limit: usize,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Protected {
                environment,
                action,
                kind,
                name,
                rule,
            } => write!(
                f,
                "{environment}: the plan would {action} protected {kind} `{name}` ({rule}); \
                 remove the protection first if this is intended"
            ),
            Refusal::TooManyDeletes {
                environment,
                count,
                limit,
            } => write!(
                f,
                "{environment}: the plan deletes or replaces {count} resources, more than the \
                 {limit} allowed; check the plan, then pass --allow-deletes {count}"
            ),
        }
    }
}

/// Deletions and replacements of protected resources: `protect = true` on the declaration, or
/// a name matching the environment's `protect` patterns (which survive a deleted file).
pub fn protected_changes(plan: &EnvPlan, env: &Environment) -> Vec<Refusal> {
    let destructive = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace));
    destructive
        .filter_map(|change| {
            let declared = change.desired.as_ref().is_some_and(|d| d.protect);
            let pattern = env.protect.iter().find(|p| glob::matches(p, &change.name));
            let rule = match (declared, pattern) {
                (true, _) => "protect = true".to_string(),
                (false, Some(pattern)) => format!("matches protect pattern `{pattern}` in plumb.toml"),
                (false, None) => return None,
            };
            Some(Refusal::Protected {
                environment: plan.environment.clone(),
                action: change.action.verb(),
                kind: change.kind.clone(),
                name: change.name.clone(),
                rule,
            })
        })
        .collect()
}

/// The deletion guard: `--allow-deletes N` when given, else the environment's `max_deletes`.
pub fn too_many_deletes(plan: &EnvPlan, env: &Environment, allow: Option<usize>) -> Option<Refusal> {
    let limit = allow.or(env.max_deletes)?;
    let count = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .count();
    (count > limit).then(|| Refusal::TooManyDeletes {
        environment: plan.environment.clone(),
        count,
        limit,
    })
}
