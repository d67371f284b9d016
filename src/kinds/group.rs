//! IAM groups (`[groups.NAME]`) under `scope.iam_path`: managed-policy attachments (AWS's by
//! ARN, plumb's own `policies` by name) and inline policies.
//!
//! Deleting a group first removes its members and its policies: IAM refuses otherwise.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::Client;
use serde::Deserialize;

use crate::aws::{AwsError, Session};
use crate::config::Environment;
use crate::kinds::Kind;
use crate::kinds::iam::{self, DocumentSource, Permissions, Principal};
use crate::load::{Diagnostic, Entry};
use crate::plan::{Action, Change};
use crate::resource::Resource;

pub struct Groups;

const KIND: &str = "group";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
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
impl Kind for Groups {
    fn name(&self) -> &'static str {
        KIND
    }

    fn table(&self) -> &'static str {
        "groups"
    }

    fn in_scope(&self, env: &Environment, _name: &str) -> bool {
        !iam::iam_path(env).is_empty()
    }

    fn parse(&self, entry: &Entry) -> Result<Resource, Vec<Diagnostic>> {
        let spec: Spec = entry.deserialize().map_err(|d| vec![d])?;
        let mut problems = Vec::new();
        iam::check_scope(entry, &mut problems);
        iam::check_name(entry, "name", entry.name, 128, &mut problems);
        let mut resource = Resource::new(KIND, entry.name);
        resource.protect = spec.protect;
        let permissions = Permissions {
            managed_policies: &spec.managed_policies,
            policies: &spec.policies,
            inline_policies: &spec.inline_policies,
            inline_max: iam::GROUP_INLINE_MAX,
        };
        iam::set_permissions(entry, &permissions, &mut resource, &mut problems);
        if problems.is_empty() {
            Ok(resource)
        } else {
            Err(problems)
        }
    }

    async fn fetch(&self, session: &Session, _desired: &[&Resource]) -> Result<Vec<Resource>, AwsError> {
        if !self.in_scope(&session.env, "") {
            return Ok(Vec::new());
        }
        let snapshot = iam::snapshot(session).await?;
        let live = snapshot
            .groups
            .iter()
            // IAM's path filter is applied here too: ListGroups-style filters are not trusted.
            .filter(|g| iam::in_scope(&session.env, g.path.as_deref()))
            .filter_map(|group| {
                let mut resource = Resource::new(KIND, group.group_name.as_deref()?);
                let attached = group
                    .attached_managed_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn.as_deref());
                let inline = group
                    .group_policy_list()
                    .iter()
                    .filter_map(|p| Some((p.policy_name.as_deref()?, p.policy_document.as_deref()?)));
                iam::set_live_permissions(&session.env, &mut resource, attached, inline);
                Some(resource)
            })
            .collect();
        Ok(live)
    }

    async fn apply(&self, session: &Session, change: &Change) -> Result<(), AwsError> {
        let client = iam::client(session);
        let principal = Principal::Group(&change.name);
        let (live, desired) = (change.live.as_deref(), change.desired.as_deref());
        match change.action {
            Action::Create | Action::Replace => {
                create(&client, session, &change.name).await?;
                iam::apply_permissions(session, principal, None, desired).await
            }
            Action::Update => iam::apply_permissions(session, principal, live, desired).await,
            Action::Delete => {
                remove_members(&client, &change.name).await?;
                iam::apply_permissions(session, principal, live, None).await?;
                let result = client.delete_group().group_name(&change.name).send().await;
                iam::ignore_not_found(
                    result
                        .map(drop)
                        .map_err(|e| AwsError::from_sdk("DeleteGroup", &change.name, e)),
                )
            }
        }
    }
}

async fn create(client: &Client, session: &Session, name: &str) -> Result<(), AwsError> {
    client
        .create_group()
        .group_name(name)
        .path(iam::iam_path(&session.env))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateGroup", name, e))?;
    Ok(())
}

async fn remove_members(client: &Client, group: &str) -> Result<(), AwsError> {
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
                return if error.code == "NoSuchEntity" {
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
    for user in members {
        let result = client
            .remove_user_from_group()
            .group_name(group)
            .user_name(&user)
            .send()
            .await;
        iam::ignore_not_found(
            result
                .map(drop)
                .map_err(|e| AwsError::from_sdk("RemoveUserFromGroup", &user, e)),
        )?;
    }
    Ok(())
}
