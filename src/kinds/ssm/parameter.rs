//! SSM Parameter Store parameters (`[parameters."/path/name"]`).
//!
//! Reading: per scope path, DescribeParameters (metadata, 50 a page) and GetParametersByPath
//! (decrypted values, 10 a page) run side by side; ListTagsForResource only for parameters
//! that declare `tags`. For N parameters that is ⌈N/10⌉ + ⌈N/50⌉ calls per path.
//!
//! Writing: PutParameter is paced to the environment's `ssm_put_rate` when it is set; unset,
//! the SDK's adaptive retry mode finds the account's quota (AWS's default is 3 a second),
//! and throttled calls are retried.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::operation::describe_parameters::DescribeParametersOutput;
use aws_sdk_ssm::types::{
    Parameter as SdkParameter, ParameterStringFilter, ParameterTier, ParameterType, ResourceTypeForTagging,
    Tag,
};
use futures::{StreamExt, TryStreamExt};
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::aws::{AwsError, DoneIf, RateLimiter, SdkResult, Session, codes};
use crate::kinds::{
    self, Declarations, Declared, Fields, ImportContext, Imported, Kind, Live, Op, OutOfReach, Steps,
};
use crate::resource::{Secret, Value};
use crate::scope::{Rule, Shape};
use crate::source::{Diagnostic, Entry, EnvLookup};

pub struct Parameters;

const DEFAULT_KEY_ID: &str = "alias/aws/ssm";
const MAX_NAME_LEN: usize = 1011;
const MAX_DEPTH: usize = 15;
const STANDARD_MAX_BYTES: usize = 4096;
const ADVANCED_MAX_BYTES: usize = 8192;
/// Concurrent per-parameter reads (tags).
const READ_CONCURRENCY: usize = 8;
/// The tag plumb puts on a String or StringList parameter whose value it wrote from the
/// environment (`value_from_env`, `initial_value_from_env`). plumb keeps no state: this is how
/// a later plan knows the value is secret after the declaration is removed or changed.
pub const FROM_ENV_TAG: &str = "plumb:value-from-env";
/// The field that shows the marker in plans: `value_source = "environment"`.
const VALUE_SOURCE: &str = "value_source";
const FROM_ENVIRONMENT: &str = "environment";

/// The parameter's type; default `String`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
enum Type {
    #[default]
    String,
    StringList,
    SecureString,
}

impl Type {
    fn is_string(&self) -> bool {
        *self == Type::String
    }

    fn as_str(self) -> &'static str {
        match self {
            Type::String => "String",
            Type::StringList => "StringList",
            Type::SecureString => "SecureString",
        }
    }
}

/// The storage tier; managed only when declared (never downgraded by surprise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
enum Tier {
    Standard,
    Advanced,
    #[serde(rename = "Intelligent-Tiering")]
    IntelligentTiering,
}

impl Tier {
    fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "Standard",
            Tier::Advanced => "Advanced",
            Tier::IntelligentTiering => "Intelligent-Tiering",
        }
    }
}

/// The value: a string, or a list of strings for a StringList.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
enum Literal {
    One(String),
    List(Vec<String>),
}

/// An SSM parameter, named by its full path: `[parameters."/dev/app/key"]`. Exactly one of
/// `value`, `value_from_env` and `initial_value_from_env`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    #[serde(rename = "type", default, skip_serializing_if = "Type::is_string")]
    type_: Type,
    /// The value, written in the file (not for a SecureString).
    value: Option<Literal>,
    /// An environment variable holding the value, read at plan and apply time; the value is
    /// never shown anywhere.
    value_from_env: Option<String>,
    /// An environment variable the parameter is created from when set; after that the value is
    /// left alone (rotated elsewhere).
    initial_value_from_env: Option<String>,
    /// The description; left out means none.
    description: Option<String>,
    /// A SecureString's KMS key; default `alias/aws/ssm`.
    key_id: Option<String>,
    tier: Option<Tier>,
    /// A regular expression the value must match (AWS checks it on every write).
    allowed_pattern: Option<String>,
    /// `text` (default), `aws:ec2:image` or `aws:ssm:integration`.
    #[schemars(extend("enum" = ["text", "aws:ec2:image", "aws:ssm:integration"]))]
    data_type: Option<String>,
    /// Tags; managed only when declared (`tags = {}` manages "no tags").
    tags: Option<BTreeMap<String, String>>,
    /// Never delete or replace it, even when it is removed from desired/.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    protect: bool,
}

/// A type or data type: one of AWS's few words, shared rather than allocated for each of
/// 100,000 parameters (each is held twice, declared and live); anything else as read.
pub type Word = std::borrow::Cow<'static, str>;

fn known(word: &str) -> Word {
    const WORDS: [&str; 6] = [
        "String",
        "StringList",
        "SecureString",
        "text",
        "aws:ec2:image",
        "aws:ssm:integration",
    ];
    match WORDS.iter().find(|w| **w == word) {
        Some(known) => Word::Borrowed(known),
        None => Word::Owned(word.to_string()),
    }
}

/// A parameter as compared. Types and tiers are AWS's own spelling. `tier` and `tags` are
/// managed only when declared; `key_id` belongs to SecureStrings alone.
#[derive(Clone, Debug, PartialEq)]
pub struct Parameter {
    pub type_: Word,
    /// `None`: not managed (`initial_value_from_env` unset), or not read.
    pub value: Option<Contents>,
    /// Whether the value carries the [`FROM_ENV_TAG`] marker: declared `Some(true)` for a
    /// String or StringList from the environment, read where the tags were read.
    pub marked_from_env: Option<bool>,
    pub description: Option<String>,
    pub tier: Option<String>,
    pub allowed_pattern: Option<String>,
    pub data_type: Word,
    pub key_id: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

/// A parameter's value, and whether plumb keeps managing it.
#[derive(Clone, Debug, PartialEq)]
pub enum Contents {
    /// Compared and written on every apply.
    Managed(Value),
    /// `initial_value_from_env`: written when the parameter is created, then left to people.
    Initial(Value),
}

impl Contents {
    fn value(&self) -> &Value {
        match self {
            Contents::Managed(value) | Contents::Initial(value) => value,
        }
    }

    fn managed(&self) -> Option<&Value> {
        match self {
            Contents::Managed(value) => Some(value),
            Contents::Initial(_) => None,
        }
    }
}

impl Parameter {
    /// A String parameter holding `value`, all else AWS's defaults (for tests of the engine
    /// and the renderers).
    #[cfg(test)]
    pub fn string(value: Contents) -> Parameter {
        Parameter {
            type_: "String".into(),
            value: Some(value),
            marked_from_env: None,
            description: None,
            tier: None,
            allowed_pattern: None,
            data_type: "text".into(),
            key_id: None,
            tags: None,
        }
    }

    /// The value as AWS stores it (a StringList joined by commas), secret or not.
    fn stored_value(&self) -> Option<String> {
        self.value.as_ref().and_then(|c| c.value().stored_text())
    }

    /// Whether the declared value comes from the environment into a type AWS shows in plain
    /// text: such a value is marked, so no later plan shows it.
    fn writes_env_value_in_plain(&self) -> bool {
        self.value.as_ref().is_some_and(|c| c.value().is_sensitive())
            && self.type_ != Type::SecureString.as_str()
    }

    /// Whether the managed value differs from `live`'s (a secret equals the same plain text;
    /// a value this run did not read is not compared).
    fn value_differs(&self, live: &Parameter) -> bool {
        let null = Value::null();
        let live_value = live.value.as_ref().map_or(&null, Contents::value);
        self.value
            .as_ref()
            .and_then(Contents::managed)
            .is_some_and(|v| !v.same_as(live_value))
    }

    /// Whether anything PutParameter writes differs from `live` (tags and the marker aside).
    fn put_differs(&self, live: &Parameter) -> bool {
        let declared_differs = |want: Option<&String>, have: Option<&String>| want.is_some() && want != have;
        self.type_ != live.type_
            || self.value_differs(live)
            || self.description != live.description
            || declared_differs(self.tier.as_ref(), live.tier.as_ref())
            || self.allowed_pattern != live.allowed_pattern
            || self.data_type != live.data_type
            || declared_differs(self.key_id.as_ref(), live.key_id.as_ref())
    }
}

#[async_trait]
impl Kind for Parameters {
    const NOUN: &'static str = "parameter";
    const TABLE: &'static str = "parameters";
    const SCOPE: Rule = Rule {
        setting: crate::scope::PARAMETER_PATHS,
        shape: Shape::Paths,
        account_wide: false,
        allows: |c| c.is_ascii_alphanumeric() || "_.-/".contains(c),
        allowed: "letters, digits and `_ . - /`",
    };
    type Declaration = Declaration;
    type Spec = Parameter;

    fn parse(&self, entry: &Entry, declaration: Declaration) -> Result<Declared<Parameter>, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        check_name(entry, &mut problems);
        check_spec(entry, &declaration, &mut problems);
        let declared = build(entry, &declaration, &mut problems);
        if problems.is_empty() {
            Ok(declared)
        } else {
            Err(problems)
        }
    }

    fn fields(&self, spec: &Parameter) -> Fields {
        let marker = spec.marked_from_env.map(|m| m.then_some(FROM_ENVIRONMENT));
        let fields = Fields::new()
            .with("type", &spec.type_)
            .managed(VALUE_SOURCE, marker.as_ref());
        let fields = match &spec.value {
            Some(Contents::Managed(value)) => fields.with_value("value", value.clone()),
            Some(Contents::Initial(value)) => fields.create_only("value", value.clone()),
            None => fields,
        };
        fields
            .with("description", &spec.description)
            .managed("tier", spec.tier.as_ref())
            .with("allowed_pattern", &spec.allowed_pattern)
            .with("data_type", &spec.data_type)
            .managed("key_id", spec.key_id.as_ref())
            .managed("tags", spec.tags.as_ref())
    }

    /// A replica keeps the parameter as declared; a SecureString is encrypted with the replica
    /// regions' key when `replica_key_id` names one (KMS keys are regional).
    fn replica(&self, spec: &Parameter, key_id: Option<&str>) -> Option<Parameter> {
        let mut replica = spec.clone();
        if let Some(key_id) = key_id
            && spec.type_ == Type::SecureString.as_str()
        {
            replica.key_id = Some(key_id.to_string());
        }
        Some(replica)
    }

    async fn fetch(
        &self,
        session: &Session,
        declared: &Declarations<'_, Parameter>,
    ) -> Result<Vec<Live<Parameter>>, AwsError> {
        let client = session.client::<Client>();
        let decrypt = !declared.reads_everything();
        let prefixes = session.env.scope.values(Self::SCOPE.setting);
        let in_scope =
            |name: &str| Self::SCOPE.covers(&session.env.scope, name) && !crate::lock::is_lock_name(name);
        // plan and drift: values come from the cache where AWS's version stamp says they
        // cannot have changed, and only the others are read (see `crate::cache`).
        // A cold cache (nothing of this scope in it) reads by path, as without a cache, so a
        // first plan costs no more than before; it then fills the cache.
        let cache = session.cache(CACHE).filter(|_| decrypt);
        let warm = cache.as_ref().filter(|c| c.holds_any(&in_scope));
        // The stamp of each value read from AWS, taken from the answer that carried the
        // value (never from another call's metadata: a hand edit between two reads must not
        // file one version's value under another's stamp).
        let mut stamps = Stamps::keeping(cache.is_some());
        let mut found = if let Some(cache) = warm {
            let paths = query_paths(&prefixes);
            let reads = paths.iter().map(|path| describe_path(session, &client, path));
            let lists = futures::future::try_join_all(reads).await?;
            Found::of(lists.into_iter().map(|metadata| from_cache(metadata, cache)))
        } else {
            let reads = query_paths(&prefixes)
                .into_iter()
                .map(|path| read_path(session, &client, path, decrypt));
            let lists = futures::future::try_join_all(reads).await?;
            Found::of(
                lists
                    .into_iter()
                    .map(|(metadata, values)| merge(&mut stamps, metadata, values)),
            )
        };
        found.retain(|live| in_scope(&live.name));
        fill_missing_values(session, &client, &mut found, &mut stamps, decrypt).await?;
        satisfy_intelligent_tiering(&mut found, declared);
        let wanted = tags_to_read(&found, declared);
        let tags = read_tags(&client, wanted).await?;
        apply_tags(&mut found, declared, tags);
        if let Some(cache) = &cache {
            remember(cache, &found, &stamps, declared);
            cache.retain(|name| !in_scope(name) || found.contains(name));
        }
        Ok(found.0)
    }

    /// The first DescribeParameters page of each path, until one lists a parameter: its
    /// ARNs name the account (metadata only, nothing decrypted); the fetch reads on from it.
    async fn list_first_page(&self, session: &Session) -> Result<(), AwsError> {
        let client = session.client::<Client>();
        let first_pages = session.shared(|_| FirstPages::default());
        for path in query_paths(&session.env.scope.values(Self::SCOPE.setting)) {
            let page = describe_page(&client, &path, None).await?;
            let arns = page.parameters().iter().map(|p| p.arn.as_deref());
            session.note_own_arns("DescribeParameters", &path, arns)?;
            let listed = !page.parameters().is_empty();
            first_pages.keep(path, page);
            if listed {
                break;
            }
        }
        Ok(())
    }

    fn replace_reasons(&self, live: &Parameter, desired: &Parameter) -> Vec<String> {
        let mut reasons = Vec::new();
        if live.type_ != desired.type_ {
            reasons.push("AWS cannot change a parameter's type in place".into());
        }
        if live.tier.as_deref() == Some(Tier::Advanced.as_str())
            && desired.tier.as_deref() == Some(Tier::Standard.as_str())
        {
            reasons.push("AWS cannot move an Advanced parameter down to Standard".into());
        }
        if live.allowed_pattern.is_some() && desired.allowed_pattern.is_none() {
            reasons.push("AWS cannot remove an allowed pattern in place".into());
        }
        reasons
    }

    /// A value that is secret (a SecureString, or one plumb wrote from the environment) is
    /// never written: the declaration reads it from `initial_value_from_env`, a variable named
    /// after the parameter, so the plan is empty without it and the value stays out of git.
    fn import(&self, name: &str, live: &Parameter, context: &ImportContext) -> Imported {
        let type_ = match live.type_.as_ref() {
            "StringList" => Type::StringList,
            "SecureString" => Type::SecureString,
            _ => Type::String,
        };
        let value = live.value.as_ref().map(Contents::value);
        let literal = match value.and_then(Value::shown) {
            Some(Json::String(text)) if type_ != Type::SecureString => Some(Literal::One(text.clone())),
            Some(Json::Array(items)) if type_ == Type::StringList => Some(Literal::List(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
            )),
            _ => None,
        };
        let variable = literal
            .is_none()
            .then(|| context.claim_variable(&variable_name(name)));
        let declaration = Declaration {
            type_,
            value: literal,
            value_from_env: None,
            initial_value_from_env: variable.clone(),
            description: live.description.clone(),
            key_id: live.key_id.clone().filter(|k| k != DEFAULT_KEY_ID),
            tier: (live.tier.as_deref() == Some(Tier::Advanced.as_str())).then_some(Tier::Advanced),
            allowed_pattern: live.allowed_pattern.clone(),
            data_type: Some(live.data_type.to_string()).filter(|d| d != "text"),
            tags: live.tags.clone().filter(|t| !t.is_empty()),
            protect: false,
        };
        let mut imported = Imported::of(&declaration);
        imported.variables.extend(variable);
        imported
    }

    /// Parameters under the first segment of a scope path (`/dev` for `/dev/app/`) that the
    /// scope does not cover.
    async fn out_of_reach(&self, session: &Session) -> Result<Vec<OutOfReach>, AwsError> {
        let client = session.client::<Client>();
        let paths = session.env.scope.values(Self::SCOPE.setting);
        let mut tops: Vec<String> = paths
            .iter()
            .filter_map(|p| p.trim_start_matches('/').split('/').next())
            .filter(|top| !top.is_empty())
            .map(|top| format!("/{top}"))
            .collect();
        tops.dedup();
        let mut found = Vec::new();
        for top in tops {
            for listed in describe_path(session, &client, &top).await? {
                let name = listed.live.name;
                if Self::SCOPE.covers(&session.env.scope, &name) || crate::lock::is_lock_name(&name) {
                    continue;
                }
                let why = format!(
                    "under `{top}`, outside parameter_paths (`{}`): widen parameter_paths to bring it in",
                    paths.join("`, `")
                );
                found.push(OutOfReach { name, why });
            }
        }
        Ok(found)
    }

    async fn apply(&self, session: &Session, op: Op<'_, Parameter>) -> Result<(), AwsError> {
        let client = session.client::<Client>();
        let limiter = session.shared(|s| PutLimiter(s.env.ssm_put_rate.map(RateLimiter::per_second)));
        match op {
            Op::Delete { name, .. } => delete(&client, name).await,
            Op::Replace {
                name, live, desired, ..
            } => {
                let desired = &keeping_unmanaged_value(live, desired);
                if let Some(why) = cannot_write_back(desired) {
                    return Err(refused_before_the_delete(name, why));
                }
                let create = create(&client, &limiter, name, desired);
                kinds::delete_then_create(name, delete(&client, name), create).await
            }
            Op::Create { name, desired } => {
                let desired = &copied_from_home(session, name, desired).await?;
                create(&client, &limiter, name, desired).await
            }
            Op::Update { name, live, desired } => update(&client, &limiter, name, live, desired).await,
        }
    }
}

/// The parameter a replacement creates. A value plumb does not manage
/// (`initial_value_from_env`) belongs to people once written: the new parameter gets the live
/// one, not the initial value again (and not nothing, when the variable is unset in CI).
/// The kept value is a secret whatever its type, as every value from the environment is: a
/// String's is then written with the from-environment marker, even when this plan did not
/// read the live marker (tags are read only where needed).
fn keeping_unmanaged_value(live: &Parameter, desired: &Parameter) -> Parameter {
    let managed = desired.value.as_ref().is_some_and(|c| c.managed().is_some());
    let mut replacement = desired.clone();
    if !managed && let Some(text) = live.stored_value() {
        replacement.value = Some(Contents::Initial(Value::Secret(Secret::new(text))));
    }
    replacement
}

/// The parameter a replica region creates. A value people own (`initial_value_from_env`) is
/// the home region's as it is now, which people may have changed since they created it: a
/// replica must be a copy, not the initial value again. The declared initial value only when
/// the home region has none yet (created in the same apply, say).
async fn copied_from_home(session: &Session, name: &str, desired: &Parameter) -> Result<Parameter, AwsError> {
    let mut copy = desired.clone();
    let managed = desired.value.as_ref().is_some_and(|c| c.managed().is_some());
    let Some(home) = session.env.replica_of.as_deref().filter(|_| !managed) else {
        return Ok(copy);
    };
    let client = session.shared(|s| HomeClient::of(s, home)).0;
    // Paced like the reads by name (`ssm_read_rate`): the first replica of 10,000 parameters
    // is 10,000 of these.
    let limiter = ReadLimiter::of(session);
    limiter.0.acquire().await;
    let read = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await;
    let text = match read.aws("GetParameter", name) {
        Ok(output) => output.parameter.and_then(|p| p.value),
        Err(error) if error.code == codes::PARAMETER_NOT_FOUND => None,
        Err(error) => return Err(error),
    };
    if let Some(text) = text {
        // Whatever its type, a value from the environment is a secret.
        copy.value = Some(Contents::Initial(Value::Secret(Secret::new(text))));
    }
    Ok(copy)
}

/// A replica region's client of the environment's home region.
#[derive(Clone)]
struct HomeClient(Client);

impl HomeClient {
    fn of(session: &Session, home: &str) -> HomeClient {
        let config = aws_sdk_ssm::config::Builder::from(&session.config)
            .region(aws_sdk_ssm::config::Region::new(home.to_string()))
            .build();
        HomeClient(Client::from_conf(config))
    }
}

/// Why the replacement could not write its value, checked before the delete: the value kept
/// from the live parameter (`initial_value_from_env`) was never checked against the new
/// `allowed_pattern` or tier, and AWS refusing it after the delete would lose it.
fn cannot_write_back(desired: &Parameter) -> Option<String> {
    let Some(text) = desired.stored_value() else {
        return Some("its value was not read and is not declared".to_string());
    };
    let limit = max_bytes(desired.tier.as_deref());
    if text.len() > limit {
        return Some(format!("its value is over the {limit} bytes its tier allows"));
    }
    let pattern = desired.allowed_pattern.as_deref().map(Regex::new);
    match pattern {
        Some(Ok(pattern)) if !pattern.is_match(&text) => {
            Some("its value does not match the new allowed_pattern".to_string())
        }
        _ => None,
    }
}

/// A replacement refused before its delete: `why` it could not create the parameter again.
fn refused_before_the_delete(name: &str, why: String) -> AwsError {
    AwsError {
        operation: "PutParameter",
        resource: name.to_string(),
        code: "ValueNotWritable".into(),
        message: format!("the replacement could not write the parameter again: {why}; nothing was deleted"),
    }
}

/// The environment variable an imported secret is read from: the parameter's path in capitals,
/// `/dev/app/db/password` → `DEV_APP_DB_PASSWORD`.
pub fn variable_name(path: &str) -> String {
    let upper: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let words: Vec<&str> = upper.split('_').filter(|w| !w.is_empty()).collect();
    let name = words.join("_");
    match name.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => name,
        _ => format!("P_{name}"),
    }
}

/// The PutParameter pacing when `ssm_put_rate` is set, one per session (a newtype so
/// `Session::shared` tells it apart). Unset, the SDK's adaptive retry mode paces the writes
/// (see `crate::aws::Session::connect`).
#[derive(Clone)]
struct PutLimiter(Option<RateLimiter>);

impl PutLimiter {
    async fn acquire(&self) {
        if let Some(limiter) = &self.0 {
            limiter.acquire().await;
        }
    }
}

/// The pacing of value reads by name (`ssm_read_rate`), one per session.
#[derive(Clone)]
struct ReadLimiter(RateLimiter);

impl ReadLimiter {
    fn of(session: &Session) -> ReadLimiter {
        session.shared(|s| ReadLimiter(RateLimiter::per_second(s.env.ssm_read_rate)))
    }
}

// --- validation -----------------------------------------------------------------------

fn check_name(entry: &Entry, problems: &mut Vec<Diagnostic>) {
    let name = entry.name;
    let mut fail = |message: String| problems.push(entry.error(None, message));
    if name.len() > MAX_NAME_LEN {
        fail(format!(
            "name is {} characters long; AWS allows {MAX_NAME_LEN}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-/".contains(*c)))
    {
        fail(format!(
            "name has `{bad}`; AWS allows letters, digits and `_ . - /`"
        ));
    }
    if crate::lock::is_lock_name(name) {
        fail(format!(
            "names under `{}` are reserved for plumb's apply locks",
            crate::lock::LOCK_PREFIX
        ));
    }
    if name.contains("//") || name.ends_with('/') {
        fail("name has an empty path segment".into());
    }
    let depth = name.trim_start_matches('/').split('/').count();
    if depth > MAX_DEPTH {
        fail(format!("name is {depth} levels deep; AWS allows {MAX_DEPTH}"));
    }
    let first = name.trim_start_matches('/').to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        fail("names beginning with `aws` or `ssm` are reserved by AWS".into());
    }
    kinds::check_in_scope(entry, &Parameters::SCOPE, problems);
}

fn check_spec(entry: &Entry, spec: &Declaration, problems: &mut Vec<Diagnostic>) {
    let sources = [
        spec.value.is_some(),
        spec.value_from_env.is_some(),
        spec.initial_value_from_env.is_some(),
    ];
    match sources.iter().filter(|s| **s).count() {
        0 => problems.push(entry.error(
            None,
            "needs one of `value`, `value_from_env` or `initial_value_from_env`",
        )),
        1 => {}
        _ => problems.push(entry.error(
            None,
            "give only one of `value`, `value_from_env` and `initial_value_from_env`",
        )),
    }
    for (field, variable) in [
        ("value_from_env", &spec.value_from_env),
        ("initial_value_from_env", &spec.initial_value_from_env),
    ] {
        if let Some(variable) = variable
            && kinds::is_runner_variable(variable)
        {
            let message = format!(
                "`{variable}` is set by the CI runner or the AWS SDK (the apply job's own credentials \
                 or token, say), not a secret of yours: name the secret otherwise in the job's environment"
            );
            problems.push(entry.error(Some(field), message));
        }
    }
    if spec.type_ == Type::SecureString && spec.value.is_some() {
        problems.push(entry.error(
            Some("value"),
            "a SecureString's value must not be written in desired/: use `value_from_env`",
        ));
    }
    if spec.key_id.is_some() && spec.type_ != Type::SecureString {
        problems.push(entry.error(Some("key_id"), "only a SecureString has a KMS key"));
    }
    check_replica_key(entry, spec, problems);
    match (&spec.value, spec.type_) {
        (Some(Literal::List(_)), Type::String) => problems.push(entry.error(
            Some("value"),
            "a String's value is a string; for a list use type = \"StringList\"",
        )),
        (Some(Literal::List(items)), Type::StringList) => {
            for item in items {
                if item.contains(',') || item.is_empty() {
                    problems.push(entry.error(
                        Some("value"),
                        format!("StringList item {item:?} must be non-empty and contain no comma"),
                    ));
                }
            }
        }
        _ => {}
    }
    if let Some(description) = &spec.description
        && description.chars().count() > 1024
    {
        problems.push(entry.error(Some("description"), "AWS allows at most 1024 characters"));
    }
    if let Some(pattern) = &spec.allowed_pattern
        && let Err(e) = Regex::new(pattern)
    {
        problems.push(entry.error(Some("allowed_pattern"), format!("not a valid pattern: {e}")));
    }
    if let Some(data_type) = &spec.data_type
        && !["text", "aws:ec2:image", "aws:ssm:integration"].contains(&data_type.as_str())
    {
        problems.push(entry.error(
            Some("data_type"),
            format!("`{data_type}` is not one of `text`, `aws:ec2:image`, `aws:ssm:integration`"),
        ));
    }
    if let Some(tags) = &spec.tags {
        kinds::check_tags(entry, tags, problems);
    }
    if let Some(Literal::One(text)) = &spec.value {
        check_value(entry, spec, "value", text, problems);
    }
    if let Some(Literal::List(items)) = &spec.value {
        check_value(entry, spec, "value", &items.join(","), problems);
    }
}

/// The largest value a tier holds (no tier declared: AWS's Standard).
fn max_bytes(tier: Option<&str>) -> usize {
    match tier {
        Some("Advanced" | "Intelligent-Tiering") => ADVANCED_MAX_BYTES,
        _ => STANDARD_MAX_BYTES,
    }
}

/// The rules AWS applies to a value: not empty, within the tier's size, matching the pattern.
/// The message never quotes the value: it may come from the environment.
fn check_value(entry: &Entry, spec: &Declaration, field: &str, value: &str, problems: &mut Vec<Diagnostic>) {
    let limit = max_bytes(spec.tier.map(Tier::as_str));
    if value.is_empty() {
        problems.push(entry.error(Some(field), "AWS does not allow an empty value"));
    } else if value.len() > limit {
        let hint = if limit == STANDARD_MAX_BYTES {
            "; use tier = \"Advanced\" for up to 8 KB"
        } else {
            ""
        };
        // A value from the environment is a secret: not even its length is said.
        let size = if field == "value" {
            format!("value is {} bytes", value.len())
        } else {
            "the value from the environment is too long".to_string()
        };
        problems.push(entry.error(Some(field), format!("{size}; the tier allows {limit}{hint}")));
    }
    if let Some(pattern) = &spec.allowed_pattern
        && let Ok(regex) = Regex::new(pattern)
        && !value.is_empty()
        && !regex.is_match(value)
    {
        problems.push(entry.error(
            Some(field),
            format!("value does not match allowed_pattern `{pattern}`"),
        ));
    }
}

// --- desired resource -----------------------------------------------------------------

/// A key ARN, or a bare key id, names a key in one region: copied to a replica region
/// (without `replica_key_id`), the write there would fail at apply. An alias may exist in
/// every region, and a multi-region key (`mrk-...`) has one id in all of its regions.
fn check_replica_key(entry: &Entry, spec: &Declaration, problems: &mut Vec<Diagnostic>) {
    let env = entry.env;
    let regional = |k: &&str| k.starts_with("arn:") || !(k.starts_with("alias/") || k.starts_with("mrk-"));
    let Some(key) = spec.key_id.as_deref().filter(regional) else {
        return;
    };
    let replicated = env.replica_key_id.is_none()
        && env
            .replica_regions
            .iter()
            .any(|region| Parameters::SCOPE.covers(&env.replica(region).scope, entry.name));
    if replicated {
        let message = format!(
            "`{key}` is a key of one region, and this parameter is replicated to {}: set \
             `replica_key_id` in plumb.toml, or use an alias that exists in each region",
            env.replica_regions.join(", ")
        );
        problems.push(entry.error(Some("key_id"), message));
    }
}

fn build(entry: &Entry, spec: &Declaration, problems: &mut Vec<Diagnostic>) -> Declared<Parameter> {
    let (value, skip_create) = declared_value(entry, spec, problems);
    // An `initial_value_from_env` whose variable is unset writes nothing, so there is no
    // marker to want. Compared like any field, so a parameter written before plumb marked
    // such values gets its marker on the next apply.
    let from_env = value.as_ref().is_some_and(|c| c.value().is_sensitive()) || spec.value_from_env.is_some();
    let secure = spec.type_ == Type::SecureString;
    let parameter = Parameter {
        type_: Word::Borrowed(spec.type_.as_str()),
        value,
        marked_from_env: (from_env && !secure).then_some(true),
        description: spec.description.clone(),
        tier: spec.tier.map(|t| t.as_str().to_string()),
        allowed_pattern: spec.allowed_pattern.clone(),
        data_type: known(spec.data_type.as_deref().unwrap_or("text")),
        key_id: secure.then(|| spec.key_id.clone().unwrap_or_else(|| DEFAULT_KEY_ID.into())),
        tags: spec.tags.clone(),
    };
    let mut declared = Declared::new(parameter).protect(spec.protect);
    declared.skip_create = skip_create;
    declared
}

/// The declared value, and why the parameter must not be created yet (its
/// `initial_value_from_env` variable is unset).
fn declared_value(
    entry: &Entry,
    spec: &Declaration,
    problems: &mut Vec<Diagnostic>,
) -> (Option<Contents>, Option<String>) {
    if let Some(literal) = &spec.value {
        let value = match literal {
            Literal::One(text) => Json::String(text.clone()),
            Literal::List(items) => json!(items),
        };
        return (Some(Contents::Managed(Value::Plain(value))), None);
    }
    if let Some(var) = &spec.value_from_env {
        let value = read_env_value(entry, spec, "value_from_env", var, problems);
        return (Some(Contents::Managed(value.unwrap_or(Value::Unread))), None);
    }
    let Some(var) = &spec.initial_value_from_env else {
        return (None, None);
    };
    match entry.env_var(var) {
        EnvLookup::Unset => (None, Some(format!("set `{var}` to create it"))),
        _ => {
            let value = read_env_value(entry, spec, "initial_value_from_env", var, problems);
            (Some(Contents::Initial(value.unwrap_or(Value::Unread))), None)
        }
    }
}

/// A value from the environment: always a secret, whatever the type, so it is never shown.
fn read_env_value(
    entry: &Entry,
    spec: &Declaration,
    field: &str,
    var: &str,
    problems: &mut Vec<Diagnostic>,
) -> Option<Value> {
    match entry.env_var(var) {
        EnvLookup::Value(value) => {
            check_value(entry, spec, field, &value, problems);
            Some(Value::Secret(Secret::new(value)))
        }
        EnvLookup::Unset => {
            problems.push(entry.error(Some(field), format!("environment variable `{var}` is not set")));
            None
        }
        EnvLookup::NotText => {
            let message = format!("environment variable `{var}` is not UTF-8 text, which AWS stores");
            problems.push(entry.error(Some(field), message));
            None
        }
        EnvLookup::NotRead => None,
    }
}

// --- reading --------------------------------------------------------------------------

/// The hierarchy paths to read: each scope prefix cut back to its last `/` (a prefix need not
/// end at a path boundary; names are filtered by the full prefix afterwards), without paths
/// that another one already covers.
fn query_paths(prefixes: &[&str]) -> Vec<String> {
    let mut paths: Vec<String> = prefixes
        .iter()
        .map(|p| match p.rfind('/') {
            Some(0) | None => "/".to_string(),
            Some(i) => p[..i].to_string(),
        })
        .collect();
    paths.sort();
    paths.dedup();
    let covered = |path: &str, by: &str| by == "/" || path.starts_with(&format!("{by}/"));
    let all = paths.clone();
    paths.retain(|p| !all.iter().any(|other| other != p && covered(p, other)));
    paths
}

/// The value cache's service name (`crate::cache`).
const CACHE: &str = "ssm";

/// AWS's version stamp of a parameter's value: its version and last-modified time (a
/// parameter deleted and created again starts at version 1 again, at another time).
fn stamp(version: i64, modified: Option<&aws_sdk_ssm::primitives::DateTime>) -> String {
    let modified = modified
        .map(|d| format!("{}.{:09}", d.secs(), d.subsec_nanos()))
        .unwrap_or_default();
    format!("{version}@{modified}")
}

fn value_stamp(value: &SdkParameter) -> String {
    stamp(value.version, value.last_modified_date.as_ref())
}

/// The live parameters read, in name order: a sorted list rather than a map, made in the
/// allocation of the metadata listing. At 100,000 parameters a B-tree's half-full nodes and a
/// second copy of every name were a fifth of the plan's peak memory.
#[derive(Debug, Default)]
struct Found(Vec<Live<Parameter>>);

impl Found {
    /// The parameters of each scope path. Paths do not overlap, but a listing that AWS pages
    /// while someone edits can name a parameter twice: it is kept once, without a value, so
    /// that its value is read again by name rather than taken from either listing.
    fn of(lists: impl IntoIterator<Item = Vec<Live<Parameter>>>) -> Found {
        let mut lists = lists.into_iter();
        let mut all = lists.next().unwrap_or_default();
        for list in lists {
            all.extend(list);
        }
        all.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        all.dedup_by(|later, kept| {
            let twice = later.name == kept.name;
            if twice {
                kept.spec.value = None;
            }
            twice
        });
        Found(all)
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|live| live.name.as_str().cmp(name))
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Live<Parameter>> {
        let at = self.position(name).ok()?;
        Some(&mut self.0[at])
    }

    fn contains(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    fn iter(&self) -> std::slice::Iter<'_, Live<Parameter>> {
        self.0.iter()
    }

    fn retain(&mut self, keep: impl FnMut(&Live<Parameter>) -> bool) {
        self.0.retain(keep);
    }
}

impl std::ops::Index<&str> for Found {
    type Output = Live<Parameter>;

    fn index(&self, name: &str) -> &Live<Parameter> {
        let at = self.position(name).expect("a parameter that was found");
        &self.0[at]
    }
}

/// The version stamp of each value read from AWS, by name: kept only when a value cache will
/// file the values under them (a plan of 100,000 parameters without one needs none).
struct Stamps(Option<BTreeMap<String, String>>);

impl Stamps {
    fn keeping(cache: bool) -> Self {
        Stamps(cache.then(BTreeMap::new))
    }

    fn insert(&mut self, name: &str, stamp: impl FnOnce() -> String) {
        if let Some(stamps) = &mut self.0 {
            stamps.insert(name.to_string(), stamp());
        }
    }

    fn get(&self, name: &str) -> Option<&String> {
        self.0.as_ref()?.get(name)
    }
}

/// Parameters from their metadata, with the values the cache holds for exactly their stamps
/// (never a SecureString's); the others are left to [`fill_missing_values`].
fn from_cache(metadata: Metadata, cache: &crate::cache::Store) -> Vec<Live<Parameter>> {
    let with_value = |Listed { mut live, stamp, .. }: Listed| {
        if live.spec.type_ != Type::SecureString.as_str()
            && let Some(value) = cache.get(&live.name, &stamp)
        {
            live.spec.value = Some(Contents::Managed(live_value(&live.spec.type_, &value)));
        }
        live
    };
    metadata.into_iter().map(with_value).collect()
}

/// Puts into the cache the values plumb may show: plain ones, whose declaration (if any)
/// writes them in desired/ and which carry no from-the-environment marker. A value from the
/// environment is a secret even as a String, and never written to disk.
fn remember(
    cache: &crate::cache::Store,
    found: &Found,
    stamps: &Stamps,
    declared: &Declarations<'_, Parameter>,
) {
    for live in found.iter() {
        let name = &live.name;
        let Some(stamp) = stamps.get(name) else { continue };
        let Some(Contents::Managed(Value::Plain(_))) = &live.spec.value else {
            continue;
        };
        let declared_plain = declared.get(name.as_str()).is_none_or(|d| {
            d.value.as_ref().is_some_and(|c| !c.value().is_sensitive()) && d.marked_from_env != Some(true)
        });
        if live.spec.marked_from_env != Some(true)
            && declared_plain
            && let Some(text) = live.spec.stored_value()
        {
            cache.put(name, stamp, &text);
        }
    }
}

type Metadata = Vec<Listed>;

/// A parameter as DescribeParameters lists it: what a plan reads of its metadata, and the
/// stamp and type its value must come with to be paired with it. Made page by page, so that
/// AWS's own records (with ARNs and policies) are not all kept at once: at 100,000
/// parameters they were a tenth of the plan's peak memory.
struct Listed {
    live: Live<Parameter>,
    stamp: String,
    type_: Option<ParameterType>,
}

fn listed(meta: aws_sdk_ssm::types::ParameterMetadata) -> Option<Listed> {
    let name = meta.name.as_deref()?;
    Some(Listed {
        live: live_parameter(name, &meta, None),
        stamp: stamp(meta.version, meta.last_modified_date.as_ref()),
        type_: meta.r#type,
    })
}
type Values = Vec<ReadValue>;

/// A value as GetParametersByPath returns it, without what a plan does not use (the ARN,
/// the data type): at 100,000 parameters AWS's whole records were a tenth of the peak memory.
#[derive(Debug)]
struct ReadValue {
    name: String,
    value: Option<String>,
    type_: Option<ParameterType>,
    version: i64,
    modified: Option<aws_sdk_ssm::primitives::DateTime>,
}

impl ReadValue {
    fn stamp(&self) -> String {
        stamp(self.version, self.modified.as_ref())
    }

    fn of(read: SdkParameter) -> Option<ReadValue> {
        Some(ReadValue {
            name: read.name?,
            value: read.value,
            type_: read.r#type,
            version: read.version,
            modified: read.last_modified_date,
        })
    }
}

/// `decrypt`: SecureStrings read as their values (a plan compares them) or left encrypted
/// (an import never writes them).
async fn read_path(
    session: &Session,
    client: &Client,
    path: String,
    decrypt: bool,
) -> Result<(Metadata, Values), AwsError> {
    futures::try_join!(
        describe_path(session, client, &path),
        values_by_path(session, client, &path, decrypt)
    )
}

async fn describe_path(session: &Session, client: &Client, path: &str) -> Result<Metadata, AwsError> {
    let mut all = Vec::new();
    let mut next = session.shared(|_| FirstPages::default()).take(path);
    let mut token = None;
    loop {
        let page = match next.take() {
            Some(page) => page,
            None => describe_page(client, path, token.take()).await?,
        };
        let parameters = page.parameters.unwrap_or_default();
        let arns = parameters.iter().map(|p| p.arn.as_deref());
        session.note_own_arns("DescribeParameters", path, arns)?;
        all.extend(parameters.into_iter().filter_map(listed));
        token = page.next_token.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    // Grown by doubling: up to half of it unused, megabytes at 100,000 parameters.
    all.shrink_to_fit();
    Ok(all)
}

async fn describe_page(
    client: &Client,
    path: &str,
    token: Option<String>,
) -> Result<DescribeParametersOutput, AwsError> {
    let filter = ParameterStringFilter::builder()
        .key("Path")
        .option("Recursive")
        .values(path)
        .build()
        .expect("key is set");
    client
        .describe_parameters()
        .parameter_filters(filter)
        .max_results(50)
        .set_next_token(token)
        .send()
        .await
        .aws("DescribeParameters", path)
}

/// The first DescribeParameters page of a path, read before anything else (see
/// `Kind::list_first_page`) and taken by the read of the path that goes on from it.
#[derive(Clone, Default)]
struct FirstPages(Arc<Mutex<HashMap<String, DescribeParametersOutput>>>);

impl FirstPages {
    fn keep(&self, path: String, page: DescribeParametersOutput) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path, page);
    }

    fn take(&self, path: &str) -> Option<DescribeParametersOutput> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(path)
    }
}

async fn values_by_path(
    session: &Session,
    client: &Client,
    path: &str,
    decrypt: bool,
) -> Result<Values, AwsError> {
    let mut pages = client
        .get_parameters_by_path()
        .path(path)
        .recursive(true)
        .with_decryption(decrypt)
        .max_results(10)
        .into_paginator()
        .send();
    let mut all = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.aws("GetParametersByPath", path)?;
        let parameters = page.parameters.unwrap_or_default();
        let arns = parameters.iter().map(|p| p.arn.as_deref());
        session.note_own_arns("GetParametersByPath", path, arns)?;
        all.extend(parameters.into_iter().filter_map(ReadValue::of));
    }
    all.shrink_to_fit();
    Ok(all)
}

/// Pairs each parameter's metadata with its value from the by-path read. A value of another
/// version than the metadata's (a hand edit between the two reads) is left out, to be read
/// again by name with its own type and stamp: paired, a String's metadata could show a
/// SecureString's new value in plain text.
fn merge(stamps: &mut Stamps, mut metadata: Metadata, mut values: Values) -> Vec<Live<Parameter>> {
    // Joined in name order rather than through a map of every value (memory, at 100,000),
    // into the metadata's own allocation.
    metadata.sort_unstable_by(|a, b| a.live.name.cmp(&b.live.name));
    values.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let mut values = values.into_iter().peekable();
    let mut with_value = |listed: Listed| {
        let name = listed.live.name.as_str();
        while values.next_if(|v| v.name.as_str() < name).is_some() {}
        let value = values
            .next_if(|v| v.name == name)
            .filter(|v| same_write(v, &listed));
        let Listed { mut live, stamp, .. } = listed;
        if let Some(value) = value {
            // The value's own stamp: `same_write` found it equal to the metadata's.
            stamps.insert(&live.name, || stamp);
            live.spec.value = value
                .value
                .as_deref()
                .map(|text| Contents::Managed(live_value(&live.spec.type_, text)));
        }
        live
    };
    metadata.into_iter().map(&mut with_value).collect()
}

/// Whether a value read by path belongs to the listed metadata: same version, time and type.
/// A parameter deleted and created again between the two listings starts at version 1 again,
/// perhaps as a SecureString; its value is then read again by name rather than shown under
/// the other write's type.
fn same_write(value: &ReadValue, listed: &Listed) -> bool {
    value.stamp() == listed.stamp && value.type_ == listed.type_
}

fn live_parameter(
    name: &str,
    meta: &aws_sdk_ssm::types::ParameterMetadata,
    value: Option<&aws_sdk_ssm::types::Parameter>,
) -> Live<Parameter> {
    let type_ = known(meta.r#type.as_ref().map_or("String", |t| t.as_str()));
    let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    let secure = type_ == Type::SecureString.as_str();
    let spec = Parameter {
        value: value
            .and_then(|v| v.value.as_deref())
            .map(|v| Contents::Managed(live_value(&type_, v))),
        marked_from_env: None,
        description: text(meta.description.as_deref()),
        tier: meta.tier.as_ref().map(|t| t.as_str().to_string()),
        allowed_pattern: text(meta.allowed_pattern.as_deref()),
        data_type: known(meta.data_type.as_deref().unwrap_or("text")),
        key_id: secure.then(|| meta.key_id.clone().unwrap_or_else(|| DEFAULT_KEY_ID.into())),
        tags: None,
        type_,
    };
    Live::new(name, spec).version(Some(format!("version {}", meta.version)))
}

fn live_value(type_: &str, value: &str) -> Value {
    match type_ {
        "SecureString" => Value::Secret(Secret::new(value)),
        "StringList" => Value::Plain(json!(value.split(',').collect::<Vec<_>>())),
        _ => Value::text(value),
    }
}

/// The values not read yet (not in the cache, or a parameter created between the two
/// listings): by name, ten a call, several calls at once within the environment's
/// `ssm_read_rate`.
async fn fill_missing_values(
    session: &Session,
    client: &Client,
    found: &mut Found,
    stamps: &mut Stamps,
    decrypt: bool,
) -> Result<(), AwsError> {
    let missing: Vec<String> = found
        .iter()
        .filter(|l| l.spec.value.is_none())
        .map(|l| l.name.clone())
        .collect();
    let limiter = ReadLimiter::of(session);
    let batches: Vec<Vec<String>> = missing.chunks(10).map(<[String]>::to_vec).collect();
    let reads = batches
        .into_iter()
        .map(|batch| read_by_name(client, &limiter, batch, decrypt));
    let outputs: Vec<_> = futures::stream::iter(reads)
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    let mut gone = std::collections::BTreeSet::new();
    for output in outputs {
        gone.extend(output.invalid_parameters.unwrap_or_default());
        for parameter in output.parameters.unwrap_or_default() {
            let (Some(name), Some(value)) = (parameter.name.as_deref(), parameter.value.as_deref()) else {
                continue;
            };
            // The value's own type decides how it is read (a SecureString's is a secret, even
            // when the metadata listed a moment earlier said String).
            let type_ = parameter.r#type.as_ref().map_or("String", |t| t.as_str());
            if let Some(live) = found.get_mut(name) {
                live.spec.value = Some(Contents::Managed(live_value(type_, value)));
                live.spec.type_ = known(type_);
                stamps.insert(name, || value_stamp(&parameter));
            }
        }
    }
    // Listed, then deleted before its value was read: gone, not a parameter without a value
    // (which would plan an update of nothing instead of a create).
    if !gone.is_empty() {
        found.retain(|live| !gone.contains(&live.name));
    }
    Ok(())
}

async fn read_by_name(
    client: &Client,
    limiter: &ReadLimiter,
    names: Vec<String>,
    decrypt: bool,
) -> Result<aws_sdk_ssm::operation::get_parameters::GetParametersOutput, AwsError> {
    limiter.0.acquire().await;
    let first = names[0].clone();
    client
        .get_parameters()
        .set_names(Some(names))
        .with_decryption(decrypt)
        .send()
        .await
        .aws("GetParameters", &first)
}

/// `tier = "Intelligent-Tiering"` asks AWS to choose; AWS then reports the tier it chose
/// (Standard unless the value needs Advanced). Either satisfies the declaration, so the live
/// tier is read as the declared one instead of planning a change on every run.
/// (AWS: "Assigning parameter tiers", Intelligent-Tiering.)
fn satisfy_intelligent_tiering(found: &mut Found, declared: &Declarations<'_, Parameter>) {
    let intelligent = Tier::IntelligentTiering.as_str();
    for (name, declared) in declared.iter() {
        if declared.tier.as_deref() != Some(intelligent) {
            continue;
        }
        if let Some(live) = found.get_mut(name)
            && matches!(live.spec.tier.as_deref(), Some("Standard" | "Advanced"))
        {
            live.spec.tier = Some(intelligent.to_string());
        }
    }
}

/// Tags cost one call per parameter, so they are read only where they matter: where `tags`
/// is declared, and where a plain live value is about to be shown (a deletion, or a value
/// that differs), to learn from [`FROM_ENV_TAG`] whether that value came from the environment.
fn tags_to_read(found: &Found, declared: &Declarations<'_, Parameter>) -> Vec<String> {
    let shown_value = |live: &Live<Parameter>| {
        let plain = live
            .spec
            .value
            .as_ref()
            .is_some_and(|c| !c.value().is_sensitive());
        plain
            && declared.get(live.name.as_str()).is_none_or(|d| {
                d.value
                    .as_ref()
                    .and_then(Contents::managed)
                    .is_some_and(|v| !v.is_sensitive())
                    && d.value_differs(&live.spec)
            })
    };
    let declares_marks = |live: &Live<Parameter>| {
        declared
            .get(live.name.as_str())
            .is_some_and(|d| d.tags.is_some() || d.marked_from_env.is_some())
    };
    let matters = |live: &Live<Parameter>| !declared.only_declared_matter() || declared.contains(&live.name);
    found
        .iter()
        .filter(|live| {
            declared.reads_everything() || declares_marks(live) || (shown_value(live) && matters(live))
        })
        .map(|live| live.name.clone())
        .collect()
}

/// Sets `tags` where declared (without plumb's markers) and hides the value of every
/// parameter whose value plumb wrote from the environment.
fn apply_tags(
    found: &mut Found,
    declared: &Declarations<'_, Parameter>,
    tags: Vec<(String, BTreeMap<String, String>)>,
) {
    for (name, mut tags) in tags {
        let Some(live) = found.get_mut(&name) else {
            continue;
        };
        let marked = tags.remove(FROM_ENV_TAG).is_some();
        if marked {
            hide_value(&mut live.spec);
        }
        live.spec.marked_from_env = Some(marked);
        tags.retain(|key, _| !key.starts_with("plumb:"));
        if declared.reads_everything() || declared.get(name.as_str()).is_some_and(|d| d.tags.is_some()) {
            live.spec.tags = Some(tags);
        }
    }
}

/// Makes a live value secret: it came from the environment, so no plan may show it, even
/// once its declaration is gone or switched to a literal.
fn hide_value(parameter: &mut Parameter) {
    if let Some(text) = parameter.stored_value() {
        parameter.value = Some(Contents::Managed(Value::Secret(Secret::new(text))));
    }
}

async fn read_tags(
    client: &Client,
    wanted: Vec<String>,
) -> Result<Vec<(String, BTreeMap<String, String>)>, AwsError> {
    let reads = wanted.into_iter().map(|name| async move {
        let output = client
            .list_tags_for_resource()
            .resource_type(ResourceTypeForTagging::Parameter)
            .resource_id(&name)
            .send()
            .await
            .aws("ListTagsForResource", &name)?;
        let tags: BTreeMap<String, String> = output
            .tag_list
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect();
        Ok::<_, AwsError>((name, tags))
    });
    futures::stream::iter(reads)
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await
}

// --- writing --------------------------------------------------------------------------

/// A PutParameter request carrying every managed field of `desired`.
fn put_request(
    client: &Client,
    name: &str,
    desired: &Parameter,
    value: String,
) -> aws_sdk_ssm::operation::put_parameter::builders::PutParameterFluentBuilder {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::from(desired.type_.as_ref()))
        .data_type(desired.data_type.as_ref())
        .set_allowed_pattern(desired.allowed_pattern.clone())
        .set_key_id(desired.key_id.clone())
        .set_tier(desired.tier.as_deref().map(ParameterTier::from))
}

fn tag(key: &str, value: &str) -> Option<Tag> {
    Tag::builder().key(key).value(value).build().ok()
}

fn marker_tag() -> Vec<Tag> {
    tag(FROM_ENV_TAG, "true").into_iter().collect()
}

async fn create(
    client: &Client,
    limiter: &PutLimiter,
    name: &str,
    desired: &Parameter,
) -> Result<(), AwsError> {
    let mut tags = desired.tags.clone().unwrap_or_default();
    if desired.writes_env_value_in_plain() {
        tags.insert(FROM_ENV_TAG.to_string(), "true".to_string());
    }
    let tags: Vec<Tag> = tags.iter().filter_map(|(k, v)| tag(k, v)).collect();
    let request = put_request(client, name, desired, desired.stored_value().unwrap_or_default())
        .set_description(desired.description.clone())
        .set_tags((!tags.is_empty()).then_some(tags))
        .overwrite(false);
    limiter.acquire().await;
    request.send().await.aws("PutParameter", name)?;
    Ok(())
}

async fn update(
    client: &Client,
    limiter: &PutLimiter,
    name: &str,
    live: &Parameter,
    desired: &Parameter,
) -> Result<(), AwsError> {
    let needs_put = desired.put_differs(live);
    let marker_differs = desired
        .marked_from_env
        .is_some_and(|m| live.marked_from_env != Some(m));
    let mut steps = Steps::default();
    const MARKED: &str = "marked its value as from the environment";
    if marker_differs && !needs_put && desired.writes_env_value_in_plain() {
        steps.step(MARKED, add_tags(client, name, marker_tag())).await?;
    }
    if needs_put {
        let managed = desired.value.as_ref().and_then(Contents::managed);
        // A value plumb does not manage (initial_value_from_env) is written back as it is.
        let value = match managed {
            Some(value) => value.stored_text(),
            None => live.stored_value(),
        };
        if desired.writes_env_value_in_plain() && managed.is_some() {
            // Marked before the value is written, so no moment exists where it is unmarked.
            steps.step(MARKED, add_tags(client, name, marker_tag())).await?;
        }
        limiter.acquire().await;
        // An empty description clears the one AWS has: a missing one would keep it.
        let put = put_request(client, name, desired, value.unwrap_or_default())
            .description(desired.description.clone().unwrap_or_default())
            .overwrite(true)
            .send();
        steps
            .step("wrote it", async { put.await.aws("PutParameter", name) })
            .await?;
        let was_secret = live.value.as_ref().is_some_and(|c| c.value().is_sensitive())
            && live.type_ != Type::SecureString.as_str();
        let now_plain = managed.is_some_and(|v| !v.is_sensitive());
        if was_secret && now_plain {
            let unmark = remove_tags(client, name, vec![FROM_ENV_TAG.to_string()]);
            steps.step("removed its environment marker", unmark).await?;
        }
    }
    if let Some(tags) = &desired.tags
        && live.tags.as_ref() != Some(tags)
    {
        let live_tags = live.tags.clone().unwrap_or_default();
        steps
            .step("", update_tags(client, name, &live_tags, tags))
            .await?;
    }
    Ok(())
}

async fn update_tags(
    client: &Client,
    name: &str,
    live: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let untag = |keys| remove_tags(client, name, keys);
    let tag = |tags: BTreeMap<String, String>| {
        add_tags(client, name, tags.iter().filter_map(|(k, v)| tag(k, v)).collect())
    };
    kinds::sync_tags(live, desired, untag, tag).await
}

async fn add_tags(client: &Client, name: &str, tags: Vec<Tag>) -> Result<(), AwsError> {
    client
        .add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .set_tags(Some(tags))
        .send()
        .await
        .aws("AddTagsToResource", name)?;
    Ok(())
}

async fn remove_tags(client: &Client, name: &str, keys: Vec<String>) -> Result<(), AwsError> {
    client
        .remove_tags_from_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .set_tag_keys(Some(keys))
        .send()
        .await
        .aws("RemoveTagsFromResource", name)?;
    Ok(())
}

/// Deletes `name`; one already gone counts as deleted, so a second apply finishes the job.
async fn delete(client: &Client, name: &str) -> Result<(), AwsError> {
    let deleted = client
        .delete_parameter()
        .name(name)
        .send()
        .await
        .aws("DeleteParameter", name);
    deleted.done_if(&[codes::PARAMETER_NOT_FOUND])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aws_sdk_ssm::types::{ParameterMetadata, ParameterTier, ParameterType};

    use super::{
        Contents, Declarations, FROM_ENV_TAG, Found, Parameter, SdkParameter, apply_tags, live_parameter,
        merge, query_paths, satisfy_intelligent_tiering,
    };
    use crate::resource::Value;

    fn metadata(name: &str, type_: ParameterType) -> ParameterMetadata {
        ParameterMetadata::builder()
            .name(name)
            .r#type(type_)
            .description("")
            .data_type("text")
            .tier(ParameterTier::Standard)
            .version(3)
            .build()
    }

    fn value(name: &str, type_: ParameterType, text: &str) -> SdkParameter {
        SdkParameter::builder()
            .name(name)
            .r#type(type_)
            .value(text)
            .build()
    }

    fn declared(type_: &str, value: Value) -> Parameter {
        Parameter {
            type_: super::known(type_),
            value: Some(Contents::Managed(value)),
            marked_from_env: None,
            description: None,
            tier: None,
            allowed_pattern: None,
            data_type: super::known("text"),
            key_id: None,
            tags: None,
        }
    }

    #[test]
    fn live_parameters_read_as_declared() {
        let list = live_parameter(
            "/app/origins",
            &metadata("/app/origins", ParameterType::StringList),
            Some(&value("/app/origins", ParameterType::StringList, "a,b")),
        );
        assert_eq!(list.version.as_deref(), Some("version 3"));
        let mut want = declared("StringList", Value::Plain(serde_json::json!(["a", "b"])));
        want.tier = Some("Standard".into());
        assert_eq!(list.spec, want, "the list split, the empty description none");

        let secret = live_parameter(
            "/app/pw",
            &metadata("/app/pw", ParameterType::SecureString),
            Some(&value("/app/pw", ParameterType::SecureString, "canary-live")),
        );
        let read = secret.spec.value.as_ref().expect("read");
        assert!(matches!(read, Contents::Managed(Value::Secret(_))));
        assert_eq!(
            secret.spec.key_id.as_deref(),
            Some("alias/aws/ssm"),
            "AWS's default key"
        );
        assert!(!format!("{:?}", secret.spec).contains("canary-live"));
    }

    /// A hand edit between the metadata and the value reads: the value of version 4 is not
    /// paired with version 3's metadata (its type could be another), nor stamped; it is read
    /// again by name.
    #[test]
    fn a_value_of_another_version_than_its_metadata_is_left_to_be_read_again() {
        let mut stamps = super::Stamps::keeping(true);
        let mut raced = value("/app/db", ParameterType::SecureString, "canary-raced");
        raced.version = 4;
        let mut same = value("/app/url", ParameterType::String, "https://x");
        same.version = 3;
        let metadata = vec![
            metadata("/app/db", ParameterType::String),
            metadata("/app/url", ParameterType::String),
        ];
        let metadata = metadata.into_iter().filter_map(super::listed).collect();
        let values = [raced, same]
            .into_iter()
            .filter_map(super::ReadValue::of)
            .collect();
        let found = Found::of([merge(&mut stamps, metadata, values)]);
        assert!(found["/app/db"].spec.value.is_none());
        assert!(found["/app/url"].spec.value.is_some());
        let stamps = stamps.0.expect("kept");
        assert_eq!(stamps.keys().collect::<Vec<_>>(), ["/app/url"]);
        assert_eq!(stamps["/app/url"], "3@");
    }

    /// Deleted and created again between the two listings: version 3 again, but as a
    /// SecureString, or at another time. Neither value is paired with the metadata.
    #[test]
    fn a_value_of_the_same_version_but_another_write_is_left_to_be_read_again() {
        use aws_sdk_ssm::primitives::DateTime;
        let mut stamps = super::Stamps::keeping(true);
        let mut retyped = value("/app/db", ParameterType::SecureString, "canary-retyped");
        retyped.version = 3;
        let mut later = value("/app/url", ParameterType::String, "https://y");
        later.version = 3;
        later.last_modified_date = Some(DateTime::from_secs(2_000));
        let mut url = metadata("/app/url", ParameterType::String);
        url.last_modified_date = Some(DateTime::from_secs(1_000));
        let metadata = vec![metadata("/app/db", ParameterType::String), url];
        let metadata = metadata.into_iter().filter_map(super::listed).collect();
        let values = [retyped, later]
            .into_iter()
            .filter_map(super::ReadValue::of)
            .collect();
        let found = Found::of([merge(&mut stamps, metadata, values)]);
        assert!(found["/app/db"].spec.value.is_none());
        assert!(found["/app/url"].spec.value.is_none());
        assert!(stamps.0.expect("kept").is_empty());
        assert!(!format!("{found:?}").contains("canary-retyped"));
    }

    #[test]
    fn intelligent_tiering_is_satisfied_by_the_tier_aws_chose() {
        let live = live_parameter(
            "/app/x",
            &metadata("/app/x", ParameterType::String),
            Some(&value("/app/x", ParameterType::String, "1")),
        );
        let mut found = Found::of([vec![live]]);
        let mut want = declared("String", Value::text("1"));
        want.tier = Some("Intelligent-Tiering".into());
        let declarations = Declarations::plan([("/app/x", &want)]);
        satisfy_intelligent_tiering(&mut found, &declarations);
        assert_eq!(found["/app/x"].spec.tier.as_deref(), Some("Intelligent-Tiering"));
    }

    #[test]
    fn the_from_env_marker_hides_the_value_and_is_never_a_tag() {
        let live = live_parameter(
            "/app/token",
            &metadata("/app/token", ParameterType::String),
            Some(&value("/app/token", ParameterType::String, "canary-token")),
        );
        let mut found = Found::of([vec![live]]);
        let mut want = declared("String", Value::text("x"));
        want.tags = Some(BTreeMap::new());
        let declarations = Declarations::plan([("/app/token", &want)]);
        let tags = BTreeMap::from([(FROM_ENV_TAG.to_string(), "true".to_string())]);
        apply_tags(&mut found, &declarations, vec![("/app/token".into(), tags)]);
        let spec = &found["/app/token"].spec;
        assert_eq!(spec.marked_from_env, Some(true));
        assert_eq!(
            spec.tags,
            Some(BTreeMap::new()),
            "plumb's marker is not a declared tag"
        );
        assert!(matches!(spec.value, Some(Contents::Managed(Value::Secret(_)))));
    }

    /// Each scope path's listing joins one list in name order, where every name is found.
    #[test]
    fn the_parameters_of_several_paths_are_found_by_name() {
        let live = |name: &str| live_parameter(name, &metadata(name, ParameterType::String), None);
        let found = Found::of([vec![live("/b/2"), live("/b/1")], vec![live("/a/9")]]);
        let names: Vec<&str> = found.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["/a/9", "/b/1", "/b/2"]);
        assert!(found.contains("/b/1") && found.contains("/a/9"));
        assert!(!found.contains("/b/3") && !found.contains("/a"));
    }

    /// Listed twice (AWS paging while someone edits): kept once, its value left to be read
    /// again by name, whichever listing's value it came with.
    #[test]
    fn a_parameter_listed_twice_is_kept_once_and_read_again() {
        let live = |text: &str| {
            let meta = metadata("/a/x", ParameterType::String);
            live_parameter("/a/x", &meta, Some(&value("/a/x", ParameterType::String, text)))
        };
        let found = Found::of([vec![live("old"), live("new")]]);
        assert_eq!(found.iter().count(), 1);
        assert!(found["/a/x"].spec.value.is_none());
    }

    #[test]
    fn aws_words_are_shared_and_other_words_kept_as_read() {
        assert!(matches!(super::known("SecureString"), super::Word::Borrowed(_)));
        assert!(matches!(
            super::known("aws:ssm:integration"),
            super::Word::Borrowed(_)
        ));
        assert_eq!(super::known("aws:new:type"), "aws:new:type");
    }

    #[test]
    fn query_paths_cut_prefixes_back_to_a_hierarchy_and_drop_covered_ones() {
        let prefixes = ["/dev/app/", "/dev/app/db/", "/dev/web"];
        assert_eq!(query_paths(&prefixes), vec!["/dev".to_string()]);
        let prefixes = ["/dev/app/", "/prod/app/"];
        assert_eq!(
            query_paths(&prefixes),
            vec!["/dev/app".to_string(), "/prod/app".to_string()]
        );
        assert_eq!(query_paths(&["/x"]), vec!["/".to_string()]);
    }
}
