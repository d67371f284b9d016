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
use aws_sdk_iam::types::Tag;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;

use crate::aws::{AwsError, Session};
use crate::config::Environment;
use crate::kinds::iam::{self, DocumentSource, Permissions, Principal};
use crate::kinds::{self, Kind};
use crate::load::{Diagnostic, Entry};
use crate::plan::{Action, Change};
use crate::resource::{Reference, Resource, Value};

pub struct Users;

const KIND: &str = "user";
/// Concurrent reads of a departing user's credentials.
const READ_CONCURRENCY: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    groups: Vec<String>,
    /// Groups outside plumb's scope that the user belongs to (named, not managed).
    #[serde(default)]
    external_groups: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    managed_policies: Vec<String>,
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    inline_policies: BTreeMap<String, DocumentSource>,
    #[serde(default)]
    protect: bool,
}

#[async_trait]
impl Kind for Users {
    fn name(&self) -> &'static str {
        KIND
    }

    fn table(&self) -> &'static str {
        "users"
    }

    fn in_scope(&self, env: &Environment, _name: &str) -> bool {
        !iam::iam_path(env).is_empty()
    }

    fn parse(&self, entry: &Entry) -> Result<Resource, Vec<Diagnostic>> {
        let spec: Spec = entry.deserialize().map_err(|d| vec![d])?;
        let mut problems = Vec::new();
        iam::check_scope(entry, &mut problems);
        iam::check_name(entry, "name", entry.name, 64, &mut problems);
        let mut resource = Resource::new(KIND, entry.name);
        resource.protect = spec.protect;
        set_groups(entry, &spec, &mut resource, &mut problems);
        kinds::check_tags(entry, &spec.tags, &mut problems);
        resource.set("tags", Value::Plain(json!(spec.tags)));
        let permissions = Permissions {
            managed_policies: &spec.managed_policies,
            policies: &spec.policies,
            inline_policies: &spec.inline_policies,
            inline_max: iam::USER_INLINE_MAX,
        };
        iam::set_permissions(entry, &permissions, &mut resource, &mut problems);
        if problems.is_empty() {
            Ok(resource)
        } else {
            Err(problems)
        }
    }

    async fn fetch(&self, session: &Session, desired: &[&Resource]) -> Result<Vec<Resource>, AwsError> {
        if !self.in_scope(&session.env, "") {
            return Ok(Vec::new());
        }
        let snapshot = iam::snapshot(session).await?;
        let mut live: Vec<Resource> = snapshot
            .users
            .iter()
            .filter(|u| iam::in_scope(&session.env, u.path.as_deref()))
            .filter_map(|user| live_user(&session.env, user))
            .collect();
        // Users about to be deleted: read their credentials, so the plan can say what goes too.
        let client = iam::client(session);
        let departing: Vec<String> = live
            .iter()
            .filter(|r| !desired.iter().any(|d| d.name == r.name))
            .map(|r| r.name.clone())
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
            if let Some(resource) = live.iter_mut().find(|r| r.name == name) {
                resource.delete_note = note;
            }
        }
        Ok(live)
    }

    async fn apply(&self, session: &Session, change: &Change) -> Result<(), AwsError> {
        let client = iam::client(session);
        let name = change.name.as_str();
        let principal = Principal::User(name);
        let (live, desired) = (change.live.as_deref(), change.desired.as_deref());
        match change.action {
            Action::Create | Action::Replace => {
                create(&client, session, name, desired).await?;
                update_groups(&client, name, None, desired).await?;
                iam::apply_permissions(session, principal, None, desired).await
            }
            Action::Update => {
                update_groups(&client, name, live, desired).await?;
                update_tags(&client, name, live, desired).await?;
                iam::apply_permissions(session, principal, live, desired).await
            }
            Action::Delete => {
                Credentials::read(&client, name)
                    .await?
                    .delete(&client, name)
                    .await?;
                update_groups(&client, name, live, None).await?;
                iam::apply_permissions(session, principal, live, None).await?;
                let result = client.delete_user().user_name(name).send().await;
                iam::ignore_not_found(
                    result
                        .map(drop)
                        .map_err(|e| AwsError::from_sdk("DeleteUser", name, e)),
                )
            }
        }
    }
}

fn set_groups(entry: &Entry, spec: &Spec, resource: &mut Resource, problems: &mut Vec<Diagnostic>) {
    let count = spec.groups.len() + spec.external_groups.len();
    if count > iam::MAX_GROUPS_PER_USER {
        let max = iam::MAX_GROUPS_PER_USER;
        problems.push(entry.error(
            Some("groups"),
            format!("{count} groups; AWS allows {max} per user"),
        ));
    }
    for group in &spec.groups {
        resource.references.push(Reference {
            kind: "group",
            name: group.clone(),
            field: "groups",
            hint: "declare it in a [groups.NAME] table, or list it in external_groups if it lives outside plumb's scope",
        });
    }
    let all: Vec<String> = spec.groups.iter().chain(&spec.external_groups).cloned().collect();
    resource.set("groups", Value::Plain(json!(iam::sorted(&all))));
}

fn live_user(env: &Environment, user: &aws_sdk_iam::types::UserDetail) -> Option<Resource> {
    let mut resource = Resource::new(KIND, user.user_name.as_deref()?);
    let groups: Vec<String> = user.group_list().to_vec();
    resource.set("groups", Value::Plain(json!(iam::sorted(&groups))));
    let tags: BTreeMap<&str, &str> = user
        .tags()
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    resource.set("tags", Value::Plain(json!(tags)));
    let attached = user
        .attached_managed_policies()
        .iter()
        .filter_map(|p| p.policy_arn.as_deref());
    let inline = user
        .user_policy_list()
        .iter()
        .filter_map(|p| Some((p.policy_name.as_deref()?, p.policy_document.as_deref()?)));
    iam::set_live_permissions(env, &mut resource, attached, inline);
    Some(resource)
}

async fn create(
    client: &Client,
    session: &Session,
    name: &str,
    desired: Option<&Resource>,
) -> Result<(), AwsError> {
    let tags = tag_list(&tags_of(desired));
    client
        .create_user()
        .user_name(name)
        .path(iam::iam_path(&session.env))
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateUser", name, e))?;
    Ok(())
}

async fn update_groups(
    client: &Client,
    user: &str,
    live: Option<&Resource>,
    desired: Option<&Resource>,
) -> Result<(), AwsError> {
    let (joined, left) = iam::set_changes(&iam::field(live, "groups"), &iam::field(desired, "groups"));
    for group in left {
        let result = client
            .remove_user_from_group()
            .group_name(&group)
            .user_name(user)
            .send()
            .await;
        iam::ignore_not_found(
            result
                .map(drop)
                .map_err(|e| AwsError::from_sdk("RemoveUserFromGroup", &group, e)),
        )?;
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
                .map_err(|e| AwsError::from_sdk("AddUserToGroup", &group, e))
        };
        iam::retry_not_found(call).await?;
    }
    Ok(())
}

fn tags_of(resource: Option<&Resource>) -> BTreeMap<String, String> {
    resource.and_then(|r| r.decode("tags")).unwrap_or_default()
}

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value are set")
        })
        .collect()
}

async fn update_tags(
    client: &Client,
    user: &str,
    live: Option<&Resource>,
    desired: Option<&Resource>,
) -> Result<(), AwsError> {
    let (removed, changed) = kinds::tag_changes(&tags_of(live), &tags_of(desired));
    if !removed.is_empty() {
        client
            .untag_user()
            .user_name(user)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UntagUser", user, e))?;
    }
    if !changed.is_empty() {
        client
            .tag_user()
            .user_name(user)
            .set_tags(Some(tag_list(&changed)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("TagUser", user, e))?;
    }
    Ok(())
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
            .map_err(|e| AwsError::from_sdk("ListAccessKeys", user, e))?;
        let login_profile = match client.get_login_profile().user_name(user).send().await {
            Ok(_) => true,
            Err(e) => {
                let error = AwsError::from_sdk("GetLoginProfile", user, e);
                if error.code != "NoSuchEntity" {
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
            .map_err(|e| AwsError::from_sdk("ListSigningCertificates", user, e))?;
        let ssh_keys = client
            .list_ssh_public_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListSSHPublicKeys", user, e))?;
        let mfa_devices = client
            .list_mfa_devices()
            .user_name(user)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListMFADevices", user, e))?;
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

    async fn delete(&self, client: &Client, user: &str) -> Result<(), AwsError> {
        for key in &self.access_keys {
            let result = client
                .delete_access_key()
                .user_name(user)
                .access_key_id(key)
                .send()
                .await;
            iam::ignore_not_found(
                result
                    .map(drop)
                    .map_err(|e| AwsError::from_sdk("DeleteAccessKey", user, e)),
            )?;
        }
        if self.login_profile {
            let result = client.delete_login_profile().user_name(user).send().await;
            iam::ignore_not_found(
                result
                    .map(drop)
                    .map_err(|e| AwsError::from_sdk("DeleteLoginProfile", user, e)),
            )?;
        }
        for certificate in &self.signing_certificates {
            let result = client
                .delete_signing_certificate()
                .user_name(user)
                .certificate_id(certificate)
                .send()
                .await;
            iam::ignore_not_found(
                result
                    .map(drop)
                    .map_err(|e| AwsError::from_sdk("DeleteSigningCertificate", user, e)),
            )?;
        }
        for key in &self.ssh_keys {
            let result = client
                .delete_ssh_public_key()
                .user_name(user)
                .ssh_public_key_id(key)
                .send()
                .await;
            iam::ignore_not_found(
                result
                    .map(drop)
                    .map_err(|e| AwsError::from_sdk("DeleteSSHPublicKey", user, e)),
            )?;
        }
        for serial in &self.mfa_devices {
            let result = client
                .deactivate_mfa_device()
                .user_name(user)
                .serial_number(serial)
                .send()
                .await;
            iam::ignore_not_found(
                result
                    .map(drop)
                    .map_err(|e| AwsError::from_sdk("DeactivateMFADevice", user, e)),
            )?;
            // A virtual device (its serial is an ARN) would otherwise outlive its user.
            if serial.starts_with("arn:") {
                let result = client
                    .delete_virtual_mfa_device()
                    .serial_number(serial)
                    .send()
                    .await;
                iam::ignore_not_found(
                    result
                        .map(drop)
                        .map_err(|e| AwsError::from_sdk("DeleteVirtualMFADevice", user, e)),
                )?;
            }
        }
        Ok(())
    }
}
