//! IAM users (`[users.NAME]`) under `scope.iam_path`: group memberships, tags, managed-policy
//! attachments and inline policies. plumb never creates access keys or passwords.
//!
//! Deleting a user first removes what IAM would refuse the deletion for: memberships,
//! attachments, inline policies, access keys, signing certificates, SSH keys, MFA devices and
//! the console login. The plan says so on the user's line, so a reviewer sees that an access
//! key goes with it; one apply deletes the user completely.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::Client;
use aws_sdk_iam::types::{Tag, UserDetail};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::aws::{AwsError, DoneIf, SdkResult, Session, codes};
use crate::config::Environment;
use crate::kinds::iam::{self, DocumentSource, Permissions, PermissionsDeclaration, Principal};
use crate::kinds::{
    self, Declarations, Declared, Fields, ImportContext, Imported, Kind, Live, Op, OutOfReach, Steps,
};
use crate::resource::Reference;
use crate::scope::Rule;
use crate::source::{Diagnostic, Entry};

pub struct Users;

/// Concurrent reads of a departing user's credentials.
const READ_CONCURRENCY: usize = 8;

/// An IAM user, created under the environment's `iam_path`: `[users.NAME]`. Memberships,
/// attachments, inline policies and tags are managed as a whole.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// Groups declared in desired/ the user belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    groups: Vec<String>,
    /// Groups outside plumb's scope that the user belongs to (named, not managed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    external_groups: Vec<String>,
    /// Tags (all of them: a tag added by hand shows as drift).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
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

/// A user: group memberships (plumb's groups and external ones alike), tags, permissions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct User {
    pub groups: Vec<String>,
    pub tags: BTreeMap<String, String>,
    #[serde(flatten)]
    pub permissions: Permissions,
}

#[async_trait]
impl Kind for Users {
    const NOUN: &'static str = "user";
    const TABLE: &'static str = "users";
    const SCOPE: Rule = iam::SCOPE;
    type Declaration = Declaration;
    type Spec = User;

    fn parse(&self, entry: &Entry, declaration: Declaration) -> Result<Declared<User>, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        iam::check_scope(entry, &mut problems);
        iam::check_name(entry, "name", entry.name, 64, &mut problems);
        let mut references = check_groups(entry, &declaration, &mut problems);
        kinds::check_tags(entry, &declaration.tags, &mut problems);
        let permissions = PermissionsDeclaration {
            managed_policies: declaration.managed_policies,
            policies: declaration.policies,
            inline_policies: declaration.inline_policies,
        };
        let (permissions, policy_references) =
            iam::parse_permissions(entry, &permissions, iam::USER_INLINE_MAX, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        references.extend(policy_references);
        let all: Vec<String> = declaration
            .groups
            .into_iter()
            .chain(declaration.external_groups)
            .collect();
        let user = User {
            groups: iam::sorted(&all),
            tags: declaration.tags,
            permissions,
        };
        let mut declared = Declared::new(user).protect(declaration.protect);
        declared.references = references;
        Ok(declared)
    }

    fn fields(&self, spec: &User) -> Fields {
        Fields::of(spec)
    }

    async fn fetch(
        &self,
        session: &Session,
        declared: &Declarations<'_, User>,
    ) -> Result<Vec<Live<User>>, AwsError> {
        if iam::iam_path(&session.env).is_empty() {
            return Ok(Vec::new());
        }
        let snapshot = iam::snapshot(session).await?;
        let mut live: Vec<Live<User>> = snapshot
            .users
            .iter()
            .filter(|u| iam::in_scope(&session.env, u.path.as_deref()))
            .filter_map(|user| {
                Some(Live::new(
                    user.user_name.as_deref()?,
                    live_user(&session.env, user),
                ))
            })
            .collect();
        // Users about to be deleted: read their credentials, so the plan can say what goes too.
        let client = iam::client(session);
        let departing: Vec<String> = live
            .iter()
            .filter(|l| !declared.reads_everything() && !declared.contains(l.name.as_str()))
            .map(|l| l.name.clone())
            .collect();
        let reads = departing.into_iter().map(|name| {
            let client = client.clone();
            async move { Ok::<_, AwsError>((Credentials::read(&client, &name).await?.note(), name)) }
        });
        let notes: Vec<(Option<String>, String)> = futures::stream::iter(reads)
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        for (note, name) in notes {
            if let Some(user) = live.iter_mut().find(|l| l.name == name) {
                user.delete_note = note;
            }
        }
        Ok(live)
    }

    /// A group declared (or imported with the user) is written in `groups`; any other in
    /// `external_groups`, which is not managed.
    fn import(&self, name: &str, live: &User, context: &ImportContext) -> Imported {
        let (groups, external_groups) = live
            .groups
            .iter()
            .cloned()
            .partition(|g| context.knows("group", g));
        let folder = format!("users/{}", kinds::file_name(name));
        let (permissions, files) = live.permissions.import(&folder);
        let declaration = Declaration {
            groups,
            external_groups,
            tags: live.tags.clone(),
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
        iam::out_of_reach(session, |s| s.users.iter().filter_map(|u| Some((u.user_name.clone()?, u.path.clone()))).collect(), |name, scope| {
            format!("move it with `aws iam update-user --user-name {name} --new-path {scope}` to bring it in (plumb does not move it)")
        })
        .await
    }

    async fn apply(&self, session: &Session, op: Op<'_, User>) -> Result<(), AwsError> {
        let client = iam::client(session);
        let principal = Principal::User(op.name());
        match op {
            Op::Create { name, desired } | Op::Replace { name, desired, .. } => {
                create(&client, session, name, &desired.tags).await?;
                update_groups(&client, name, &[], &desired.groups).await?;
                iam::apply_permissions(session, principal, None, Some(&desired.permissions)).await
            }
            Op::Update { name, live, desired } => {
                let mut steps = Steps::default();
                if live.groups != desired.groups {
                    let groups = update_groups(&client, name, &live.groups, &desired.groups);
                    steps.step("changed its groups", groups).await?;
                }
                if live.tags != desired.tags {
                    steps
                        .step(
                            "updated its tags",
                            update_tags(&client, name, &live.tags, &desired.tags),
                        )
                        .await?;
                }
                let permissions = Some(&desired.permissions);
                let update = iam::apply_permissions(session, principal, Some(&live.permissions), permissions);
                steps.step("", update).await
            }
            Op::Delete { name, live } => {
                let mut steps = Steps::default();
                let credentials = Credentials::read(&client, name).await?;
                credentials.delete(&client, name, &mut steps).await?;
                if !live.groups.is_empty() {
                    let leaving = update_groups(&client, name, &live.groups, &[]);
                    steps.step("took it out of its groups", leaving).await?;
                }
                if !live.permissions.is_empty() {
                    let removal = iam::apply_permissions(session, principal, Some(&live.permissions), None);
                    steps.step("removed its policies", removal).await?;
                }
                let result = client.delete_user().user_name(name).send().await;
                let deleted = async { result.aws("DeleteUser", name).done_if(&[codes::NO_SUCH_ENTITY]) };
                steps.step("", deleted).await
            }
        }
    }
}

/// The membership rules; the references name the declared groups the user needs.
fn check_groups(entry: &Entry, declaration: &Declaration, problems: &mut Vec<Diagnostic>) -> Vec<Reference> {
    let count = declaration.groups.len() + declaration.external_groups.len();
    if count > iam::MAX_GROUPS_PER_USER {
        let max = iam::MAX_GROUPS_PER_USER;
        problems.push(entry.error(
            Some("groups"),
            format!("{count} groups; AWS allows {max} per user"),
        ));
    }
    declaration
        .groups
        .iter()
        .map(|group| Reference {
            kind: "group",
            name: group.clone(),
            field: "groups",
            hint: "declare it in a [groups.NAME] table, or list it in external_groups if it lives outside plumb's scope",
        })
        .collect()
}

fn live_user(env: &Environment, user: &UserDetail) -> User {
    let attached = user
        .attached_managed_policies()
        .iter()
        .filter_map(|p| p.policy_arn.as_deref());
    let inline = user
        .user_policy_list()
        .iter()
        .filter_map(|p| Some((p.policy_name.as_deref()?, p.policy_document.as_deref()?)));
    User {
        groups: iam::sorted(user.group_list()),
        tags: kinds::declarable_tags(user.tags().iter().map(|t| (t.key.clone(), t.value.clone()))),
        permissions: iam::live_permissions(env, attached, inline),
    }
}

async fn create(
    client: &Client,
    session: &Session,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let tags = tag_list(tags);
    client
        .create_user()
        .user_name(name)
        .path(iam::iam_path(&session.env))
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .aws("CreateUser", name)?;
    Ok(())
}

async fn update_groups(
    client: &Client,
    user: &str,
    live: &[String],
    desired: &[String],
) -> Result<(), AwsError> {
    let (joined, left) = iam::set_changes(live, desired);
    for group in left {
        let result = client
            .remove_user_from_group()
            .group_name(&group)
            .user_name(user)
            .send()
            .await;
        result
            .aws("RemoveUserFromGroup", &group)
            .done_if(&[codes::NO_SUCH_ENTITY])?;
    }
    for group in joined {
        let call = || async {
            client
                .add_user_to_group()
                .group_name(&group)
                .user_name(user)
                .send()
                .await
                .map(drop)
                .aws("AddUserToGroup", &group)
        };
        iam::retry_not_found(call).await?;
    }
    Ok(())
}

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

async fn update_tags(
    client: &Client,
    user: &str,
    live: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let untag = |keys| async {
        let request = client.untag_user().user_name(user).set_tag_keys(Some(keys));
        request.send().await.aws("UntagUser", user).map(drop)
    };
    let tag = |tags| async move {
        let request = client.tag_user().user_name(user).set_tags(Some(tag_list(&tags)));
        request.send().await.aws("TagUser", user).map(drop)
    };
    kinds::sync_tags(live, desired, untag, tag).await
}

/// A user's credentials, which IAM requires gone before the user can be deleted.
#[derive(Default)]
struct Credentials {
    access_keys: Vec<String>,
    login_profile: bool,
    signing_certificates: Vec<String>,
    ssh_keys: Vec<String>,
    mfa_devices: Vec<String>,
}

impl Credentials {
    async fn read(client: &Client, user: &str) -> Result<Credentials, AwsError> {
        let access_keys = client
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .aws("ListAccessKeys", user)?;
        let login_profile = match client.get_login_profile().user_name(user).send().await {
            Ok(_) => true,
            Err(e) => {
                let error = AwsError::from_sdk("GetLoginProfile", user, e);
                if error.code != codes::NO_SUCH_ENTITY {
                    return Err(error);
                }
                false
            }
        };
        let certificates = client
            .list_signing_certificates()
            .user_name(user)
            .send()
            .await
            .aws("ListSigningCertificates", user)?;
        let ssh_keys = client
            .list_ssh_public_keys()
            .user_name(user)
            .send()
            .await
            .aws("ListSSHPublicKeys", user)?;
        let mfa_devices = client
            .list_mfa_devices()
            .user_name(user)
            .send()
            .await
            .aws("ListMFADevices", user)?;
        Ok(Credentials {
            access_keys: access_keys
                .access_key_metadata
                .into_iter()
                .filter_map(|k| k.access_key_id)
                .collect(),
            login_profile,
            signing_certificates: certificates
                .certificates
                .into_iter()
                .map(|c| c.certificate_id)
                .collect(),
            ssh_keys: ssh_keys
                .ssh_public_keys
                .unwrap_or_default()
                .into_iter()
                .map(|k| k.ssh_public_key_id)
                .collect(),
            mfa_devices: mfa_devices
                .mfa_devices
                .into_iter()
                .map(|d| d.serial_number)
                .collect(),
        })
    }

    /// "also deletes 1 access key, console login", or nothing when there is nothing else.
    fn note(&self) -> Option<String> {
        let count = |n: usize, one: &str, many: &str| match n {
            0 => None,
            1 => Some(format!("1 {one}")),
            n => Some(format!("{n} {many}")),
        };
        let parts: Vec<String> = [
            count(self.access_keys.len(), "access key", "access keys"),
            self.login_profile.then(|| "console login".to_string()),
            count(
                self.signing_certificates.len(),
                "signing certificate",
                "signing certificates",
            ),
            count(self.ssh_keys.len(), "SSH key", "SSH keys"),
            count(self.mfa_devices.len(), "MFA device", "MFA devices"),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| format!("also deletes {}", parts.join(", ")))
    }

    /// Deletes them, each noted in `steps` once done.
    async fn delete(&self, client: &Client, user: &str, steps: &mut Steps) -> Result<(), AwsError> {
        for key in &self.access_keys {
            let sent = client
                .delete_access_key()
                .user_name(user)
                .access_key_id(key)
                .send();
            let deleted = async {
                sent.await
                    .aws("DeleteAccessKey", user)
                    .done_if(&[codes::NO_SUCH_ENTITY])
            };
            steps.step(format!("deleted access key {key}"), deleted).await?;
        }
        if self.login_profile {
            let sent = client.delete_login_profile().user_name(user).send();
            let deleted = async {
                sent.await
                    .aws("DeleteLoginProfile", user)
                    .done_if(&[codes::NO_SUCH_ENTITY])
            };
            steps.step("deleted its console login", deleted).await?;
        }
        for certificate in &self.signing_certificates {
            let sent = client
                .delete_signing_certificate()
                .user_name(user)
                .certificate_id(certificate)
                .send();
            let deleted = async {
                sent.await
                    .aws("DeleteSigningCertificate", user)
                    .done_if(&[codes::NO_SUCH_ENTITY])
            };
            steps
                .step(format!("deleted signing certificate {certificate}"), deleted)
                .await?;
        }
        for key in &self.ssh_keys {
            let sent = client
                .delete_ssh_public_key()
                .user_name(user)
                .ssh_public_key_id(key)
                .send();
            let deleted = async {
                sent.await
                    .aws("DeleteSSHPublicKey", user)
                    .done_if(&[codes::NO_SUCH_ENTITY])
            };
            steps.step(format!("deleted SSH key {key}"), deleted).await?;
        }
        for serial in &self.mfa_devices {
            let sent = client
                .deactivate_mfa_device()
                .user_name(user)
                .serial_number(serial)
                .send();
            let deactivated = async {
                sent.await
                    .aws("DeactivateMFADevice", user)
                    .done_if(&[codes::NO_SUCH_ENTITY])
            };
            steps
                .step(format!("deactivated MFA device {serial}"), deactivated)
                .await?;
            // A virtual device (its serial is an ARN) would otherwise outlive its user. Once
            // deactivated it is no longer listed under the user, so a later apply cannot find
            // it again: the error says what is left behind.
            if serial.starts_with("arn:") {
                let sent = client.delete_virtual_mfa_device().serial_number(serial).send();
                let deleted = async {
                    let deleted = sent.await.aws("DeleteVirtualMFADevice", user);
                    deleted.done_if(&[codes::NO_SUCH_ENTITY]).map_err(|mut error| {
                        error.message = format!(
                            "{}; the device is deactivated and left behind, which plumb cannot find \
                             again: delete it with `aws iam delete-virtual-mfa-device --serial-number {serial}`",
                            error.message
                        );
                        error
                    })
                };
                steps
                    .step(format!("deleted MFA device {serial}"), deleted)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_iam::types::{Tag, UserDetail};

    use super::live_user;
    use crate::config::Environment;

    #[test]
    fn a_live_user_reads_sorted_with_its_tags() {
        let env: Environment =
            toml::from_str("region = \"us-east-1\"\n[scope]\niam_path = \"/app/\"\n").unwrap();
        let detail = UserDetail::builder()
            .user_name("jo")
            .path("/app/")
            .group_list("ops")
            .group_list("devs")
            .tags(Tag::builder().key("team").value("web").build().unwrap())
            .build();
        let user = live_user(&env, &detail);
        assert_eq!(user.groups, ["devs", "ops"]);
        assert_eq!(user.tags["team"], "web");
        assert!(user.permissions.managed_policies.is_empty());
    }
}
