//! The contract every resource kind implements, typed end to end, and the one place that
//! erases it for the registry, the engine and the executor.
//!
//! A kind says four things in its own types: how its TOML table reads (`Declaration`), what
//! plumb manages of one object (`Spec`, the same type for the declared and the live side),
//! how the plan shows a spec (`fields`), and how AWS is read and written (`fetch`, `apply`
//! with a typed [`Op`]). Everything kind-neutral (TOML to spec, plan fields, "a field the
//! declaration leaves out is not compared", secrets in plans) is written once, here and in
//! the engine.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::aws::{AwsError, Session};
use crate::config::Environment;
use crate::engine::Sides;
use crate::plan::{Action, Change};
use crate::resource::{Field, FieldName, Payload, Reference, Resource, Value};
use crate::scope::Rule;
use crate::source::{Diagnostic, Entry};

/// A resource kind. Implement this; the registry sees it through [`DynKind`].
#[async_trait]
pub trait Kind: Send + Sync + 'static {
    /// The singular name shown in plans: `parameter`.
    const NOUN: &'static str;
    /// The TOML table that declares it: `parameters`.
    const TABLE: &'static str;
    /// Which setting of the environment's scope owns its objects.
    const SCOPE: Rule;
    /// The table's shape in TOML; unknown keys are refused (`deny_unknown_fields`).
    /// Its doc comments are the field descriptions `plumb schema` gives editors.
    type Declaration: DeserializeOwned + schemars::JsonSchema;
    /// What plumb manages of one object, normalised so that equal means unchanged (sets
    /// sorted, decimals canonical, documents parsed). Built by `parse` from a declaration and
    /// by `fetch` from AWS. An `Option` that [`Fields::managed`] shows is not managed when the
    /// declaration leaves it `None`.
    type Spec: Clone + Debug + Send + Sync + 'static;

    /// Checks one declaration offline and turns it into a spec; reports every problem found.
    fn parse(
        &self,
        entry: &Entry,
        declaration: Self::Declaration,
    ) -> Result<Declared<Self::Spec>, Vec<Diagnostic>>;

    /// The spec's fields as the plan shows and compares them, in the order they are shown.
    fn fields(&self, spec: &Self::Spec) -> Fields;

    /// Reads every live object of this kind in scope. `declared` says which objects are
    /// declared, so that per-object reads (tags, say) can be limited to those that need them.
    async fn fetch(
        &self,
        session: &Session,
        declared: &Declarations<'_, Self::Spec>,
    ) -> Result<Vec<Live<Self::Spec>>, AwsError>;

    /// Why bringing `live` to `desired` cannot be done in place, if it cannot (asked only when
    /// they differ).
    fn replace_reasons(&self, _live: &Self::Spec, _desired: &Self::Spec) -> Vec<String> {
        Vec::new()
    }

    /// Why this change must not be carried out, checked for every change before an apply
    /// writes anything: a change that would touch what plumb does not own (a policy attached
    /// to a role outside the scope, say) is refused up front instead of failing half-way.
    async fn preflight(
        &self,
        _session: &Session,
        _op: &Op<'_, Self::Spec>,
    ) -> Result<Option<String>, AwsError> {
        Ok(None)
    }

    /// Carries out one change. Must be idempotent enough that running apply again after a
    /// partial failure finishes the job.
    async fn apply(&self, session: &Session, op: Op<'_, Self::Spec>) -> Result<(), AwsError>;

    /// Where an object stands among its kind's in the apply order: tier 0 first when
    /// creating, last when deleting (a composite alarm, tier 1, comes after the alarms its
    /// rule names).
    fn tier(&self, _spec: &Self::Spec) -> u8 {
        0
    }

    /// Objects of the same kind this one is created after and deleted before (a composite
    /// alarm after the alarms its rule names): within a phase, they go in waves.
    fn after(&self, _spec: &Self::Spec) -> Vec<String> {
        Vec::new()
    }

    /// The spec as kept in a replica region (`replica_regions` in plumb.toml), or `None` when
    /// the kind keeps no replicas. `key_id` is the environment's `replica_key_id`.
    fn replica(&self, _spec: &Self::Spec, _key_id: Option<&str>) -> Option<Self::Spec> {
        None
    }

    /// Whether the spec names other objects that only the account can turn into ARNs
    /// (`"topic:alerts"`): the pipeline then learns the account and calls `resolve`.
    fn has_references(&self, _spec: &Self::Spec) -> bool {
        false
    }

    /// Replaces references to other declared objects with what AWS calls them, in the
    /// environment's `region` and `account`, before the spec is compared.
    fn resolve(&self, _spec: &mut Self::Spec, _region: &str, _account: &str) {}

    /// A live object as a person would declare it, for `plumb import`: the inverse of
    /// `parse` (parsing what it returns gives `live` back), AWS's defaults left out, secrets
    /// never written.
    fn import(&self, name: &str, live: &Self::Spec, context: &ImportContext) -> Imported;

    /// Live objects that look like the environment's but lie outside its scope, each with
    /// why and what would bring it in: `plumb import` lists them and touches none.
    async fn out_of_reach(&self, _session: &Session) -> Result<Vec<OutOfReach>, AwsError> {
        Ok(Vec::new())
    }

    /// Reads, before anything else of the environment, the first page of a listing that
    /// holds only the caller's own objects, with their ARNs and nothing secret, and notes
    /// their account (`Session::note_own_arns`): the account guard of plan, drift and
    /// compare then needs no STS call. The page is kept for `fetch`, which reads on from
    /// it. Kinds without such a listing do nothing.
    async fn list_first_page(&self, _session: &Session) -> Result<(), AwsError> {
        Ok(())
    }
}

/// A table's problems in the order its fields are written, whatever order its kind checks
/// them in (stable: problems at one place keep the kind's order).
fn in_written_order(mut problems: Vec<Diagnostic>) -> Vec<Diagnostic> {
    problems.sort_by_key(|p| p.origin.as_ref().map(|o| (o.line, o.column)));
    problems
}

/// An object `plumb import` saw but may not import (see [`Kind::out_of_reach`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfReach {
    pub name: String,
    pub why: String,
}

/// What an import knows beyond the object itself.
pub struct ImportContext<'a> {
    pub env: &'a Environment,
    /// The objects declared, or imported in the same run, as (noun, name): references to
    /// them can be written as such (a user's groups).
    pub known: &'a BTreeSet<(&'static str, String)>,
    /// The environment variables given out so far in this run.
    pub variables: std::cell::RefCell<BTreeSet<String>>,
}

/// Variables a CI runner or the AWS SDK sets or reads by themselves (a name ending in `_` is
/// a prefix): a secret must never be read from one of them. An imported `/github/token`
/// would take the runner's token; `value_from_env = "AWS_SECRET_ACCESS_KEY"` would copy the
/// apply job's own credentials into a parameter.
const RESERVED_VARIABLES: &[&str] = &[
    "GITHUB_", "RUNNER_", "ACTIONS_", "AWS_", "INPUT_", "PLUMB_", "CI_", "HOME", "PATH", "SHELL", "USER",
    "PWD", "LANG", "TERM", "TMPDIR", "HOSTNAME",
];

/// Whether `name` is a variable the CI runner or the AWS SDK sets (see [`RESERVED_VARIABLES`]),
/// in any case: Windows runners read `github_token` as `GITHUB_TOKEN`.
pub fn is_runner_variable(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    RESERVED_VARIABLES
        .iter()
        .any(|r| name == r.trim_end_matches('_') || (r.ends_with('_') && name.starts_with(r)))
}

impl ImportContext<'_> {
    pub fn knows(&self, noun: &str, name: &str) -> bool {
        self.known.iter().any(|(n, known)| *n == noun && known == name)
    }

    /// A variable for an imported secret, from `wanted`: prefixed with `SSM_` when a runner
    /// or the SDK could set it, and numbered when another secret of this run has it.
    pub fn claim_variable(&self, wanted: &str) -> String {
        let base = if is_runner_variable(wanted) {
            format!("SSM_{wanted}")
        } else {
            wanted.to_string()
        };
        let mut taken = self.variables.borrow_mut();
        let name = (1..)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    format!("{base}_{n}")
                }
            })
            .find(|candidate| !taken.contains(candidate))
            .unwrap_or(base);
        taken.insert(name.clone());
        name
    }
}

/// One imported declaration.
#[derive(Debug, Default)]
pub struct Imported {
    /// The entry's table, as TOML.
    pub declaration: toml::Table,
    /// The documents it refers to with `file = "..."`: their paths, relative to the TOML
    /// file, and their JSON.
    pub files: Vec<(String, serde_json::Value)>,
    /// The environment variables it reads (`initial_value_from_env`): set them in CI.
    pub variables: Vec<String>,
}

impl Imported {
    /// A declaration serialised as TOML, in its struct's order, without what says nothing:
    /// `None`s, and empty lists and tables at any depth (each means the default there).
    pub fn of(declaration: &impl Serialize) -> Imported {
        let mut table = toml::Table::try_from(declaration).unwrap_or_default();
        prune_empty(&mut table);
        Imported {
            declaration: table,
            ..Imported::default()
        }
    }

    pub fn with_file(mut self, path: String, document: serde_json::Value) -> Imported {
        self.files.push((path, document));
        self
    }
}

/// What a [`Kind::fetch`] is for: a plan, which reads what the declared objects need (tags
/// only where declared, say); a recheck of some objects after apply wrote them, which needs
/// nothing of the others; or an import, which reads every object whole and decrypts nothing.
#[derive(Debug)]
pub struct Declarations<'a, S> {
    by_name: BTreeMap<&'a str, &'a S>,
    purpose: Purpose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Plan,
    Recheck,
    Import,
}

impl<'a, S> Declarations<'a, S> {
    /// For a plan of these declared objects.
    pub fn plan(declared: impl IntoIterator<Item = (&'a str, &'a S)>) -> Self {
        Declarations {
            by_name: declared.into_iter().collect(),
            purpose: Purpose::Plan,
        }
    }

    /// For reading these declared objects again (creates that found them already there):
    /// the others are listed but nothing more is read of them.
    pub fn recheck(declared: impl IntoIterator<Item = (&'a str, &'a S)>) -> Self {
        Declarations {
            by_name: declared.into_iter().collect(),
            purpose: Purpose::Recheck,
        }
    }

    /// For `plumb import`: nothing is declared, and everything is read.
    pub fn import() -> Self {
        Declarations {
            by_name: BTreeMap::new(),
            purpose: Purpose::Import,
        }
    }

    /// Only the declared objects matter: what a plan would read of the others to show them
    /// (a deletion's markers, say) can be left out.
    pub fn only_declared_matter(&self) -> bool {
        self.purpose == Purpose::Recheck
    }

    pub fn get(&self, name: &str) -> Option<&'a S> {
        self.by_name.get(name).copied()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a S)> + '_ {
        self.by_name.iter().map(|(name, spec)| (*name, *spec))
    }

    /// Import: read every object whole (all tags, what AWS fills in) and decrypt nothing.
    pub fn reads_everything(&self) -> bool {
        self.purpose == Purpose::Import
    }
}

/// A declared object: its spec and what the plan needs to know beside it.
#[derive(Clone, Debug)]
pub struct Declared<S> {
    pub spec: S,
    /// `protect = true` in its table.
    pub protect: bool,
    /// Why it must not be created now, if it does not exist yet (shown as a note).
    pub skip_create: Option<String>,
    /// Other declared objects it needs (a user's groups); the loader checks they are declared.
    pub references: Vec<Reference>,
    /// The live object it takes over under a new name (kinds AWS cannot rename): planned as
    /// one replacement, the old one deleted.
    pub renamed_from: Option<String>,
}

impl<S> Declared<S> {
    pub fn new(spec: S) -> Self {
        Declared {
            spec,
            protect: false,
            skip_create: None,
            references: Vec::new(),
            renamed_from: None,
        }
    }

    pub fn protect(mut self, protect: bool) -> Self {
        self.protect = protect;
        self
    }
}

/// A live object as read from AWS.
#[derive(Clone, Debug)]
pub struct Live<S> {
    pub name: String,
    pub spec: S,
    /// What a plan computed against it depends on (`version 3`): a different value at apply
    /// time makes a saved plan stale.
    pub version: Option<String>,
    /// What deleting it also deletes (a user's access keys), for the plan.
    pub delete_note: Option<String>,
}

impl<S> Live<S> {
    pub fn new(name: impl Into<String>, spec: S) -> Self {
        Live {
            name: name.into(),
            spec,
            version: None,
            delete_note: None,
        }
    }

    pub fn version(mut self, version: Option<String>) -> Self {
        self.version = version;
        self
    }
}

/// One change, typed: what apply (and preflight) of a kind is given.
#[derive(Debug)]
pub enum Op<'a, S> {
    Create {
        name: &'a str,
        desired: &'a S,
    },
    Update {
        name: &'a str,
        live: &'a S,
        desired: &'a S,
    },
    /// Deleted and created anew. `live_name` is the object deleted: `name` unless the
    /// declaration is `renamed_from` it.
    Replace {
        name: &'a str,
        live_name: &'a str,
        live: &'a S,
        desired: &'a S,
    },
    Delete {
        name: &'a str,
        live: &'a S,
    },
}

impl<'a, S> Op<'a, S> {
    pub fn action(&self) -> Action {
        match self {
            Op::Create { .. } => Action::Create,
            Op::Update { .. } => Action::Update,
            Op::Replace { .. } => Action::Replace,
            Op::Delete { .. } => Action::Delete,
        }
    }

    /// The object's name (the new one, for a renaming replacement).
    pub fn name(&self) -> &'a str {
        match self {
            Op::Create { name, .. }
            | Op::Update { name, .. }
            | Op::Replace { name, .. }
            | Op::Delete { name, .. } => name,
        }
    }
}

/// A spec's fields as a plan shows them: names in display order, values normalised.
#[derive(Debug, Default)]
pub struct Fields(Vec<(FieldName, Field)>);

impl Fields {
    pub fn new() -> Self {
        Fields::default()
    }

    /// A spec's fields as serde writes them, in the order its struct declares them: each one
    /// managed, `None` compared as null, except where serde leaves a field out
    /// (`skip_serializing_if = "Option::is_none"`): such a field is managed only when declared.
    /// For specs without secrets (a secret has no `Serialize`).
    pub fn of(spec: &impl Serialize) -> Self {
        let text = serde_json::to_string(spec).unwrap_or_default();
        let ordered: Ordered = serde_json::from_str(&text).unwrap_or_default();
        ordered
            .0
            .into_iter()
            .fold(Fields::new(), |fields, (name, value)| {
                fields.with_field(
                    name,
                    Field {
                        value: Value::Plain(value),
                        create_only: false,
                    },
                )
            })
    }

    /// A managed field; `None` in an `Option` is shown and compared as null (absent).
    pub fn with(self, name: &'static str, value: &impl Serialize) -> Self {
        self.with_value(name, plain(value))
    }

    /// A field managed only when declared: `None` leaves it out, so it is not compared.
    pub fn managed<T: Serialize>(self, name: &'static str, value: Option<&T>) -> Self {
        match value {
            Some(value) => self.with(name, value),
            None => self,
        }
    }

    /// A field whose value may be secret.
    pub fn with_value(self, name: &'static str, value: Value) -> Self {
        self.with_field(
            name,
            Field {
                value,
                create_only: false,
            },
        )
    }

    /// A field sent when the object is created and never compared afterwards.
    pub fn create_only(self, name: &'static str, value: Value) -> Self {
        self.with_field(
            name,
            Field {
                value,
                create_only: true,
            },
        )
    }

    fn with_field(mut self, name: impl Into<FieldName>, field: Field) -> Self {
        self.0.push((name.into(), field));
        self
    }

    /// The fields, in a vector of their exact size: one is kept per declared and per live
    /// object for the whole plan (100,000 parameters make 200,000).
    fn into_vec(mut self) -> Vec<(FieldName, Field)> {
        self.0.shrink_to_fit();
        self.0
    }
}

fn prune_empty(table: &mut toml::Table) {
    for (_, value) in table.iter_mut() {
        match value {
            toml::Value::Table(inner) => prune_empty(inner),
            toml::Value::Array(items) => items.iter_mut().for_each(|item| {
                if let toml::Value::Table(inner) = item {
                    prune_empty(inner);
                }
            }),
            _ => {}
        }
    }
    table.retain(|_, value| match value {
        toml::Value::Table(inner) => !inner.is_empty(),
        toml::Value::Array(items) => !items.is_empty(),
        _ => true,
    });
}

/// A JSON object's entries in the order they were written (serde_json's maps sort them).
#[derive(Default)]
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ordered;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// A serialisable value as a plan value. Specs hold plain data (strings, numbers, maps),
/// which always serialise; anything else would be a bug shown as null, never a panic.
fn plain(value: &impl Serialize) -> Value {
    Value::Plain(serde_json::to_value(value).unwrap_or(serde_json::Value::Null))
}

/// What the registry, the loader, the engine and the executor call: a [`Kind`] with its types
/// erased. Implemented for every kind by the blanket impl below; nothing else implements it.
#[async_trait]
pub trait DynKind: Send + Sync {
    fn name(&self) -> &'static str;
    fn table(&self) -> &'static str;
    fn scope(&self) -> Rule;
    /// The JSON Schema of one declaration (`plumb schema`).
    fn declaration_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
    /// Whether an object of this name lies in the environment's scope (plumb owns it).
    fn in_scope(&self, env: &Environment, name: &str) -> bool;
    fn parse(&self, entry: &Entry) -> Result<Resource, Vec<Diagnostic>>;
    async fn fetch(&self, session: &Session, desired: &[&Resource]) -> Result<Vec<Resource>, AwsError>;
    /// The live objects again after apply wrote `desired` (see [`Declarations::recheck`]).
    async fn fetch_again(&self, session: &Session, desired: &[&Resource]) -> Result<Vec<Resource>, AwsError>;
    /// Why bringing `live` to `desired` cannot be done in place.
    fn replace_reasons(&self, live: &Resource, desired: &Resource) -> Vec<String>;
    async fn preflight(
        &self,
        session: &Session,
        change: &Change,
        sides: &Sides,
    ) -> Result<Option<String>, AwsError>;
    async fn apply(&self, session: &Session, change: &Change, sides: &Sides) -> Result<(), AwsError>;
    /// Every live object in scope, read whole and without decrypting anything (`plumb import`).
    async fn fetch_all(&self, session: &Session) -> Result<Vec<Resource>, AwsError>;
    /// A live object (from `fetch_all`) as a declaration.
    fn import(&self, live: &Resource, context: &ImportContext) -> Option<Imported>;
    /// A resource's tier among its kind's (see [`Kind::tier`]).
    fn tier(&self, resource: &Resource) -> u8;
    /// What a resource is applied after (see [`Kind::after`]).
    fn after(&self, resource: &Resource) -> Vec<String>;
    /// A declared resource as kept in a replica region (see [`Kind::replica`]).
    fn replica(&self, declared: &Resource, key_id: Option<&str>) -> Option<Resource>;
    /// Whether a declared resource refers to others by name (see [`Kind::resolve`]).
    fn has_references(&self, declared: &Resource) -> bool;
    /// The declared resource with its references resolved (see [`Kind::resolve`]).
    fn resolve(&self, declared: &mut Resource, region: &str, account: &str);
    async fn out_of_reach(&self, session: &Session) -> Result<Vec<OutOfReach>, AwsError>;
    /// See [`Kind::list_first_page`].
    async fn list_first_page(&self, session: &Session) -> Result<(), AwsError>;
}

#[async_trait]
impl<K: Kind> DynKind for K {
    fn name(&self) -> &'static str {
        K::NOUN
    }

    fn table(&self) -> &'static str {
        K::TABLE
    }

    fn scope(&self) -> Rule {
        K::SCOPE
    }

    fn declaration_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<K::Declaration>()
    }

    fn in_scope(&self, env: &Environment, name: &str) -> bool {
        K::SCOPE.covers(&env.scope, name)
    }

    fn parse(&self, entry: &Entry) -> Result<Resource, Vec<Diagnostic>> {
        let declaration: K::Declaration = entry.deserialize().map_err(|d| vec![d])?;
        let declared = Kind::parse(self, entry, declaration).map_err(in_written_order)?;
        Ok(declared_resource(self, entry.name, declared))
    }

    async fn fetch(&self, session: &Session, desired: &[&Resource]) -> Result<Vec<Resource>, AwsError> {
        let declared = Declarations::plan(specs_of::<K>(desired));
        let live = Kind::fetch(self, session, &declared).await?;
        Ok(live_resources(self, live))
    }

    async fn fetch_again(&self, session: &Session, desired: &[&Resource]) -> Result<Vec<Resource>, AwsError> {
        let declared = Declarations::recheck(specs_of::<K>(desired));
        let live = Kind::fetch(self, session, &declared).await?;
        Ok(live_resources(self, live))
    }

    async fn fetch_all(&self, session: &Session) -> Result<Vec<Resource>, AwsError> {
        let live = Kind::fetch(self, session, &Declarations::import()).await?;
        Ok(live_resources(self, live))
    }

    fn import(&self, live: &Resource, context: &ImportContext) -> Option<Imported> {
        Some(Kind::import(self, &live.name, spec_of::<K>(live)?, context))
    }

    async fn out_of_reach(&self, session: &Session) -> Result<Vec<OutOfReach>, AwsError> {
        Kind::out_of_reach(self, session).await
    }

    async fn list_first_page(&self, session: &Session) -> Result<(), AwsError> {
        Kind::list_first_page(self, session).await
    }

    fn has_references(&self, declared: &Resource) -> bool {
        spec_of::<K>(declared).is_some_and(|spec| Kind::has_references(self, spec))
    }

    fn replica(&self, declared: &Resource, key_id: Option<&str>) -> Option<Resource> {
        let spec = Kind::replica(self, spec_of::<K>(declared)?, key_id)?;
        let mut replica = declared.clone();
        replica.fields = self.fields(&spec).into_vec();
        replica.payload = Some(Payload::new(spec));
        Some(replica)
    }

    fn tier(&self, resource: &Resource) -> u8 {
        spec_of::<K>(resource).map_or(0, |spec| Kind::tier(self, spec))
    }

    fn after(&self, resource: &Resource) -> Vec<String> {
        spec_of::<K>(resource).map_or_else(Vec::new, |spec| Kind::after(self, spec))
    }

    fn resolve(&self, declared: &mut Resource, region: &str, account: &str) {
        let Some(mut spec) = spec_of::<K>(declared).cloned() else {
            return;
        };
        Kind::resolve(self, &mut spec, region, account);
        declared.fields = self.fields(&spec).into_vec();
        declared.payload = Some(Payload::new(spec));
    }

    fn replace_reasons(&self, live: &Resource, desired: &Resource) -> Vec<String> {
        match (spec_of::<K>(live), spec_of::<K>(desired)) {
            (Some(live), Some(desired)) => Kind::replace_reasons(self, live, desired),
            _ => Vec::new(),
        }
    }

    async fn preflight(
        &self,
        session: &Session,
        change: &Change,
        sides: &Sides,
    ) -> Result<Option<String>, AwsError> {
        let op = op_of::<K>(change, sides)?;
        Kind::preflight(self, session, &op).await
    }

    async fn apply(&self, session: &Session, change: &Change, sides: &Sides) -> Result<(), AwsError> {
        let op = op_of::<K>(change, sides)?;
        Kind::apply(self, session, op).await
    }
}

/// A declared object as the engine sees it: its fields, and its spec for apply.
pub fn declared_resource<K: Kind>(kind: &K, name: &str, declared: Declared<K::Spec>) -> Resource {
    let mut resource = Resource::new(K::NOUN, name);
    resource.fields = kind.fields(&declared.spec).into_vec();
    resource.protect = declared.protect;
    resource.set_rare(crate::resource::Rare {
        skip_create: declared.skip_create,
        references: declared.references,
        renamed_from: declared.renamed_from,
        delete_note: None,
    });
    resource.payload = Some(Payload::new(declared.spec));
    resource
}

/// A live object as the engine sees it.
pub fn live_resource<K: Kind>(kind: &K, live: Live<K::Spec>) -> Resource {
    let mut resource = Resource::new(K::NOUN, &live.name);
    // A live field that is null says nothing a missing one does not (the engine compares a
    // missing live field as null); left out, 100,000 parameters hold 200,000 fewer fields.
    let mut fields = kind.fields(&live.spec).into_vec();
    fields.retain(|(_, field)| !matches!(field.value, Value::Plain(serde_json::Value::Null)));
    fields.shrink_to_fit();
    resource.fields = fields;
    resource.version = live.version;
    resource.set_rare(crate::resource::Rare {
        delete_note: live.delete_note,
        ..Default::default()
    });
    resource.payload = Some(Payload::new(live.spec));
    resource
}

/// Live objects as the engine sees them, made from the back of the typed list, which gives
/// its memory back as it empties: at 100,000 parameters the typed list is twice the size of
/// the resources', and holding it whole until the last one was made was the plan's peak.
fn live_resources<K: Kind>(kind: &K, mut live: Vec<Live<K::Spec>>) -> Vec<Resource> {
    const STEP: usize = 4096;
    let mut resources = Vec::with_capacity(live.len());
    while let Some(object) = live.pop() {
        resources.push(live_resource(kind, object));
        if live.len() + STEP < live.capacity() {
            live.shrink_to_fit();
        }
    }
    resources.reverse();
    resources
}

/// The typed spec a resource of kind `K` carries.
fn spec_of<K: Kind>(resource: &Resource) -> Option<&K::Spec> {
    resource.payload.as_ref()?.get::<K::Spec>()
}

/// The declared resources of kind `K`, by name, as the kind's specs.
fn specs_of<'a, K: Kind>(desired: &'a [&'a Resource]) -> impl Iterator<Item = (&'a str, &'a K::Spec)> {
    desired
        .iter()
        .filter_map(|r| Some((r.name.as_str(), spec_of::<K>(r)?)))
}

/// The typed operation a planned change of kind `K` stands for. A change whose sides do not
/// carry `K`'s spec cannot come from the engine; it is reported, never guessed at.
fn op_of<'a, K: Kind>(change: &'a Change, sides: &'a Sides) -> Result<Op<'a, K::Spec>, AwsError> {
    let name = change.name.as_str();
    let desired = sides.desired.as_deref().and_then(spec_of::<K>);
    let live = sides
        .live
        .as_deref()
        .and_then(|l| Some((l.name.as_str(), spec_of::<K>(l)?)));
    let op = match (change.action, desired, live) {
        (Action::Create, Some(desired), _) => Op::Create { name, desired },
        (Action::Update, Some(desired), Some((_, live))) => Op::Update { name, live, desired },
        (Action::Replace, Some(desired), Some((live_name, live))) => Op::Replace {
            name,
            live_name,
            live,
            desired,
        },
        (Action::Delete, _, Some((_, live))) => Op::Delete { name, live },
        _ => {
            return Err(AwsError {
                operation: "plan",
                resource: name.to_string(),
                code: "IncompletePlan".into(),
                message: format!(
                    "the planned {} of {} `{name}` lacks what it needs; nothing was sent",
                    change.action.verb(),
                    K::NOUN
                ),
            });
        }
    };
    Ok(op)
}
