//! What the IAM kinds (policies, groups, users) share: one read of the account's IAM
//! configuration per session, policy documents compared by meaning, attachments split into
//! plumb's own policies and the rest, IAM's eventual consistency, and IAM's naming rules.
//!
//! Reading: GetAccountAuthorizationDetails returns users (with their groups, tags, attached and
//! inline policies), groups (attached and inline policies) and customer-managed policies (with
//! their versions) in pages of up to 1,000 items. All three kinds read from that one snapshot,
//! so a plan of 500 users and 50 groups costs a handful of calls, not thousands. IAM has no
//! path filter for it, so the snapshot is filtered by `scope.iam_path` on the client side.

pub mod group;
pub mod policy;
pub mod user;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::{EntityType, GroupDetail, ManagedPolicyDetail, UserDetail};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tokio::sync::OnceCell;

use crate::aws::{AwsError, DoneIf, SdkResult, Session, codes};
use crate::config::Environment;
use crate::kinds::OutOfReach;
use crate::resource::Reference;
use crate::scope::{Rule, Shape};
use crate::source::{Diagnostic, Entry};

/// AWS's default quotas (raisable, but a plan that exceeds them fails at apply time).
pub const MAX_GROUPS_PER_USER: usize = 10;
/// AWS's limit on managed policies attached to one user or group: 10 by default, raisable to
/// 20; plumb refuses only what no account can hold.
pub const MAX_MANAGED_POLICIES: usize = 20;

/// Everything IAM said about the account, read once per session.
pub struct Snapshot {
    pub users: Vec<UserDetail>,
    pub groups: Vec<GroupDetail>,
    pub policies: Vec<ManagedPolicyDetail>,
}

/// The snapshot, read once.
type SnapshotCell = Arc<OnceCell<Result<Arc<Snapshot>, AwsError>>>;

/// The snapshot of one read generation (see `Session::invalidate_reads`).
#[derive(Clone)]
struct SharedSnapshot(Arc<std::sync::Mutex<(u64, SnapshotCell)>>);

pub fn client(session: &Session) -> Client {
    session.client::<Client>()
}

/// The session's IAM snapshot, read on first use.
pub async fn snapshot(session: &Session) -> Result<Arc<Snapshot>, AwsError> {
    let shared = session.shared(|s| {
        SharedSnapshot(Arc::new(std::sync::Mutex::new((
            s.read_generation(),
            Arc::default(),
        ))))
    });
    let cell = {
        let mut slot = shared.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.0 != session.read_generation() {
            *slot = (session.read_generation(), Arc::default());
        }
        slot.1.clone()
    };
    cell.get_or_init(|| read_snapshot(client(session))).await.clone()
}

async fn read_snapshot(client: Client) -> Result<Arc<Snapshot>, AwsError> {
    let pages: Vec<_> = client
        .get_account_authorization_details()
        .filter(EntityType::User)
        .filter(EntityType::Group)
        .filter(EntityType::LocalManagedPolicy)
        .max_items(1000)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws("GetAccountAuthorizationDetails", "account")?;
    let mut snapshot = Snapshot {
        users: Vec::new(),
        groups: Vec::new(),
        policies: Vec::new(),
    };
    for page in pages {
        snapshot.users.extend(page.user_detail_list.unwrap_or_default());
        snapshot.groups.extend(page.group_detail_list.unwrap_or_default());
        snapshot.policies.extend(page.policies.unwrap_or_default());
    }
    Ok(Arc::new(snapshot))
}

/// The account id (for policy ARNs), from STS once per session.
pub async fn account_id(session: &Session) -> Result<String, AwsError> {
    session.caller_account().await
}

/// The scope rule of IAM's kinds (users, groups, policies): one IAM path, account-wide.
pub const SCOPE: Rule = Rule {
    setting: "iam_path",
    shape: Shape::IamPath,
    account_wide: true,
    allows: |c| c.is_ascii_graphic(),
    allowed: "printable ASCII without spaces",
};

pub fn iam_path(env: &Environment) -> &str {
    env.scope.values(SCOPE.setting).first().copied().unwrap_or("")
}

pub fn in_scope(env: &Environment, path: Option<&str>) -> bool {
    let scope = iam_path(env);
    !scope.is_empty() && path.is_some_and(|p| p.starts_with(scope))
}

/// IAM entities outside the scope whose name has the environment's name as a part
/// (`app-dev-deployer` for `dev`), with why they were not imported and how to bring them in.
pub async fn out_of_reach(
    session: &Session,
    entities: impl FnOnce(&Snapshot) -> Vec<(String, Option<String>)>,
    remedy: impl Fn(&str, &str) -> String,
) -> Result<Vec<OutOfReach>, AwsError> {
    let scope = iam_path(&session.env);
    if scope.is_empty() {
        return Ok(Vec::new());
    }
    let snapshot = snapshot(session).await?;
    let env = session.env.name.to_ascii_lowercase();
    let named_like = |name: &str| {
        name.to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|part| part == env)
    };
    Ok(entities(&snapshot)
        .into_iter()
        .filter(|(name, path)| !in_scope(&session.env, path.as_deref()) && named_like(name))
        .map(|(name, path)| {
            let path = path.unwrap_or_default();
            let why = format!(
                "at path `{path}`, outside iam_path `{scope}`: {}",
                remedy(&name, scope)
            );
            OutOfReach { name, why }
        })
        .collect())
}

/// The ARN of a customer-managed policy plumb manages.
pub fn policy_arn(account: &str, env: &Environment, name: &str) -> String {
    format!("arn:aws:iam::{account}:policy{}{name}", iam_path(env))
}

/// Splits attached policy ARNs into plumb's own policies (by name) and the rest (by ARN),
/// each sorted: attachments are sets.
pub fn split_attachments<'a>(
    env: &Environment,
    arns: impl Iterator<Item = &'a str>,
) -> (Vec<String>, Vec<String>) {
    let (mut own, mut other) = (Vec::new(), Vec::new());
    for arn in arns {
        match own_policy_name(env, arn) {
            Some(name) => own.push(name.to_string()),
            None => other.push(arn.to_string()),
        }
    }
    own.sort();
    other.sort();
    (own, other)
}

fn own_policy_name<'a>(env: &Environment, arn: &'a str) -> Option<&'a str> {
    let scope = iam_path(env);
    if scope.is_empty() {
        return None;
    }
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, path_and_name) = rest.split_once(":policy")?;
    if account == "aws" {
        return None;
    }
    let name = path_and_name.strip_prefix(scope)?;
    (!name.contains('/')).then_some(name)
}

// --- policy documents -------------------------------------------------------------------

/// A policy document as IAM returns it: URL-encoded JSON (moto sends some raw; both work).
pub fn parse_live_document(text: &str) -> Json {
    serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&percent_decode(text)))
        .map(normalize_document)
        .unwrap_or_else(|_| Json::String(text.to_string()))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(bytes[i + 1])? * 16 + hex(bytes[i + 2])?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte as u8);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, byte) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Policy documents compared by meaning: a single Statement equals a one-element list; a
/// single string in Action, NotAction, Resource, NotResource or a condition value equals a
/// one-element list; those lists are sets (sorted, deduplicated). Key order never matters
/// (serde_json's maps are sorted).
pub fn normalize_document(document: Json) -> Json {
    let mut document = crate::kinds::numbers_by_value(document);
    if let Some(statement) = document.get_mut("Statement") {
        if statement.is_object() {
            *statement = Json::Array(vec![statement.take()]);
        }
        for item in statement.as_array_mut().into_iter().flatten() {
            normalize_statement(item);
        }
    }
    document
}

fn normalize_statement(statement: &mut Json) {
    for key in ["Action", "NotAction", "Resource", "NotResource"] {
        if let Some(value) = statement.get_mut(key) {
            as_string_set(value);
        }
    }
    let conditions = statement.get_mut("Condition").and_then(Json::as_object_mut);
    for operator in conditions.into_iter().flat_map(|c| c.values_mut()) {
        for value in operator.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            as_string_set(value);
        }
    }
}

fn as_string_set(value: &mut Json) {
    match value {
        Json::String(_) => *value = Json::Array(vec![value.take()]),
        Json::Array(items) if items.iter().all(Json::is_string) => {
            items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            items.dedup();
        }
        _ => {}
    }
}

/// What IAM requires of a document before it accepts it.
pub fn check_document(document: &Json) -> Result<(), String> {
    let Some(object) = document.as_object() else {
        return Err("a policy document must be a JSON object".into());
    };
    if !object.get("Version").is_some_and(Json::is_string) {
        return Err("a policy document needs `Version` (\"2012-10-17\")".into());
    }
    let statements = match object.get("Statement") {
        Some(Json::Array(items)) if !items.is_empty() => items.iter().collect::<Vec<_>>(),
        Some(item @ Json::Object(_)) => vec![item],
        _ => return Err("a policy document needs a non-empty `Statement`".into()),
    };
    for statement in statements {
        let effect = statement.get("Effect").and_then(Json::as_str);
        if !matches!(effect, Some("Allow" | "Deny")) {
            return Err("every statement needs `Effect` = \"Allow\" or \"Deny\"".into());
        }
    }
    Ok(())
}

/// A document declared inline (`document = { ... }`) or in a JSON file (`file = "x.json"`).
#[derive(Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentSource {
    /// The policy document, inline.
    pub document: Option<Json>,
    /// A JSON file holding the document, relative to this file.
    pub file: Option<String>,
}

/// The declared document, checked and normalised; problems name `field`.
pub fn load_document(
    entry: &Entry,
    field: &str,
    source: &DocumentSource,
    max_chars: usize,
) -> Result<Json, Diagnostic> {
    let document = match (&source.document, &source.file) {
        (Some(document), None) => document.clone(),
        // A policy's own `file` key, or the inline policy's table, is where the problem is.
        (None, Some(file)) => {
            let key = if field == "document" { "file" } else { field };
            entry.read_json_file(key, file, MAX_DOCUMENT_FILE)?
        }
        _ => return Err(entry.error(Some(field), "give exactly one of `document` and `file`")),
    };
    check_document(&document).map_err(|m| entry.error(Some(field), m))?;
    let size = minified_len(&document);
    if size > max_chars {
        let message = format!(
            "the document is {size} characters without whitespace; AWS allows {max_chars} for {}",
            entry.table
        );
        return Err(entry.error(Some(field), message));
    }
    Ok(normalize_document(document))
}

/// A policy document file is read up to this size (pretty-printing included); AWS's own
/// limits, counted without whitespace, are far lower.
const MAX_DOCUMENT_FILE: u64 = 64 * 1024;
/// AWS's limits on policy documents, in characters without whitespace.
pub const MANAGED_POLICY_MAX: usize = 6_144;
pub const USER_INLINE_MAX: usize = 2_048;
pub const GROUP_INLINE_MAX: usize = 5_120;

/// The length AWS counts: the document without whitespace outside strings.
fn minified_len(document: &Json) -> usize {
    document.to_string().chars().count()
}

// --- attachments, shared by groups and users ---------------------------------------------

/// Managed-policy attachments and inline policies, as groups and users declare them in TOML.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionsDeclaration {
    #[serde(default)]
    pub managed_policies: Vec<String>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub inline_policies: BTreeMap<String, DocumentSource>,
}

impl Permissions {
    /// Nothing attached, nothing inline.
    pub fn is_empty(&self) -> bool {
        self.managed_policies.is_empty() && self.policies.is_empty() && self.inline_policies.is_empty()
    }

    /// The permissions as declared, for an import: inline policies as files under
    /// `folder/` (returned with their documents).
    pub fn import(&self, folder: &str) -> (PermissionsDeclaration, Vec<(String, Json)>) {
        let mut files = Vec::new();
        let mut inline_policies = BTreeMap::new();
        for (name, document) in &self.inline_policies {
            let file = format!("{folder}/{}.json", crate::kinds::file_name(name));
            files.push((file.clone(), document.clone()));
            let source = DocumentSource {
                document: None,
                file: Some(file),
            };
            inline_policies.insert(name.clone(), source);
        }
        let declared = PermissionsDeclaration {
            managed_policies: self.managed_policies.clone(),
            policies: self.policies.clone(),
            inline_policies,
        };
        (declared, files)
    }
}

/// A group's or user's permissions as plumb manages them: sets sorted, documents normalised.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Permissions {
    /// Attached policies that are not plumb's own, by ARN.
    pub managed_policies: Vec<String>,
    /// Attached policies declared in `[policies.NAME]`, by name.
    pub policies: Vec<String>,
    pub inline_policies: BTreeMap<String, Json>,
}

static MANAGED_ARN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^arn:aws[\w-]*:iam::(aws|\d{12}):policy/([\w+=,.@/-]+)$").expect("valid"));

/// Validates declared permissions (`inline_max`: AWS's size limit on one inline policy of
/// this principal); the references name the declared policies they need.
pub fn parse_permissions(
    entry: &Entry,
    declared: &PermissionsDeclaration,
    inline_max: usize,
    problems: &mut Vec<Diagnostic>,
) -> (Permissions, Vec<Reference>) {
    for arn in &declared.managed_policies {
        if !MANAGED_ARN.is_match(arn) {
            problems.push(entry.error(
                Some("managed_policies"),
                format!("`{arn}` is not a managed policy ARN"),
            ));
        }
    }
    let attached = declared.managed_policies.len() + declared.policies.len();
    if attached > MAX_MANAGED_POLICIES {
        problems.push(entry.error(
            Some("managed_policies"),
            format!("{attached} policies attached; AWS allows at most {MAX_MANAGED_POLICIES} (10 unless the quota was raised)"),
        ));
    }
    let references = declared
        .policies
        .iter()
        .map(|name| Reference {
            kind: "policy",
            name: name.clone(),
            field: "policies",
            hint: "declare it in a [policies.NAME] table, or attach it by ARN in managed_policies",
        })
        .collect();
    let mut inline_policies = BTreeMap::new();
    for (name, source) in &declared.inline_policies {
        check_name(entry, "inline_policies", name, 128, problems);
        match load_document(entry, "inline_policies", source, inline_max) {
            Ok(document) => {
                inline_policies.insert(name.clone(), document);
            }
            Err(problem) => problems.push(problem),
        }
    }
    let permissions = Permissions {
        managed_policies: sorted(&declared.managed_policies),
        policies: sorted(&declared.policies),
        inline_policies,
    };
    (permissions, references)
}

pub fn sorted(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items
}

/// IAM names: letters, digits and `+=,.@_-`, up to `max` characters.
pub fn check_name(entry: &Entry, field: &str, name: &str, max: usize, problems: &mut Vec<Diagnostic>) {
    let field = (field != "name").then_some(field);
    if name.is_empty() || name.chars().count() > max {
        problems.push(entry.error(field, format!("name `{name}` must be 1 to {max} characters")));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
    {
        problems.push(entry.error(
            field,
            format!("name `{name}` has `{bad}`; IAM allows letters, digits and `+=,.@_-`"),
        ));
    }
}

/// The entry's scope check: IAM resources need `scope.iam_path`.
pub fn check_scope(entry: &Entry, problems: &mut Vec<Diagnostic>) {
    let path = iam_path(entry.env);
    if path.is_empty() {
        problems.push(entry.error(
            None,
            format!(
                "environment `{}` has no `scope.iam_path`: plumb owns no IAM resources there",
                entry.env.name
            ),
        ));
    } else if !(path.starts_with('/') && path.ends_with('/')) {
        problems.push(entry.error(
            None,
            format!("scope.iam_path `{path}` must start and end with `/`"),
        ));
    }
}

/// A live group's or user's attached and inline policies.
pub fn live_permissions<'a>(
    env: &Environment,
    attached: impl Iterator<Item = &'a str>,
    inline: impl Iterator<Item = (&'a str, &'a str)>,
) -> Permissions {
    let (own, other) = split_attachments(env, attached);
    Permissions {
        managed_policies: other,
        policies: own,
        inline_policies: inline
            .map(|(name, document)| (name.to_string(), parse_live_document(document)))
            .collect(),
    }
}

/// A group, a user or a role: what policies are attached to. (plumb manages no roles; a
/// policy it deletes or replaces may still be attached to some.)
#[derive(Clone, Copy, Debug)]
pub enum Principal<'a> {
    Group(&'a str),
    User(&'a str),
    Role(&'a str),
}

impl std::fmt::Display for Principal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Group(g) => write!(f, "group `{g}`"),
            Principal::User(u) => write!(f, "user `{u}`"),
            Principal::Role(r) => write!(f, "role `{r}`"),
        }
    }
}

/// IAM has one operation per kind of principal, alike but for the principal's name
/// (AttachGroupPolicy, AttachUserPolicy, AttachRolePolicy): this sends the principal's own,
/// with the same request settings, and names it in an error.
macro_rules! per_principal {
    ($principal:expr, $client:expr, $verb:literal: $group:ident, $user:ident, $role:ident,
     |$request:ident| $settings:expr) => {
        match $principal {
            Principal::Group(name) => {
                let $request = $client.$group().group_name(name);
                let result = $settings.send().await.map(drop);
                result.aws(concat!($verb, "GroupPolicy"), name)
            }
            Principal::User(name) => {
                let $request = $client.$user().user_name(name);
                let result = $settings.send().await.map(drop);
                result.aws(concat!($verb, "UserPolicy"), name)
            }
            Principal::Role(name) => {
                let $request = $client.$role().role_name(name);
                let result = $settings.send().await.map(drop);
                result.aws(concat!($verb, "RolePolicy"), name)
            }
        }
    };
}

impl Principal<'_> {
    pub async fn attach(&self, client: &Client, arn: &str) -> Result<(), AwsError> {
        per_principal!(*self, client, "Attach": attach_group_policy, attach_user_policy, attach_role_policy,
            |request| request.policy_arn(arn))
    }

    pub async fn detach(&self, client: &Client, arn: &str) -> Result<(), AwsError> {
        let detached = per_principal!(*self, client, "Detach": detach_group_policy, detach_user_policy,
            detach_role_policy, |request| request.policy_arn(arn));
        detached.done_if(&[codes::NO_SUCH_ENTITY])
    }

    async fn put_inline(&self, client: &Client, name: &str, document: &Json) -> Result<(), AwsError> {
        let text = document.to_string();
        per_principal!(*self, client, "Put": put_group_policy, put_user_policy, put_role_policy,
            |request| request.policy_name(name).policy_document(text))
    }

    async fn delete_inline(&self, client: &Client, name: &str) -> Result<(), AwsError> {
        let deleted = per_principal!(*self, client, "Delete": delete_group_policy, delete_user_policy,
            delete_role_policy, |request| request.policy_name(name));
        deleted.done_if(&[codes::NO_SUCH_ENTITY])
    }
}

/// Brings a principal's attachments and inline policies from `live` to `desired`
/// (`None` for live: just created; `None` for desired: remove everything, before a delete).
pub async fn apply_permissions(
    session: &Session,
    principal: Principal<'_>,
    live: Option<&Permissions>,
    desired: Option<&Permissions>,
) -> Result<(), AwsError> {
    let client = client(session);
    let account = account_id(session).await?;
    let none = Permissions::default();
    let (live, desired) = (live.unwrap_or(&none), desired.unwrap_or(&none));
    let (attach, detach) = set_changes(&live.managed_policies, &desired.managed_policies);
    let (attach_own, detach_own) = set_changes(&live.policies, &desired.policies);
    let own_arn = |name: &String| policy_arn(&account, &session.env, name);
    for arn in detach.iter().cloned().chain(detach_own.iter().map(own_arn)) {
        principal.detach(&client, &arn).await?;
    }
    for arn in attach.iter().cloned().chain(attach_own.iter().map(own_arn)) {
        retry_not_found(|| principal.attach(&client, &arn)).await?;
    }
    let (put, deleted) = inline_changes(&live.inline_policies, &desired.inline_policies);
    for name in deleted {
        principal.delete_inline(&client, name).await?;
    }
    for (name, document) in put {
        retry_not_found(|| principal.put_inline(&client, name, document)).await?;
    }
    Ok(())
}

// --- eventual consistency -----------------------------------------------------------------

/// IAM is eventually consistent: a group or policy created a moment ago may still answer
/// `NoSuchEntity` to the next call that names it. Such calls are retried for about ten
/// seconds before the error stands.
pub async fn retry_not_found<T, F, Fut>(mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let mut delay = Duration::from_millis(250);
    for _ in 0..6 {
        match call().await {
            Err(error) if error.code == codes::NO_SUCH_ENTITY => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    call().await
}

/// Set differences: (to add, to remove).
pub fn set_changes(live: &[String], desired: &[String]) -> (Vec<String>, Vec<String>) {
    let added = desired.iter().filter(|d| !live.contains(d)).cloned().collect();
    let removed = live.iter().filter(|l| !desired.contains(l)).cloned().collect();
    (added, removed)
}

/// Inline-policy differences: (to put, to delete).
pub fn inline_changes<'a>(
    live: &'a BTreeMap<String, Json>,
    desired: &'a BTreeMap<String, Json>,
) -> (Vec<(&'a str, &'a Json)>, Vec<&'a str>) {
    let put = desired
        .iter()
        .filter(|(name, document)| live.get(*name) != Some(document))
        .map(|(name, document)| (name.as_str(), document))
        .collect();
    let deleted = live
        .keys()
        .filter(|name| !desired.contains_key(*name))
        .map(String::as_str)
        .collect();
    (put, deleted)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{live_permissions, normalize_document, parse_live_document, percent_decode};
    use crate::config::Environment;

    #[test]
    fn attachments_split_into_plumbs_own_policies_and_the_rest() {
        let env: Environment =
            toml::from_str("region = \"us-east-1\"\n[scope]\niam_path = \"/app/\"\n").unwrap();
        let attached = [
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::123456789012:policy/app/ssm-read",
            "arn:aws:iam::123456789012:policy/other/x",
        ];
        let inline = [("describe", "%7B%22Version%22%3A%222012-10-17%22%7D")];
        let permissions = live_permissions(&env, attached.into_iter(), inline.into_iter());
        assert_eq!(permissions.policies, ["ssm-read"]);
        assert_eq!(
            permissions.managed_policies,
            [
                "arn:aws:iam::123456789012:policy/other/x",
                "arn:aws:iam::aws:policy/ReadOnlyAccess"
            ]
        );
        assert_eq!(
            permissions.inline_policies["describe"],
            json!({"Version": "2012-10-17"})
        );
    }

    #[test]
    fn documents_compare_by_meaning() {
        let terse = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}});
        let verbose = json!({"Statement": [{"Resource": ["*"], "Action": ["s3:GetObject"], "Effect": "Allow"}], "Version": "2012-10-17"});
        assert_eq!(normalize_document(terse), normalize_document(verbose));
        let reordered =
            json!({"Version": "1", "Statement": [{"Effect": "Allow", "Action": ["b", "a", "a"]}]});
        assert_eq!(
            normalize_document(reordered)["Statement"][0]["Action"],
            json!(["a", "b"])
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        let written = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600.0}}}]});
        let declared = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}}]});
        assert_eq!(normalize_document(written), normalize_document(declared));
    }

    #[test]
    fn live_documents_are_url_decoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            parse_live_document(encoded),
            json!({"Version": "2012-10-17", "Statement": []})
        );
        assert_eq!(percent_decode("a%2Bb+c%"), "a+b c%");
        // Raw JSON (moto's GetPolicyVersion) is taken as it is, `+` and `%` included.
        assert_eq!(parse_live_document(r#"{"Sid": "a+b%"}"#), json!({"Sid": "a+b%"}));
    }
}
