//! CloudWatch dashboards (`[dashboards."NAME"]`) under `scope.dashboard_prefixes`.
//!
//! The body comes from a JSON file (`file`) or an inline table (`body`) and is compared as
//! parsed JSON, so formatting never shows a diff; a changed body renders as a unified diff of
//! the pretty-printed JSON, so a reviewer sees which widget changed.

use std::sync::LazyLock;

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use futures::{StreamExt, TryStreamExt};
use regex::Regex;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::aws::{AwsError, Session, done_if};
use crate::config::Environment;
use crate::kinds::{self, Kind};
use crate::load::{Diagnostic, Entry};
use crate::plan::{Action, Change};
use crate::resource::{Resource, Value};

pub struct Dashboards;

const KIND: &str = "dashboard";
const READ_CONCURRENCY: usize = 8;

static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]{1,255}$").expect("valid"));

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    file: Option<String>,
    body: Option<Json>,
    #[serde(default)]
    protect: bool,
}

#[async_trait]
impl Kind for Dashboards {
    fn name(&self) -> &'static str {
        KIND
    }

    fn table(&self) -> &'static str {
        "dashboards"
    }

    fn in_scope(&self, env: &Environment, name: &str) -> bool {
        crate::scope::prefix_covers(&env.scope.dashboard_prefixes, name)
    }

    fn parse(&self, entry: &Entry) -> Result<Resource, Vec<Diagnostic>> {
        let spec: Spec = entry.deserialize().map_err(|d| vec![d])?;
        let mut problems = Vec::new();
        if !NAME.is_match(entry.name) {
            problems.push(entry.error(None, "a dashboard name has 1 to 255 letters, digits, `-` and `_`"));
        }
        if !self.in_scope(entry.env, entry.name) {
            problems.push(kinds::outside_scope(
                entry,
                "dashboard_prefixes",
                &entry.env.scope.dashboard_prefixes,
            ));
        }
        let mut resource = Resource::new(KIND, entry.name);
        resource.protect = spec.protect;
        match body(entry, &spec) {
            Ok(body) => resource.set("body", Value::Plain(kinds::numbers_by_value(body))),
            Err(problem) => problems.push(problem),
        }
        if problems.is_empty() {
            Ok(resource)
        } else {
            Err(problems)
        }
    }

    async fn fetch(&self, session: &Session, _desired: &[&Resource]) -> Result<Vec<Resource>, AwsError> {
        let client = session.shared(|s| Client::new(&s.config));
        let mut names = Vec::new();
        for prefix in &session.env.scope.dashboard_prefixes {
            names.extend(list(&client, prefix).await?);
        }
        names.retain(|(name, _)| self.in_scope(&session.env, name));
        names.sort();
        names.dedup();
        let reads = names.into_iter().map(|(name, modified)| {
            let client = client.clone();
            async move {
                let output = client
                    .get_dashboard()
                    .dashboard_name(&name)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("GetDashboard", &name, e))?;
                let text = output.dashboard_body.unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
                let mut resource = Resource::new(KIND, &name);
                resource.set("body", Value::Plain(kinds::numbers_by_value(body)));
                resource.version = modified;
                Ok::<_, AwsError>(resource)
            }
        });
        futures::stream::iter(reads)
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn apply(&self, session: &Session, change: &Change) -> Result<(), AwsError> {
        let client = session.shared(|s| Client::new(&s.config));
        let name = change.name.as_str();
        match change.action {
            Action::Delete => delete(&client, name).await,
            Action::Create | Action::Update | Action::Replace => {
                let desired = change
                    .desired
                    .as_deref()
                    .expect("a put carries the desired resource");
                let body = desired
                    .get("body")
                    .and_then(Value::shown)
                    .cloned()
                    .unwrap_or(Json::Null);
                client
                    .put_dashboard()
                    .dashboard_name(name)
                    .dashboard_body(body.to_string())
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("PutDashboard", name, e))?;
                Ok(())
            }
        }
    }
}

/// AWS's limit of 500 widgets a dashboard, and plumb's own cap of 1 MB on a body (counted as
/// the JSON sent; AWS documents no size). A file is read up to twice that, pretty-printing
/// included.
const MAX_WIDGETS: usize = 500;
const MAX_BODY_BYTES: usize = 1_000_000;
const MAX_BODY_FILE: u64 = 2 * MAX_BODY_BYTES as u64;

/// The declared body: valid JSON with a `widgets` list (AWS's rule), within the limits above.
fn body(entry: &Entry, spec: &Spec) -> Result<Json, Diagnostic> {
    let (field, body) = match (&spec.file, &spec.body) {
        (Some(file), None) => ("file", entry.read_json_file("file", file, MAX_BODY_FILE)?),
        (None, Some(body)) => ("body", body.clone()),
        _ => return Err(entry.error(None, "give exactly one of `file` and `body`")),
    };
    let Some(widgets) = body.get("widgets").and_then(Json::as_array) else {
        return Err(entry.error(Some(field), "a dashboard body needs a `widgets` list"));
    };
    if widgets.len() > MAX_WIDGETS {
        let message = format!(
            "{} widgets; AWS allows at most {MAX_WIDGETS} on a dashboard",
            widgets.len()
        );
        return Err(entry.error(Some(field), message));
    }
    let size = body.to_string().len();
    if size > MAX_BODY_BYTES {
        let message = format!("the body is {size} bytes as JSON; plumb accepts at most {MAX_BODY_BYTES}");
        return Err(entry.error(Some(field), message));
    }
    Ok(body)
}

async fn list(client: &Client, prefix: &str) -> Result<Vec<(String, Option<String>)>, AwsError> {
    let pages: Vec<_> = client
        .list_dashboards()
        .dashboard_name_prefix(prefix)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| AwsError::from_sdk("ListDashboards", prefix, e))?;
    let entries = pages
        .into_iter()
        .flat_map(|p| p.dashboard_entries.unwrap_or_default());
    Ok(entries
        .filter_map(|e| {
            Some((
                e.dashboard_name?,
                e.last_modified.map(|t| format!("modified {t}")),
            ))
        })
        .collect())
}

/// DeleteDashboards fails whole on an unknown name; one already gone counts as deleted.
async fn delete(client: &Client, name: &str) -> Result<(), AwsError> {
    let deleted = client
        .delete_dashboards()
        .dashboard_names(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteDashboards", name, e));
    done_if(deleted, &["ResourceNotFound", "ResourceNotFoundException"])
}
