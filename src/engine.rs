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
//!   creations and updates in the registry's dependency order; within a kind, by tier (a
//!   composite alarm after the alarms its rule names). This is the order a plan is shown in;
//!   the executor's own order is in `apply.rs`.
//!
//! # Assumptions
//! `live` holds only objects inside the environment's scope (each kind's `fetch` filters),
//! so everything live but undeclared is pruned.

use std::sync::Arc;

use crate::config::Environment;
use crate::glob;
use crate::kinds::DynKind;
use crate::plan::{Action, Change, EnvPlan, FieldChange, Source};
use crate::refusal::Refusal;
use crate::resource::{Field, Resource, Value};
use crate::scope::Shape;

/// Everything the plan for one environment is computed from.
pub struct EnvState<'a> {
    pub env: &'a Environment,
    pub account_id: Option<String>,
    pub desired: Vec<Resource>,
    pub live: Vec<Resource>,
}

/// An environment's plan, and position for position the sides of its changes.
pub struct EnvWork {
    pub plan: EnvPlan,
    pub sides: Vec<Sides>,
}

/// What apply needs beside a planned change, which the plan (plain data, the same in a plan
/// file) does not carry: the declared and the live object, with their typed specs and any
/// secret values.
#[derive(Clone, Debug, Default)]
pub struct Sides {
    pub desired: Option<Arc<Resource>>,
    pub live: Option<Arc<Resource>>,
}

impl Sides {
    /// The change's tier among its kind's (see `Kind::tier`): the declared side's, or the
    /// live side's for a deletion.
    pub fn tier(&self, kind: &dyn DynKind) -> u8 {
        self.desired
            .as_deref()
            .or(self.live.as_deref())
            .map_or(0, |resource| kind.tier(resource))
    }
}

/// A change and its sides, while the engine builds and orders them.
type Planned = (Change, Sides);

pub fn plan_environment(state: EnvState, kinds: &[&dyn DynKind]) -> EnvWork {
    let mut live = LiveObjects::new(state.live);
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    for desired in state.desired {
        let kind = kinds.iter().find(|k| k.name() == desired.kind).copied();
        let Some(kind) = kind else { continue };
        let renamed = desired
            .renamed_from()
            .filter(|_| !live.contains(desired.kind, &desired.name));
        if let Some(old) = renamed.and_then(|old| live.take(desired.kind, old)) {
            changes.push(rename(desired, old));
            continue;
        }
        match live.take(desired.kind, &desired.name) {
            None => match desired.skip_create() {
                Some(why) => notes.push(format!(
                    "{} `{}` does not exist and is not created: {why}",
                    desired.kind, desired.name
                )),
                None => changes.push(create(desired)),
            },
            Some(existing) => changes.extend(diff(kind, desired, existing)),
        }
    }
    changes.extend(live.rest().map(delete));
    sort_changes(&mut changes, kinds);
    let (changes, sides) = changes.into_iter().unzip();
    let plan = EnvPlan {
        environment: state.env.name.clone(),
        replica: state.env.replica_of.is_some(),
        account_id: state.account_id,
        region: state.env.region.clone(),
        changes,
        notes,
    };
    EnvWork { plan, sides }
}

/// The live objects, found by kind and name, each taken at most once. Sorted in place rather
/// than moved into a map: at 100,000 parameters a map (or collecting into one, which sorts a
/// copy) was the plan's peak memory.
struct LiveObjects {
    sorted: Vec<Resource>,
    /// Position for position: already taken (a placeholder with the name is left behind, so
    /// that the order still finds the others).
    taken: Vec<bool>,
}

impl LiveObjects {
    fn new(mut sorted: Vec<Resource>) -> Self {
        sorted.sort_unstable_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        // One object per name, as a map would keep (fetch never reads one twice).
        sorted.dedup_by(|a, b| (a.kind, &a.name) == (b.kind, &b.name));
        let taken = vec![false; sorted.len()];
        LiveObjects { sorted, taken }
    }

    fn position(&self, kind: &str, name: &str) -> Option<usize> {
        let found = self
            .sorted
            .binary_search_by(|r| (r.kind, r.name.as_str()).cmp(&(kind, name)));
        found.ok().filter(|&i| !self.taken[i])
    }

    fn contains(&self, kind: &str, name: &str) -> bool {
        self.position(kind, name).is_some()
    }

    fn take(&mut self, kind: &str, name: &str) -> Option<Resource> {
        let i = self.position(kind, name)?;
        self.taken[i] = true;
        let placeholder = Resource::new(self.sorted[i].kind, name);
        Some(std::mem::replace(&mut self.sorted[i], placeholder))
    }

    /// The objects not taken, in kind and name order.
    fn rest(self) -> impl Iterator<Item = Resource> {
        self.sorted
            .into_iter()
            .zip(self.taken)
            .filter(|(_, taken)| !taken)
            .map(|(resource, _)| resource)
    }
}

/// Whether a created or deleted resource's field says anything (null, `[]` and `{}` do not).
fn worth_showing(field: &Field) -> bool {
    match field.value.shown() {
        Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Array(items)) => !items.is_empty(),
        Some(serde_json::Value::Object(map)) => !map.is_empty(),
        _ => true,
    }
}

fn create(desired: Resource) -> Planned {
    let fields = desired
        .fields
        .iter()
        .filter(|(_, f)| worth_showing(f))
        .map(|(name, f)| field_change(name, None, Some(&f.value)))
        .collect();
    let change = Change {
        action: Action::Create,
        kind: desired.kind.to_string(),
        name: desired.name.clone(),
        fields,
        reason: None,
        computed_against: None,
        source: None,
    };
    let sides = Sides {
        desired: Some(Arc::new(desired)),
        live: None,
    };
    (change, sides)
}

/// A declaration that takes over a live object under a new name: the old one is deleted and
/// the new one created (AWS has no rename for such kinds), as one replacement.
fn rename(desired: Resource, old: Resource) -> Planned {
    let (mut change, mut sides) = create(desired);
    change.action = Action::Replace;
    change.reason = Some(format!(
        "renamed from `{}`: AWS cannot rename it, so it is deleted and created anew",
        old.name
    ));
    change.computed_against = old.version.clone();
    sides.live = Some(Arc::new(old));
    (change, sides)
}

fn delete(live: Resource) -> Planned {
    let fields = live
        .fields
        .iter()
        .filter(|(_, f)| worth_showing(f))
        .map(|(name, f)| field_change(name, Some(&f.value), None))
        .collect();
    let change = Change {
        action: Action::Delete,
        kind: live.kind.to_string(),
        name: live.name.clone(),
        fields,
        reason: Some(match live.delete_note() {
            Some(note) => format!("not declared in desired/; {note}"),
            None => "not declared in desired/".into(),
        }),
        computed_against: live.version.clone(),
        source: None,
    };
    let sides = Sides {
        desired: None,
        live: Some(Arc::new(live)),
    };
    (change, sides)
}

/// The change that brings `live` to `desired` (both of `kind`, same name), if any.
pub fn diff(kind: &dyn DynKind, desired: Resource, live: Resource) -> Option<(Change, Sides)> {
    let null = Value::null();
    let mut fields = Vec::new();
    for (name, Field { value, create_only }) in &desired.fields {
        if *create_only {
            continue;
        }
        let before = live.get(name).unwrap_or(&null);
        if value.same_as(before) {
            continue;
        }
        fields.push(field_change(name, live.get(name), Some(value)));
    }
    if fields.is_empty() {
        return None;
    }
    let replace_reasons = kind.replace_reasons(&live, &desired);
    let action = if replace_reasons.is_empty() {
        Action::Update
    } else {
        Action::Replace
    };
    let change = Change {
        action,
        kind: desired.kind.to_string(),
        name: desired.name.clone(),
        fields,
        reason: (!replace_reasons.is_empty()).then(|| replace_reasons.join("; ")),
        computed_against: live.version.clone(),
        source: None,
    };
    let sides = Sides {
        desired: Some(Arc::new(desired)),
        live: Some(Arc::new(live)),
    };
    Some((change, sides))
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
fn sort_changes(changes: &mut [Planned], kinds: &[&dyn DynKind]) {
    let position = |kind: &str| kinds.iter().position(|k| k.name() == kind).unwrap_or(usize::MAX);
    changes.sort_by_cached_key(|(c, sides)| {
        let tier = kinds
            .iter()
            .find(|k| k.name() == c.kind)
            .map_or(0, |kind| sides.tier(*kind));
        let order = match c.action {
            Action::Delete => (kinds.len() - position(&c.kind).min(kinds.len()), u8::MAX - tier),
            _ => (position(&c.kind), tier),
        };
        (c.action, order, c.name.clone())
    });
}

/// Marks each change of `head` as this change's own or as pre-existing drift: a change that
/// planning the base's desired/ against the same live state gives too was there before.
pub fn classify(head: &mut EnvPlan, base: &EnvPlan) {
    for change in &mut head.changes {
        let before = base.changes.iter().any(|b| {
            (b.action, &b.kind, &b.name, &b.fields)
                == (change.action, &change.kind, &change.name, &change.fields)
        });
        change.source = Some(if before { Source::Drift } else { Source::ThisChange });
    }
}

/// Deletions and replacements of protected resources: `protect = true` on the declaration, or
/// a name matching the environment's `protect` patterns (which survive a deleted file).
pub fn protected_changes(plan: &EnvPlan, sides: &[Sides], env: &Environment) -> Vec<Refusal> {
    let destructive = plan
        .changes
        .iter()
        .zip(sides)
        .filter(|(c, _)| matches!(c.action, Action::Delete | Action::Replace));
    destructive
        .filter_map(|(change, sides)| {
            let declared = sides.desired.as_ref().is_some_and(|d| d.protect);
            // A rename deletes the live object of the old name: its name counts too.
            let names =
                std::iter::once(change.name.as_str()).chain(sides.live.as_ref().map(|l| l.name.as_str()));
            let names: Vec<&str> = names.collect();
            let pattern = env
                .protect
                .iter()
                .find(|p| names.iter().any(|n| glob::matches(p, n)));
            let rule = match (declared, pattern) {
                (true, _) => "protect = true".to_string(),
                (false, Some(pattern)) => format!("matches protect pattern `{pattern}` in plumb.toml"),
                (false, None) => return None,
            };
            Some(Refusal::Protected {
                environment: plan.label(),
                action: change.action.verb(),
                kind: change.kind.clone(),
                name: change.name.clone(),
                rule,
            })
        })
        .collect()
}

/// A declaration with `protect = true`, of any environment (see [`protected_elsewhere`]).
#[derive(Clone, Debug)]
pub struct ProtectedDeclaration {
    pub environment: String,
    pub account_id: Option<String>,
    pub region: String,
    pub kind: &'static str,
    pub name: String,
}

impl ProtectedDeclaration {
    /// An environment's declarations with `protect = true`.
    pub fn declared(env: &Environment, resources: &[Resource]) -> Vec<ProtectedDeclaration> {
        let protected = resources.iter().filter(|r| r.protect);
        protected
            .map(|r| ProtectedDeclaration {
                environment: env.name.clone(),
                account_id: env.account_id.clone(),
                region: env.region.clone(),
                kind: r.kind,
                name: r.name.clone(),
            })
            .collect()
    }
}

/// Deletions and replacements of objects another environment of the same account declares
/// with `protect = true` (`protected`: every environment's, the ones not planned in this run
/// too). A declaration moved from one environment to another (an IAM user, whose name is one
/// in the account) deletes the object in the first and creates it anew in the second: its
/// protection moved with it and holds there too. Environments whose accounts plumb.toml does
/// not give may share one: counted as the same, so that such a move is refused rather than
/// carried out (`account_id` on both tells them apart).
pub fn protected_elsewhere(
    plan: &EnvPlan,
    sides: &[Sides],
    protected: &[ProtectedDeclaration],
    kinds: &[&dyn DynKind],
) -> Vec<Refusal> {
    // Some(true): the same account; None: plumb.toml does not say (it may be).
    let same_account = |other: &ProtectedDeclaration| match (&plan.account_id, &other.account_id) {
        (Some(a), Some(b)) => Some(a == b),
        _ => None,
    };
    let destructive = plan.changes.iter().zip(sides);
    let destructive = destructive.filter(|(c, _)| matches!(c.action, Action::Delete | Action::Replace));
    destructive
        .filter_map(|(change, side)| {
            let live_name = side
                .live
                .as_ref()
                .map_or(change.name.as_str(), |l| l.name.as_str());
            let kind = kinds.iter().find(|k| k.name() == change.kind);
            let account_wide = kind.is_some_and(|k| k.scope().account_wide);
            // IAM names are one whatever their case: `DeployBot` declared is `deploybot` live.
            let iam = kind.is_some_and(|k| k.scope().shape == Shape::IamPath);
            let same_name = |p: &ProtectedDeclaration| match iam {
                true => p.name.eq_ignore_ascii_case(live_name),
                false => p.name == live_name,
            };
            let other = protected.iter().find(|p| {
                // The environment's own declaration of this very name is `protected_changes`'.
                (p.environment != plan.environment || p.name != live_name)
                    && p.kind == change.kind
                    && same_name(p)
                    && same_account(p) != Some(false)
                    && (account_wide || p.region == plan.region)
            })?;
            let declared_as = match other.name != live_name {
                true => format!(" as `{}` (one IAM name, whatever its case)", other.name),
                false => String::new(),
            };
            let account = match (other.environment == plan.environment, same_account(other)) {
                (true, _) => "",
                (false, Some(_)) => " in the same account",
                (false, None) => " perhaps in the same account (set `account_id` on both to tell)",
            };
            let hint = match iam && other.environment != plan.environment {
                true => "; plumb cannot move it to another environment's path (IAM can, by hand)",
                false => "",
            };
            Some(Refusal::Protected {
                environment: plan.label(),
                action: change.action.verb(),
                kind: change.kind.clone(),
                name: live_name.to_string(),
                rule: format!(
                    "protect = true in environment `{}`, which declares it{declared_as}{account}{hint}",
                    other.environment
                ),
            })
        })
        .collect()
}

/// The deletion guard: `--allow-deletes N` when given, else the environment's `max_deletes`
/// (10 when unset), over all of one environment's sections (its replica regions' included).
pub fn too_many_deletes(sections: &[&EnvPlan], env: &Environment, allow: Option<usize>) -> Option<Refusal> {
    let limit = allow.unwrap_or(env.delete_limit());
    let count = sections
        .iter()
        .flat_map(|plan| &plan.changes)
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .count();
    (count > limit).then(|| Refusal::TooManyDeletes {
        environment: env.name.clone(),
        count,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{
        EnvState, EnvWork, ProtectedDeclaration, plan_environment, protected_changes, protected_elsewhere,
        too_many_deletes,
    };
    use crate::config::Environment;
    use crate::kinds::contract::declared_resource;
    use crate::kinds::ssm::parameter::{Contents, Parameter, Parameters};
    use crate::kinds::{Declared, registry};
    use crate::plan::{Action, EnvPlan};
    use crate::resource::{Resource, Secret, Value};

    fn env() -> Environment {
        toml::from_str("region = \"us-east-1\"\nprotect = [\"/app/db/*\"]\nmax_deletes = 1\n").unwrap()
    }

    /// A String parameter's spec with `value`, all else AWS's defaults.
    fn spec(value: Contents) -> Parameter {
        Parameter::string(value)
    }

    fn resource(name: &str, spec: Parameter) -> Resource {
        declared_resource(&Parameters, name, Declared::new(spec))
    }

    fn parameter(name: &str, value: &str) -> Resource {
        resource(name, spec(Contents::Managed(Value::text(value))))
    }

    /// A StringList parameter where a String is live: a type change.
    fn list_parameter(name: &str, value: &str) -> Resource {
        let mut list = spec(Contents::Managed(Value::text(value)));
        list.type_ = "StringList".into();
        resource(name, list)
    }

    fn secret_parameter(name: &str, value: Contents) -> Resource {
        resource(name, spec(value))
    }

    fn plan(desired: Vec<Resource>, live: Vec<Resource>) -> EnvPlan {
        work(desired, live).plan
    }

    fn work(desired: Vec<Resource>, live: Vec<Resource>) -> EnvWork {
        let env = env();
        let state = EnvState {
            env: &env,
            account_id: None,
            desired,
            live,
        };
        plan_environment(state, &registry())
    }

    #[test]
    fn equal_sides_plan_nothing() {
        let p = plan(vec![parameter("/app/a", "1")], vec![parameter("/app/a", "1")]);
        assert!(p.changes.is_empty());
    }

    #[test]
    fn a_changed_value_is_an_update_with_before_and_after() {
        let p = plan(vec![parameter("/app/a", "2")], vec![parameter("/app/a", "1")]);
        assert_eq!(p.changes.len(), 1);
        let change = &p.changes[0];
        assert_eq!(change.action, Action::Update);
        assert_eq!(change.fields[0].field, "value");
        assert_eq!(change.fields[0].before, Some(json!("1")));
        assert_eq!(change.fields[0].after, Some(json!("2")));
    }

    #[test]
    fn fields_the_declaration_leaves_out_are_not_compared() {
        let mut advanced = spec(Contents::Managed(Value::text("1")));
        advanced.tier = Some("Advanced".into());
        let live = resource("/app/a", advanced);
        assert!(
            plan(vec![parameter("/app/a", "1")], vec![live])
                .changes
                .is_empty()
        );
    }

    #[test]
    fn a_type_change_is_a_replace_with_a_reason() {
        let desired = list_parameter("/app/a", "1");
        let p = plan(vec![desired], vec![parameter("/app/a", "1")]);
        assert_eq!(p.changes[0].action, Action::Replace);
        assert_eq!(
            p.changes[0].reason.as_deref(),
            Some("AWS cannot change a parameter's type in place")
        );
    }

    #[test]
    fn secrets_are_compared_but_never_carried() {
        let desired = secret_parameter(
            "/app/pw",
            Contents::Managed(Value::Secret(Secret::new("new-secret"))),
        );
        let live = secret_parameter(
            "/app/pw",
            Contents::Managed(Value::Secret(Secret::new("old-secret"))),
        );
        let p = plan(vec![desired.clone()], vec![live]);
        let field = &p.changes[0].fields[0];
        assert!(field.sensitive);
        assert_eq!((&field.before, &field.after), (&None, &None));
        assert!(!serde_json::to_string(&p).unwrap().contains("secret\""));

        // A secret from the environment equals the plain value AWS returns for a String.
        let same = plan(vec![desired], vec![parameter("/app/pw", "new-secret")]);
        assert!(same.changes.is_empty());
    }

    #[test]
    fn create_only_fields_are_not_compared_after_creation() {
        let desired = secret_parameter("/app/t", Contents::Initial(Value::Secret(Secret::new("seed"))));
        assert!(
            plan(vec![desired], vec![parameter("/app/t", "rotated")])
                .changes
                .is_empty()
        );
    }

    #[test]
    fn deletions_come_first_then_replacements_then_the_rest() {
        let replaced = list_parameter("/app/r", "1");
        let desired = vec![parameter("/app/a-new", "1"), replaced, parameter("/app/u", "2")];
        let live = vec![
            parameter("/app/r", "1"),
            parameter("/app/u", "1"),
            parameter("/app/z-gone", "1"),
        ];
        let p = plan(desired, live);
        let actions: Vec<Action> = p.changes.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            [Action::Delete, Action::Replace, Action::Create, Action::Update]
        );
        assert_eq!(p.changes[0].reason.as_deref(), Some("not declared in desired/"));
    }

    #[test]
    fn a_resource_that_must_not_be_created_yet_is_a_note() {
        let mut desired = parameter("/app/t", "");
        desired.set_rare(crate::resource::Rare {
            skip_create: Some("set `T` to create it".into()),
            ..Default::default()
        });
        let p = plan(vec![desired], vec![]);
        assert!(p.changes.is_empty());
        assert_eq!(
            p.notes,
            ["parameter `/app/t` does not exist and is not created: set `T` to create it"]
        );
    }

    /// A parameter deleted here and declared protected by another environment: refused when
    /// the two may share an account and a region (parameters are regional), not otherwise.
    #[test]
    fn protection_declared_by_another_environment() {
        let mut w = work(vec![], vec![parameter("/shared/flag", "x")]);
        w.plan.account_id = Some("111111111111".into());
        let elsewhere = |account: Option<&str>, region: &str| ProtectedDeclaration {
            environment: "prod".into(),
            account_id: account.map(str::to_string),
            region: region.into(),
            kind: "parameter",
            name: "/shared/flag".into(),
        };
        let refused =
            |p: ProtectedDeclaration| !protected_elsewhere(&w.plan, &w.sides, &[p], &registry()).is_empty();
        assert!(refused(elsewhere(Some("111111111111"), "us-east-1")));
        assert!(
            refused(elsewhere(None, "us-east-1")),
            "an account plumb.toml does not give may be the same"
        );
        assert!(!refused(elsewhere(Some("222222222222"), "us-east-1")));
        assert!(!refused(elsewhere(Some("111111111111"), "eu-west-1")));
    }

    #[test]
    fn protection_and_the_deletion_guard() {
        let w = work(
            vec![],
            vec![parameter("/app/db/password", "x"), parameter("/app/other", "y")],
        );
        let p = &w.plan;
        let refusals = protected_changes(&w.plan, &w.sides, &env());
        assert_eq!(refusals.len(), 1);
        assert!(
            refusals[0]
                .to_string()
                .contains("`/app/db/password` (matches protect pattern `/app/db/*`")
        );
        assert!(
            too_many_deletes(&[p], &env(), None).is_some(),
            "max_deletes = 1, two deletions"
        );
        assert!(
            too_many_deletes(&[p], &env(), Some(2)).is_none(),
            "--allow-deletes 2"
        );

        let mut declared = list_parameter("/app/k", "1");
        declared.protect = true;
        let w = work(vec![declared], vec![parameter("/app/k", "1")]);
        assert!(
            protected_changes(&w.plan, &w.sides, &env())[0]
                .to_string()
                .contains("(protect = true)")
        );
    }
}
