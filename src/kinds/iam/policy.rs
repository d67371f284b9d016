//! IAM customer-managed policies (`[policies.NAME]`), under `scope.iam_path`.
//!
//! A changed document becomes a new default version; IAM keeps at most five, so the oldest
//! non-default one is deleted first. A changed description cannot be made in place: the policy
//! is replaced, and re-attached to every group, user and role it was attached to.

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::types::{ManagedPolicyDetail, PolicyUsageType};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::aws::{AwsError, DoneIf, SdkResult, Session, codes};
use crate::kinds::iam::{self, DocumentSource, Principal};
use crate::kinds::{
    self, Declarations, Declared, Fields, ImportContext, Imported, Kind, Live, Op, OutOfReach,
};
use crate::plan::Action;
use crate::scope::Rule;
use crate::source::{Diagnostic, Entry};

pub struct Policies;

const MAX_VERSIONS: usize = 5;

/// A customer-managed IAM policy, created under the environment's `iam_path`:
/// `[policies.NAME]`. One of `document` and `file`.
#[derive(Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// The description (AWS cannot change it: a changed one replaces the policy).
    description: Option<String>,
    /// The policy document, inline (`{ Version = "2012-10-17", Statement = [...] }`).
    document: Option<Json>,
    /// A JSON file holding the document, relative to this file.
    file: Option<String>,
    /// Never delete or replace it, even when it is removed from desired/.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    protect: bool,
}

/// A customer-managed policy: its description and its default version's document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Policy {
    pub description: Option<String>,
    pub document: Json,
}

#[async_trait]
impl Kind for Policies {
    const NOUN: &'static str = "policy";
    const TABLE: &'static str = "policies";
    const SCOPE: Rule = iam::SCOPE;
    type Declaration = Declaration;
    type Spec = Policy;

    fn parse(&self, entry: &Entry, declaration: Declaration) -> Result<Declared<Policy>, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        iam::check_scope(entry, &mut problems);
        iam::check_name(entry, "name", entry.name, 128, &mut problems);
        if declaration
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 1000)
        {
            problems.push(entry.error(Some("description"), "AWS allows at most 1000 characters"));
        }
        let source = DocumentSource {
            document: declaration.document,
            file: declaration.file,
        };
        let document = iam::load_document(entry, "document", &source, iam::MANAGED_POLICY_MAX);
        match document {
            Ok(document) if problems.is_empty() => {
                let policy = Policy {
                    description: declaration.description,
                    document,
                };
                Ok(Declared::new(policy).protect(declaration.protect))
            }
            Ok(_) => Err(problems),
            Err(problem) => {
                problems.push(problem);
                Err(problems)
            }
        }
    }

    fn fields(&self, spec: &Policy) -> Fields {
        Fields::of(spec)
    }

    async fn fetch(
        &self,
        session: &Session,
        _: &Declarations<'_, Policy>,
    ) -> Result<Vec<Live<Policy>>, AwsError> {
        if iam::iam_path(&session.env).is_empty() {
            return Ok(Vec::new());
        }
        let snapshot = iam::snapshot(session).await?;
        let live = snapshot
            .policies
            .iter()
            .filter(|p| iam::in_scope(&session.env, p.path.as_deref()))
            .filter_map(live_policy)
            .collect();
        Ok(live)
    }

    fn replace_reasons(&self, live: &Policy, desired: &Policy) -> Vec<String> {
        (live.description != desired.description)
            .then(|| "AWS cannot change a policy's description; it is re-attached where it was".to_string())
            .into_iter()
            .collect()
    }

    /// Deleting or replacing a policy detaches it everywhere first (IAM refuses otherwise).
    /// Attachments to principals outside the scope (roles, users and groups at other paths)
    /// could not be restored by a later apply, since plumb does not manage them: refused.
    async fn preflight(&self, session: &Session, op: &Op<'_, Policy>) -> Result<Option<String>, AwsError> {
        if !matches!(op, Op::Delete { .. } | Op::Replace { .. }) {
            return Ok(None);
        }
        let (action, name) = (op.action(), op.name());
        let client = iam::client(session);
        let account = iam::account_id(session).await?;
        let arn = iam::policy_arn(&account, &session.env, name);
        let boundaries = list_boundary_uses(&client, &arn).await?;
        if boundaries.principals().next().is_some() {
            let users: Vec<String> = boundaries.principals().map(|p| p.to_string()).collect();
            return Ok(Some(format!(
                "{} policy `{name}`: it is the permissions boundary of {}, which would be left with a \
                 boundary that no longer exists; plumb does not manage boundaries: change them first",
                action.verb(),
                users.join(", ")
            )));
        }
        let attached = list_attachments(&client, &arn).await?;
        let snapshot = iam::snapshot(session).await?;
        let outside = attached_outside_scope(session, &snapshot, &attached);
        if outside.is_empty() {
            return Ok(None);
        }
        let hint = match action {
            Action::Replace => "; or keep its description (a new description needs a new policy)",
            _ => "",
        };
        Ok(Some(format!(
            "{} policy `{name}` would detach it from {}, outside plumb's scope (iam_path `{}`), and \
             plumb could not attach it back: detach it from them yourself first{hint}",
            action.verb(),
            outside.join(", "),
            iam::iam_path(&session.env)
        )))
    }

    fn import(&self, name: &str, live: &Policy, _: &ImportContext) -> Imported {
        let file = format!("policies/{}.json", kinds::file_name(name));
        let declaration = Declaration {
            description: live.description.clone(),
            file: Some(file.clone()),
            ..Declaration::default()
        };
        Imported::of(&declaration).with_file(file, live.document.clone())
    }

    async fn out_of_reach(&self, session: &Session) -> Result<Vec<OutOfReach>, AwsError> {
        iam::out_of_reach(
            session,
            |s| {
                s.policies
                    .iter()
                    .filter_map(|p| Some((p.policy_name.clone()?, p.path.clone())))
                    .collect()
            },
            |name, scope| {
                format!("IAM cannot move a policy: create `{name}` anew under {scope} to bring it in")
            },
        )
        .await
    }

    async fn apply(&self, session: &Session, op: Op<'_, Policy>) -> Result<(), AwsError> {
        let client = iam::client(session);
        let account = iam::account_id(session).await?;
        let arn = iam::policy_arn(&account, &session.env, op.name());
        match op {
            Op::Create { name, desired } => create(&client, session, name, desired).await,
            Op::Update { desired, .. } => new_default_version(&client, &arn, desired).await,
            Op::Delete { .. } => {
                let attached = list_attachments(&client, &arn).await?;
                let mut done = Vec::new();
                detach_all(&client, &arn, &attached, &mut done).await?;
                delete(&client, &arn).await.map_err(|e| e.after_steps(&done))
            }
            Op::Replace { name, desired, .. } => replace(&client, session, &arn, name, desired).await,
        }
    }
}

fn live_policy(policy: &ManagedPolicyDetail) -> Option<Live<Policy>> {
    let name = policy.policy_name.as_deref()?;
    let default = policy
        .policy_version_list()
        .iter()
        .find(|v| v.is_default_version)?;
    let spec = Policy {
        description: policy.description.clone().filter(|d| !d.is_empty()),
        document: iam::parse_live_document(default.document.as_deref().unwrap_or_default()),
    };
    let version = default.version_id.as_ref().map(|v| format!("version {v}"));
    Some(Live::new(name, spec).version(version))
}

/// The principals the policy is attached to that lie outside the scope, as `group `x``.
fn attached_outside_scope(
    session: &Session,
    snapshot: &iam::Snapshot,
    attached: &Attachments,
) -> Vec<String> {
    let ours = |path: Option<&str>| iam::in_scope(&session.env, path);
    let own_users: Vec<&str> = snapshot
        .users
        .iter()
        .filter(|u| ours(u.path.as_deref()))
        .filter_map(|u| u.user_name.as_deref())
        .collect();
    let own_groups: Vec<&str> = snapshot
        .groups
        .iter()
        .filter(|g| ours(g.path.as_deref()))
        .filter_map(|g| g.group_name.as_deref())
        .collect();
    attached
        .principals()
        .filter(|p| match p {
            Principal::Group(g) => !own_groups.contains(g),
            Principal::User(u) => !own_users.contains(u),
            Principal::Role(_) => true,
        })
        .map(|p| p.to_string())
        .collect()
}

/// Detach everywhere, delete, create anew, attach again where it was. A failure before the
/// deletion attaches back what was detached; a failure after it says which steps were done
/// (a second apply re-creates the policy, and the groups and users that declare it get it
/// back: only principals inside the scope can be attached, see `preflight`).
async fn replace(
    client: &Client,
    session: &Session,
    arn: &str,
    name: &str,
    desired: &Policy,
) -> Result<(), AwsError> {
    let attached = list_attachments(client, arn).await?;
    let mut done = Vec::new();
    let detached = detach_all(client, arn, &attached, &mut done).await;
    let deleted = match detached {
        Ok(()) => delete(client, arn).await,
        Err(error) => Err(error),
    };
    if let Err(error) = deleted {
        // The policy still exists: put back what was detached before reporting.
        let restored = reattach(client, arn, &attached).await;
        let error = match restored {
            Ok(()) => error.after_steps(&["detached it, then attached it back where it was".to_string()]),
            Err(again) => error
                .after_steps(&done)
                .after_steps(&[format!("attaching it back failed too: {again}")]),
        };
        return Err(error);
    }
    done.push("deleted it".to_string());
    match create(client, session, name, desired).await {
        // Already there, just after it was deleted: either the create was carried out and
        // its answer lost (a 500, and the SDK's retry met the new policy), or IAM, eventually
        // consistent, still shows the old one. Only the new one is attached back.
        Err(error) if error.code == codes::ENTITY_ALREADY_EXISTS => {
            let now = read_policy(client, arn).await.map_err(|e| e.after_steps(&done))?;
            if now.as_ref() != Some(desired) {
                return Err(error.after_steps(&done));
            }
        }
        other => other.map_err(|e| e.after_steps(&done))?,
    }
    done.push("created it anew".to_string());
    reattach(client, arn, &attached)
        .await
        .map_err(|e| e.after_steps(&done))
}

/// The policy as IAM has it now (its default version), or `None` when it is gone.
async fn read_policy(client: &Client, arn: &str) -> Result<Option<Policy>, AwsError> {
    let policy = match client.get_policy().policy_arn(arn).send().await {
        Ok(output) => output.policy,
        Err(error) => {
            let error = AwsError::from_sdk("GetPolicy", arn, error);
            return if error.code == codes::NO_SUCH_ENTITY {
                Ok(None)
            } else {
                Err(error)
            };
        }
    };
    let Some(policy) = policy else { return Ok(None) };
    let version = policy.default_version_id.clone().unwrap_or_default();
    let read = client
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&version)
        .send()
        .await;
    let document = read
        .aws("GetPolicyVersion", arn)?
        .policy_version
        .and_then(|v| v.document);
    Ok(Some(Policy {
        description: policy.description.filter(|d| !d.is_empty()),
        document: iam::parse_live_document(document.as_deref().unwrap_or_default()),
    }))
}

async fn detach_all(
    client: &Client,
    arn: &str,
    attached: &Attachments,
    done: &mut Vec<String>,
) -> Result<(), AwsError> {
    for principal in attached.principals() {
        principal
            .detach(client, arn)
            .await
            .map_err(|e| e.after_steps(done))?;
        done.push(format!("detached it from {principal}"));
    }
    Ok(())
}

async fn create(client: &Client, session: &Session, name: &str, desired: &Policy) -> Result<(), AwsError> {
    client
        .create_policy()
        .policy_name(name)
        .path(iam::iam_path(&session.env))
        .policy_document(desired.document.to_string())
        .set_description(desired.description.clone())
        .send()
        .await
        .aws("CreatePolicy", name)?;
    Ok(())
}

async fn new_default_version(client: &Client, arn: &str, desired: &Policy) -> Result<(), AwsError> {
    let versions = list_versions(client, arn).await?;
    if versions.len() >= MAX_VERSIONS {
        let oldest = versions
            .iter()
            .filter(|v| !v.is_default_version)
            .min_by_key(|v| v.create_date);
        if let Some(oldest) = oldest.and_then(|v| v.version_id.as_deref()) {
            delete_version(client, arn, oldest).await?;
        }
    }
    client
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(desired.document.to_string())
        .set_as_default(true)
        .send()
        .await
        .aws("CreatePolicyVersion", arn)?;
    Ok(())
}

async fn list_versions(
    client: &Client,
    arn: &str,
) -> Result<Vec<aws_sdk_iam::types::PolicyVersion>, AwsError> {
    let output = client
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .aws("ListPolicyVersions", arn)?;
    Ok(output.versions.unwrap_or_default())
}

async fn delete_version(client: &Client, arn: &str, version: &str) -> Result<(), AwsError> {
    client
        .delete_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .aws("DeletePolicyVersion", arn)?;
    Ok(())
}

/// Who a policy is attached to.
#[derive(Default)]
struct Attachments {
    groups: Vec<String>,
    users: Vec<String>,
    roles: Vec<String>,
}

impl Attachments {
    fn principals(&self) -> impl Iterator<Item = Principal<'_>> {
        let groups = self.groups.iter().map(|g| Principal::Group(g));
        let users = self.users.iter().map(|u| Principal::User(u));
        groups
            .chain(users)
            .chain(self.roles.iter().map(|r| Principal::Role(r)))
    }
}

/// Where the policy is attached: every group, user and role (none when it does not exist).
async fn list_attachments(client: &Client, arn: &str) -> Result<Attachments, AwsError> {
    list_entities(client, arn, PolicyUsageType::PermissionsPolicy).await
}

/// Every user and role that has the policy as its permissions boundary.
async fn list_boundary_uses(client: &Client, arn: &str) -> Result<Attachments, AwsError> {
    list_entities(client, arn, PolicyUsageType::PermissionsBoundary).await
}

async fn list_entities(client: &Client, arn: &str, usage: PolicyUsageType) -> Result<Attachments, AwsError> {
    let mut attached = Attachments::default();
    let mut marker = None;
    loop {
        let page = match client
            .list_entities_for_policy()
            .policy_arn(arn)
            .policy_usage_filter(usage.clone())
            .set_marker(marker)
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) => {
                let error = AwsError::from_sdk("ListEntitiesForPolicy", arn, e);
                return if error.code == codes::NO_SUCH_ENTITY {
                    Ok(attached)
                } else {
                    Err(error)
                };
            }
        };
        attached
            .groups
            .extend(page.policy_groups().iter().filter_map(|g| g.group_name.clone()));
        attached
            .users
            .extend(page.policy_users().iter().filter_map(|u| u.user_name.clone()));
        attached
            .roles
            .extend(page.policy_roles().iter().filter_map(|r| r.role_name.clone()));
        marker = page.marker;
        if !page.is_truncated || marker.is_none() {
            break;
        }
    }
    Ok(attached)
}

async fn reattach(client: &Client, arn: &str, attached: &Attachments) -> Result<(), AwsError> {
    for principal in attached.principals() {
        iam::retry_not_found(|| principal.attach(client, arn)).await?;
    }
    Ok(())
}

/// Deletes the non-default versions, then the policy (IAM's order); one already gone counts
/// as deleted.
async fn delete(client: &Client, arn: &str) -> Result<(), AwsError> {
    let versions = match list_versions(client, arn).await {
        Err(error) if error.code == codes::NO_SUCH_ENTITY => return Ok(()),
        other => other?,
    };
    for version in versions.iter().filter(|v| !v.is_default_version) {
        if let Some(id) = version.version_id.as_deref() {
            delete_version(client, arn, id).await?;
        }
    }
    let result = client.delete_policy().policy_arn(arn).send().await;
    result.aws("DeletePolicy", arn).done_if(&[codes::NO_SUCH_ENTITY])
}

#[cfg(test)]
mod tests {
    use aws_sdk_iam::types::{ManagedPolicyDetail, PolicyVersion};
    use serde_json::json;

    use super::live_policy;

    #[test]
    fn a_live_policy_is_its_default_version_url_decoded() {
        let version = |id: &str, default: bool, document: &str| {
            PolicyVersion::builder()
                .version_id(id)
                .is_default_version(default)
                .document(document)
                .build()
        };
        let detail = ManagedPolicyDetail::builder()
            .policy_name("read")
            .description("")
            .policy_version_list(version("v1", false, "%7B%22Version%22%3A%221%22%7D"))
            .policy_version_list(version(
                "v2",
                true,
                "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGet%2A%22%7D%7D",
            ))
            .build();
        let live = live_policy(&detail).expect("has a default version");
        assert_eq!(live.version.as_deref(), Some("version v2"));
        assert_eq!(live.spec.description, None, "an empty description is none");
        assert_eq!(
            live.spec.document,
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get*"]}]})
        );
    }
}
