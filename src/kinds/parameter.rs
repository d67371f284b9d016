//! SSM Parameter Store parameters (`[parameters."/path/name"]`).
//!
//! Reading: per scope path, DescribeParameters (metadata, 50 a page) and GetParametersByPath
//! (decrypted values, 10 a page) run side by side; ListTagsForResource only for parameters
//! that declare `tags`. For N parameters that is ⌈N/10⌉ + ⌈N/50⌉ calls per path.
//!
//! Writing: PutParameter is paced to the environment's `ssm_put_rate` (AWS's default quota
//! is 3 a second); throttled calls are retried by the SDK with backoff.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterTier, ParameterType, ResourceTypeForTagging, Tag};
use futures::{StreamExt, TryStreamExt};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::aws::{AwsError, RateLimiter, Session, done_if};
use crate::config::Environment;
use crate::kinds::{self, DynKind};
use crate::load::{Diagnostic, Entry, EnvLookup};
use crate::plan::{Action, Change};
use crate::resource::{Resource, Secret, Value};
use crate::scope;

pub struct Parameters;

const KIND: &str = "parameter";
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
enum Type {
    #[default]
    String,
    StringList,
    SecureString,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::String => "String",
            Type::StringList => "StringList",
            Type::SecureString => "SecureString",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
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

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Literal {
    One(String),
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(rename = "type", default)]
    type_: Type,
    value: Option<Literal>,
    value_from_env: Option<String>,
    initial_value_from_env: Option<String>,
    description: Option<String>,
    key_id: Option<String>,
    tier: Option<Tier>,
    allowed_pattern: Option<String>,
    data_type: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    protect: bool,
}

#[async_trait]
impl DynKind for Parameters {
    fn name(&self) -> &'static str {
        KIND
    }

    fn table(&self) -> &'static str {
        "parameters"
    }

    fn in_scope(&self, env: &Environment, name: &str) -> bool {
        env.scope
            .parameter_paths
            .iter()
            .any(|p| scope::path_covers(p, name))
    }

    fn parse(&self, entry: &Entry) -> Result<Resource, Vec<Diagnostic>> {
        let spec: Spec = entry.deserialize().map_err(|d| vec![d])?;
        let mut problems = Vec::new();
        check_name(entry, self, &mut problems);
        check_spec(entry, &spec, &mut problems);
        let resource = build(entry, &spec, &mut problems);
        if problems.is_empty() {
            Ok(resource)
        } else {
            Err(problems)
        }
    }

    async fn fetch(&self, session: &Session, desired: &[&Resource]) -> Result<Vec<Resource>, AwsError> {
        let client = session.shared(|s| Client::new(&s.config));
        let reads = query_paths(&session.env.scope.parameter_paths)
            .into_iter()
            .map(|path| read_path(&client, path));
        let mut found: BTreeMap<String, Resource> = BTreeMap::new();
        for (metadata, values) in futures::future::try_join_all(reads).await? {
            merge(&mut found, metadata, values);
        }
        found.retain(|name, _| self.in_scope(&session.env, name) && !crate::lock::is_lock_name(name));
        fill_missing_values(&client, &mut found).await?;
        satisfy_intelligent_tiering(&mut found, desired);
        let wanted = tags_to_read(&found, desired);
        let tags = read_tags(&client, wanted).await?;
        apply_tags(&mut found, desired, tags);
        Ok(found.into_values().collect())
    }

    fn replace_reason(&self, field: &str, before: &Value, after: &Value) -> Option<String> {
        match field {
            "type" => Some("AWS cannot change a parameter's type in place".into()),
            "tier" if before.as_str() == Some("Advanced") && after.as_str() == Some("Standard") => {
                Some("AWS cannot move an Advanced parameter down to Standard".into())
            }
            "allowed_pattern" if after.shown() == Some(&Json::Null) => {
                Some("AWS cannot remove an allowed pattern in place".into())
            }
            _ => None,
        }
    }

    async fn apply(&self, session: &Session, change: &Change) -> Result<(), AwsError> {
        let client = session.shared(|s| Client::new(&s.config));
        let limiter = session.shared(|s| PutLimiter(RateLimiter::per_second(s.env.ssm_put_rate)));
        let name = change.name.as_str();
        match change.action {
            Action::Delete => delete(&client, name).await,
            Action::Replace => {
                delete(&client, name).await?;
                create(&client, &limiter, desired_of(change)).await
            }
            Action::Create => create(&client, &limiter, desired_of(change)).await,
            Action::Update => update(&client, &limiter, change).await,
        }
    }
}

/// The PutParameter pacing, one per session (a newtype so `Session::shared` tells it apart).
#[derive(Clone)]
struct PutLimiter(RateLimiter);

fn desired_of(change: &Change) -> &Resource {
    change
        .desired
        .as_deref()
        .expect("create, update and replace carry the desired resource")
}

// --- validation -----------------------------------------------------------------------

fn check_name(entry: &Entry, kind: &Parameters, problems: &mut Vec<Diagnostic>) {
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
    if !kind.in_scope(entry.env, name) {
        problems.push(kinds::outside_scope(
            entry,
            "parameter_paths",
            &entry.env.scope.parameter_paths,
        ));
    }
}

fn check_spec(entry: &Entry, spec: &Spec, problems: &mut Vec<Diagnostic>) {
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
    if spec.type_ == Type::SecureString && spec.value.is_some() {
        problems.push(entry.error(
            Some("value"),
            "a SecureString's value must not be written in desired/: use `value_from_env`",
        ));
    }
    if spec.key_id.is_some() && spec.type_ != Type::SecureString {
        problems.push(entry.error(Some("key_id"), "only a SecureString has a KMS key"));
    }
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

/// The rules AWS applies to a value: not empty, within the tier's size, matching the pattern.
/// The message never quotes the value: it may come from the environment.
fn check_value(entry: &Entry, spec: &Spec, field: &str, value: &str, problems: &mut Vec<Diagnostic>) {
    let limit = match spec.tier {
        Some(Tier::Advanced | Tier::IntelligentTiering) => ADVANCED_MAX_BYTES,
        _ => STANDARD_MAX_BYTES,
    };
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

fn build(entry: &Entry, spec: &Spec, problems: &mut Vec<Diagnostic>) -> Resource {
    let mut resource = Resource::new(KIND, entry.name);
    resource.protect = spec.protect;
    resource.set("type", Value::text(spec.type_.as_str()));
    set_value(entry, spec, &mut resource, problems);
    resource.set(
        "description",
        spec.description.clone().map_or(Value::null(), Value::text),
    );
    if let Some(tier) = spec.tier {
        resource.set("tier", Value::text(tier.as_str()));
    }
    resource.set(
        "allowed_pattern",
        spec.allowed_pattern.clone().map_or(Value::null(), Value::text),
    );
    resource.set(
        "data_type",
        Value::text(spec.data_type.as_deref().unwrap_or("text")),
    );
    if spec.type_ == Type::SecureString {
        resource.set(
            "key_id",
            Value::text(spec.key_id.as_deref().unwrap_or(DEFAULT_KEY_ID)),
        );
    }
    if let Some(tags) = &spec.tags {
        resource.set("tags", Value::Plain(json!(tags)));
    }
    resource
}

fn set_value(entry: &Entry, spec: &Spec, resource: &mut Resource, problems: &mut Vec<Diagnostic>) {
    // An `initial_value_from_env` whose variable is unset writes nothing, so there is no
    // marker to want.
    let initial_unset = spec
        .initial_value_from_env
        .as_deref()
        .is_some_and(|var| matches!(entry.env_var(var), EnvLookup::Unset));
    let from_env = spec.value_from_env.is_some() || (spec.initial_value_from_env.is_some() && !initial_unset);
    if from_env && spec.type_ != Type::SecureString {
        // Compared like any field, so a parameter written before plumb marked such values
        // gets its marker on the next apply.
        resource.set(VALUE_SOURCE, Value::text(FROM_ENVIRONMENT));
    }
    if let Some(literal) = &spec.value {
        let value = match literal {
            Literal::One(text) => Json::String(text.clone()),
            Literal::List(items) => json!(items),
        };
        resource.set("value", Value::Plain(value));
    } else if let Some(var) = &spec.value_from_env {
        let value = read_env_value(entry, spec, "value_from_env", var, problems);
        resource.set("value", value.unwrap_or(Value::Unread));
    } else if let Some(var) = &spec.initial_value_from_env {
        match entry.env_var(var) {
            EnvLookup::Unset => {
                resource.skip_create = Some(format!("set `{var}` to create it"));
            }
            _ => {
                let value = read_env_value(entry, spec, "initial_value_from_env", var, problems);
                resource.set_create_only("value", value.unwrap_or(Value::Unread));
            }
        }
    }
}

/// A value from the environment: always a secret, whatever the type, so it is never shown.
fn read_env_value(
    entry: &Entry,
    spec: &Spec,
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
        EnvLookup::NotRead => None,
    }
}

// --- reading --------------------------------------------------------------------------

/// The hierarchy paths to read: each scope prefix cut back to its last `/` (a prefix need not
/// end at a path boundary; names are filtered by the full prefix afterwards), without paths
/// that another one already covers.
fn query_paths(prefixes: &[String]) -> Vec<String> {
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

type Metadata = Vec<aws_sdk_ssm::types::ParameterMetadata>;
type Values = Vec<aws_sdk_ssm::types::Parameter>;

async fn read_path(client: &Client, path: String) -> Result<(Metadata, Values), AwsError> {
    futures::try_join!(describe_path(client, &path), values_by_path(client, &path))
}

async fn describe_path(client: &Client, path: &str) -> Result<Metadata, AwsError> {
    let filter = ParameterStringFilter::builder()
        .key("Path")
        .option("Recursive")
        .values(path)
        .build()
        .expect("key is set");
    let pages = client
        .describe_parameters()
        .parameter_filters(filter)
        .max_results(50)
        .into_paginator()
        .send();
    let pages: Vec<_> = pages
        .try_collect()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeParameters", path, e))?;
    Ok(pages
        .into_iter()
        .flat_map(|p| p.parameters.unwrap_or_default())
        .collect())
}

async fn values_by_path(client: &Client, path: &str) -> Result<Values, AwsError> {
    let pages = client
        .get_parameters_by_path()
        .path(path)
        .recursive(true)
        .with_decryption(true)
        .max_results(10)
        .into_paginator()
        .send();
    let pages: Vec<_> = pages
        .try_collect()
        .await
        .map_err(|e| AwsError::from_sdk("GetParametersByPath", path, e))?;
    Ok(pages
        .into_iter()
        .flat_map(|p| p.parameters.unwrap_or_default())
        .collect())
}

fn merge(found: &mut BTreeMap<String, Resource>, metadata: Metadata, values: Values) {
    let mut values: HashMap<String, aws_sdk_ssm::types::Parameter> = values
        .into_iter()
        .filter_map(|p| Some((p.name.clone()?, p)))
        .collect();
    for meta in metadata {
        let Some(name) = meta.name.clone() else { continue };
        let value = values.remove(&name);
        found.insert(name.clone(), live_resource(&name, &meta, value.as_ref()));
    }
}

fn live_resource(
    name: &str,
    meta: &aws_sdk_ssm::types::ParameterMetadata,
    value: Option<&aws_sdk_ssm::types::Parameter>,
) -> Resource {
    let type_ = meta.r#type.as_ref().map_or("String", |t| t.as_str()).to_string();
    let mut resource = Resource::new(KIND, name);
    resource.version = Some(format!("version {}", meta.version));
    resource.set("type", Value::text(type_.clone()));
    if let Some(value) = value.and_then(|v| v.value.as_deref()) {
        resource.set("value", live_value(&type_, value));
    }
    let text_or_null = |s: Option<&str>| s.filter(|s| !s.is_empty()).map_or(Value::null(), Value::text);
    resource.set("description", text_or_null(meta.description.as_deref()));
    resource.set("allowed_pattern", text_or_null(meta.allowed_pattern.as_deref()));
    resource.set(
        "data_type",
        Value::text(meta.data_type.as_deref().unwrap_or("text")),
    );
    if let Some(tier) = &meta.tier {
        resource.set("tier", Value::text(tier.as_str()));
    }
    if type_ == "SecureString" {
        resource.set(
            "key_id",
            Value::text(meta.key_id.as_deref().unwrap_or(DEFAULT_KEY_ID)),
        );
    }
    resource
}

fn live_value(type_: &str, value: &str) -> Value {
    match type_ {
        "SecureString" => Value::Secret(Secret::new(value)),
        "StringList" => Value::Plain(json!(value.split(',').collect::<Vec<_>>())),
        _ => Value::text(value),
    }
}

/// A parameter created between the two listings has metadata but no value yet: read those
/// by name, ten at a time.
async fn fill_missing_values(
    client: &Client,
    found: &mut BTreeMap<String, Resource>,
) -> Result<(), AwsError> {
    let missing: Vec<String> = found
        .values()
        .filter(|r| r.get("value").is_none())
        .map(|r| r.name.clone())
        .collect();
    for batch in missing.chunks(10) {
        let output = client
            .get_parameters()
            .set_names(Some(batch.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetParameters", &batch[0], e))?;
        for parameter in output.parameters.unwrap_or_default() {
            let (Some(name), Some(value)) = (parameter.name.as_deref(), parameter.value.as_deref()) else {
                continue;
            };
            let type_ = parameter.r#type.as_ref().map_or("String", |t| t.as_str());
            if let Some(resource) = found.get_mut(name) {
                resource.set("value", live_value(type_, value));
            }
        }
    }
    Ok(())
}

/// `tier = "Intelligent-Tiering"` asks AWS to choose; AWS then reports the tier it chose
/// (Standard unless the value needs Advanced). Either satisfies the declaration, so the live
/// tier is read as the declared one instead of planning a change on every run.
/// (AWS: "Assigning parameter tiers", Intelligent-Tiering.)
fn satisfy_intelligent_tiering(found: &mut BTreeMap<String, Resource>, desired: &[&Resource]) {
    for declared in desired {
        if declared.get_str("tier") != Some(Tier::IntelligentTiering.as_str()) {
            continue;
        }
        if let Some(live) = found.get_mut(&declared.name)
            && matches!(live.get_str("tier"), Some("Standard" | "Advanced"))
        {
            live.set("tier", Value::text(Tier::IntelligentTiering.as_str()));
        }
    }
}

/// Tags cost one call per parameter, so they are read only where they matter: where `tags`
/// is declared, and where a plain live value is about to be shown (a deletion, or a value
/// that differs), to learn from [`FROM_ENV_TAG`] whether that value came from the environment.
fn tags_to_read(found: &BTreeMap<String, Resource>, desired: &[&Resource]) -> Vec<String> {
    let declared: HashMap<&str, &Resource> = desired.iter().map(|d| (d.name.as_str(), *d)).collect();
    let shown_value = |live: &Resource| {
        let Some(live_value) = live.get("value").filter(|v| !v.is_sensitive()) else {
            return false;
        };
        match declared.get(live.name.as_str()) {
            None => true,
            Some(d) => d
                .field("value")
                .is_some_and(|f| !f.create_only && !f.value.is_sensitive() && !f.value.same_as(live_value)),
        }
    };
    let declares = |live: &Resource, field: &str| {
        declared
            .get(live.name.as_str())
            .is_some_and(|d| d.field(field).is_some())
    };
    found
        .values()
        .filter(|live| declares(live, "tags") || declares(live, VALUE_SOURCE) || shown_value(live))
        .map(|live| live.name.clone())
        .collect()
}

/// Sets `tags` where declared (without plumb's markers) and hides the value of every
/// parameter whose value plumb wrote from the environment.
fn apply_tags(
    found: &mut BTreeMap<String, Resource>,
    desired: &[&Resource],
    tags: Vec<(String, BTreeMap<String, String>)>,
) {
    for (name, mut tags) in tags {
        let Some(resource) = found.get_mut(&name) else {
            continue;
        };
        if tags.remove(FROM_ENV_TAG).is_some() {
            hide_value(resource);
            resource.set(VALUE_SOURCE, Value::text(FROM_ENVIRONMENT));
        } else {
            resource.set(VALUE_SOURCE, Value::null());
        }
        tags.retain(|key, _| !key.starts_with("plumb:"));
        if desired
            .iter()
            .any(|d| d.name == name && d.field("tags").is_some())
        {
            resource.set("tags", Value::Plain(json!(tags)));
        }
    }
}

/// Makes a live value secret: it came from the environment, so no plan may show it, even
/// once its declaration is gone or switched to a literal.
pub fn hide_value(resource: &mut Resource) {
    let text = resource.get("value").and_then(Value::stored_text);
    if let Some(text) = text {
        resource.set("value", Value::Secret(Secret::new(text)));
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
            .map_err(|e| AwsError::from_sdk("ListTagsForResource", &name, e))?;
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

fn tags_of(resource: &Resource) -> BTreeMap<String, String> {
    resource.decode("tags").unwrap_or_default()
}

/// A PutParameter request carrying every managed field of `desired`.
fn put_request(
    client: &Client,
    desired: &Resource,
    value: String,
) -> aws_sdk_ssm::operation::put_parameter::builders::PutParameterFluentBuilder {
    let text = |field: &str| desired.get_str(field).map(str::to_string);
    let mut request = client
        .put_parameter()
        .name(&desired.name)
        .value(value)
        .r#type(ParameterType::from(text("type").unwrap_or_default().as_str()))
        .set_data_type(text("data_type"))
        .set_allowed_pattern(text("allowed_pattern"))
        .set_key_id(text("key_id"));
    if let Some(tier) = text("tier") {
        request = request.tier(ParameterTier::from(tier.as_str()));
    }
    request
}

/// Whether `desired` writes a value from the environment into a type AWS shows in plain text.
fn writes_env_value_in_plain(desired: &Resource) -> bool {
    desired.get("value").is_some_and(Value::is_sensitive) && desired.get_str("type") != Some("SecureString")
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}

async fn create(client: &Client, limiter: &PutLimiter, desired: &Resource) -> Result<(), AwsError> {
    let value = desired
        .get("value")
        .and_then(Value::stored_text)
        .unwrap_or_default();
    let mut tags = tags_of(desired);
    if writes_env_value_in_plain(desired) {
        tags.insert(FROM_ENV_TAG.to_string(), "true".to_string());
    }
    let tags: Vec<Tag> = tags.iter().map(|(k, v)| tag(k, v)).collect();
    let request = put_request(client, desired, value)
        .set_description(desired.get_str("description").map(str::to_string))
        .set_tags((!tags.is_empty()).then_some(tags))
        .overwrite(false);
    limiter.0.acquire().await;
    request
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutParameter", &desired.name, e))?;
    Ok(())
}

async fn update(client: &Client, limiter: &PutLimiter, change: &Change) -> Result<(), AwsError> {
    let desired = desired_of(change);
    let live = change.live.as_deref().expect("an update has a live side");
    let changed = |field: &str| change.fields.iter().any(|f| f.field == field);
    let needs_put = change
        .fields
        .iter()
        .any(|f| f.field != "tags" && f.field != VALUE_SOURCE);
    if changed(VALUE_SOURCE) && !needs_put && writes_env_value_in_plain(desired) {
        add_tags(client, &desired.name, vec![tag(FROM_ENV_TAG, "true")]).await?;
    }
    if needs_put {
        // A value plumb does not manage (initial_value_from_env) is written back as it is.
        let value = desired
            .field("value")
            .filter(|f| !f.create_only)
            .map(|f| &f.value)
            .or_else(|| live.get("value"))
            .and_then(Value::stored_text)
            .unwrap_or_default();
        // An empty description clears the one AWS has: a missing one would keep it.
        let description = desired.get_str("description").unwrap_or_default().to_string();
        let from_env =
            writes_env_value_in_plain(desired) && desired.field("value").is_some_and(|f| !f.create_only);
        if from_env {
            // Marked before the value is written, so no moment exists where it is unmarked.
            add_tags(client, &desired.name, vec![tag(FROM_ENV_TAG, "true")]).await?;
        }
        limiter.0.acquire().await;
        put_request(client, desired, value)
            .description(description)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutParameter", &desired.name, e))?;
        let was_secret = live.get("value").is_some_and(Value::is_sensitive)
            && live.get_str("type") != Some("SecureString");
        let now_plain = desired
            .field("value")
            .is_some_and(|f| !f.create_only && !f.value.is_sensitive());
        if was_secret && now_plain {
            remove_tags(client, &desired.name, vec![FROM_ENV_TAG.to_string()]).await?;
        }
    }
    if changed("tags") {
        update_tags(client, &desired.name, &tags_of(live), &tags_of(desired)).await?;
    }
    Ok(())
}

async fn update_tags(
    client: &Client,
    name: &str,
    live: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let (removed, set) = kinds::tag_changes(live, desired);
    let added: Vec<Tag> = set.iter().map(|(k, v)| tag(k, v)).collect();
    if !removed.is_empty() {
        remove_tags(client, name, removed).await?;
    }
    if !added.is_empty() {
        add_tags(client, name, added).await?;
    }
    Ok(())
}

async fn add_tags(client: &Client, name: &str, tags: Vec<Tag>) -> Result<(), AwsError> {
    client
        .add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("AddTagsToResource", name, e))?;
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
        .map_err(|e| AwsError::from_sdk("RemoveTagsFromResource", name, e))?;
    Ok(())
}

/// Deletes `name`; one already gone counts as deleted, so a second apply finishes the job.
async fn delete(client: &Client, name: &str) -> Result<(), AwsError> {
    let deleted = client
        .delete_parameter()
        .name(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteParameter", name, e));
    done_if(deleted, &["ParameterNotFound"])
}

#[cfg(test)]
mod tests {
    use super::query_paths;

    #[test]
    fn query_paths_cut_prefixes_back_to_a_hierarchy_and_drop_covered_ones() {
        let prefixes = [
            "/dev/app/".to_string(),
            "/dev/app/db/".to_string(),
            "/dev/web".to_string(),
        ];
        assert_eq!(query_paths(&prefixes), vec!["/dev".to_string()]);
        let prefixes = ["/dev/app/".to_string(), "/prod/app/".to_string()];
        assert_eq!(
            query_paths(&prefixes),
            vec!["/dev/app".to_string(), "/prod/app".to_string()]
        );
        assert_eq!(query_paths(&["/x".to_string()]), vec!["/".to_string()]);
    }
}
