//! IAM groups (`[groups.NAME]`) under `scope.iam_path`: managed-policy attachments (AWS's by
//! ARN, plumb's own `policies` by name) and inline policies.
//!
//! Deleting a group first removes its members and its policies: IAM refuses otherwise.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::types::{GroupDetail, UserDetail};
use serde::{Deserialize, Serialize};

use crate::aws::{AwsError, DoneIf, SdkResult, Session, codes};
use crate::config::Environment;
use crate::kinds::iam::{self, DocumentSource, Permissions, PermissionsDeclaration, Principal, Snapshot};
use crate::kinds::{
    self, Declarations, Declared, Fields, ImportContext, Imported, Kind, Live, Op, OutOfReach, Steps,
};
use crate::scope::Rule;
use crate::source::{Diagnostic, Entry};

pub struct Groups;

/// An IAM group, created under the environment's `iam_path`: `[groups.NAME]`.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// AWS-managed (or other) policies to attach, by ARN.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    managed_policies: Vec<String>,
    /// Policies declared in desired/ (`[policies.NAME]`) to attach, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    policies: Vec<String>,
    /// Inline policies by name, each a `document` or a JSON `file`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    inline_policies: BTreeMap<String, DocumentSource>,
    /// Never delete or replace it, even when it is removed from desired/.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    protect: bool,
}

/// A group: its attached and inline policies (members are the users' business).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    #[serde(flatten)]
    pub permissions: Permissions,
}

#[async_trait]
impl Kind for Groups {
    const NOUN: &'static str = "group";
    const TABLE: &'static str = "groups";
    const SCOPE: Rule = iam::SCOPE;
    type Declaration = Declaration;
    type Spec = Group;

    fn parse(&self, entry: &Entry, declaration: Declaration) -> Result<Declared<Group>, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        iam::check_scope(entry, &mut problems);
        iam::check_name(entry, "name", entry.name, 128, &mut problems);
        let permissions = PermissionsDeclaration {
            managed_policies: declaration.managed_policies,
            policies: declaration.policies,
            inline_policies: declaration.inline_policies,
        };
        let (permissions, references) =
            iam::parse_permissions(entry, &permissions, iam::GROUP_INLINE_MAX, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut declared = Declared::new(Group { permissions }).protect(declaration.protect);
        declared.references = references;
        Ok(declared)
    }

    fn fields(&self, spec: &Group) -> Fields {
        Fields::of(spec)
    }

    async fn fetch(
        &self,
        session: &Session,
        declared: &Declarations<'_, Group>,
    ) -> Result<Vec<Live<Group>>, AwsError> {
        if iam::iam_path(&session.env).is_empty() {
            return Ok(Vec::new());
        }
        let snapshot = iam::snapshot(session).await?;
        let live = snapshot
            .groups
            .iter()
            // IAM's path filter is applied here too: ListGroups-style filters are not trusted.
            .filter(|g| iam::in_scope(&session.env, g.path.as_deref()))
            .filter_map(|group| {
                let name = group.group_name.as_deref()?;
                let mut live = Live::new(name, live_group(&session.env, group));
                // A group about to be deleted: the plan says whom it takes out of it.
                if !declared.reads_everything() && !declared.contains(name) {
                    live.delete_note = members_note(&snapshot, name);
                }
                Some(live)
            })
            .collect();
        Ok(live)
    }

    /// Deleting a group takes its members out of it: a member outside the scope (another
    /// environment's user, or one plumb does not manage) would lose the membership for good,
    /// since plumb cannot add it back. Refused, as for a policy attached outside the scope.
    async fn preflight(&self, session: &Session, op: &Op<'_, Group>) -> Result<Option<String>, AwsError> {
        let Op::Delete { name, .. } = op else {
            return Ok(None);
        };
        let snapshot = iam::snapshot(session).await?;
        let outside: Vec<String> = members(&snapshot, name)
            .filter(|u| !iam::in_scope(&session.env, u.path.as_deref()))
            .filter_map(|u| Some(format!("user `{}`", u.user_name.as_deref()?)))
            .collect();
        if outside.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!(
            "deleting group `{name}` would take {} out of it, outside plumb's scope (iam_path `{}`), \
             and plumb could not add them back: remove them from the group yourself first",
            outside.join(", "),
            iam::iam_path(&session.env)
        )))
    }

    fn import(&self, name: &str, live: &Group, _: &ImportContext) -> Imported {
        let folder = format!("groups/{}", kinds::file_name(name));
        let (permissions, files) = live.permissions.import(&folder);
        let declaration = Declaration {
            managed_policies: permissions.managed_policies,
            policies: permissions.policies,
            inline_policies: permissions.inline_policies,
            protect: false,
        };
        let mut imported = Imported::of(&declaration);
        imported.files = files;
        imported
    }

    async fn out_of_reach(&self, session: &Session) -> Result<Vec<OutOfReach>, AwsError> {
        iam::out_of_reach(session, |s| s.groups.iter().filter_map(|g| Some((g.group_name.clone()?, g.path.clone()))).collect(), |name, scope| {
            format!("move it with `aws iam update-group --group-name {name} --new-path {scope}` to bring it in (plumb does not move it)")
        })
        .await
    }

    async fn apply(&self, session: &Session, op: Op<'_, Group>) -> Result<(), AwsError> {
        let client = iam::client(session);
        let principal = Principal::Group(op.name());
        match op {
            Op::Create { name, desired } | Op::Replace { name, desired, .. } => {
                create(&client, session, name).await?;
                iam::apply_permissions(session, principal, None, Some(&desired.permissions)).await
            }
            Op::Update { live, desired, .. } => {
                iam::apply_permissions(
                    session,
                    principal,
                    Some(&live.permissions),
                    Some(&desired.permissions),
                )
                .await
            }
            Op::Delete { name, live } => {
                let mut steps = Steps::default();
                remove_members(&client, name, &mut steps).await?;
                if !live.permissions.is_empty() {
                    let removal = iam::apply_permissions(session, principal, Some(&live.permissions), None);
                    steps.step("removed its policies", removal).await?;
                }
                let result = client.delete_group().group_name(name).send().await;
                let deleted = async { result.aws("DeleteGroup", name).done_if(&[codes::NO_SUCH_ENTITY]) };
                steps.step("", deleted).await
            }
        }
    }
}

/// The users of the snapshot that belong to `group`.
fn members<'a>(snapshot: &'a Snapshot, group: &'a str) -> impl Iterator<Item = &'a UserDetail> {
    let member = move |u: &&UserDetail| u.group_list().iter().any(|g| g == group);
    snapshot.users.iter().filter(member)
}

/// "also removes members alice, bob", or nothing for a group without members.
fn members_note(snapshot: &Snapshot, group: &str) -> Option<String> {
    let mut names: Vec<&str> = members(snapshot, group)
        .filter_map(|u| u.user_name.as_deref())
        .collect();
    names.sort_unstable();
    (!names.is_empty()).then(|| format!("also removes members {}", names.join(", ")))
}

fn live_group(env: &Environment, group: &GroupDetail) -> Group {
    let attached = group
        .attached_managed_policies()
        .iter()
        .filter_map(|p| p.policy_arn.as_deref());
    let inline = group
        .group_policy_list()
        .iter()
        .filter_map(|p| Some((p.policy_name.as_deref()?, p.policy_document.as_deref()?)));
    Group {
        permissions: iam::live_permissions(env, attached, inline),
    }
}

async fn create(client: &Client, session: &Session, name: &str) -> Result<(), AwsError> {
    client
        .create_group()
        .group_name(name)
        .path(iam::iam_path(&session.env))
        .send()
        .await
        .aws("CreateGroup", name)?;
    Ok(())
}

/// Takes every member out of `group`, each noted in `steps`.
async fn remove_members(client: &Client, group: &str, steps: &mut Steps) -> Result<(), AwsError> {
    let mut members = Vec::new();
    let mut marker = None;
    loop {
        let page = match client
            .get_group()
            .group_name(group)
            .set_marker(marker)
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) => {
                let error = AwsError::from_sdk("GetGroup", group, e);
                return if error.code == codes::NO_SUCH_ENTITY {
                    Ok(())
                } else {
                    Err(error)
                };
            }
        };
        members.extend(page.users.into_iter().map(|u| u.user_name));
        marker = page.marker;
        if !page.is_truncated || marker.is_none() {
            break;
        }
    }
    for user in &members {
        let sent = client
            .remove_user_from_group()
            .group_name(group)
            .user_name(user)
            .send();
        let removed = async {
            sent.await
                .aws("RemoveUserFromGroup", user)
                .done_if(&[codes::NO_SUCH_ENTITY])
        };
        steps.step(format!("took user {user} out of it"), removed).await?;
    }
    Ok(())
}
