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
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::aws::{AwsError, DoneIf, SdkResult, Session, codes};
use crate::kinds::{self, Declarations, Declared, Fields, ImportContext, Imported, Kind, Live, Op};
use crate::scope::{Rule, Shape};
use crate::source::{Diagnostic, Entry};

pub struct Dashboards;

const READ_CONCURRENCY: usize = 8;

static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]{1,255}$").expect("valid"));

/// A CloudWatch dashboard: `[dashboards.NAME]`. One of `file` and `body`.
#[derive(Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// A JSON file holding the dashboard body, relative to this file.
    file: Option<String>,
    /// The dashboard body, inline: `{ widgets = [ ... ] }`.
    body: Option<Json>,
    /// Never delete or replace it, even when it is removed from desired/.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    protect: bool,
}

/// A dashboard: its body, numbers compared by value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dashboard {
    pub body: Json,
}

#[async_trait]
impl Kind for Dashboards {
    const NOUN: &'static str = "dashboard";
    const TABLE: &'static str = "dashboards";
    const SCOPE: Rule = Rule {
        setting: "dashboard_prefixes",
        shape: Shape::Prefixes,
        account_wide: true,
        allows: |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
        allowed: "letters, digits, `-` and `_`",
    };
    type Declaration = Declaration;
    type Spec = Dashboard;

    fn parse(&self, entry: &Entry, declaration: Declaration) -> Result<Declared<Dashboard>, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        if !NAME.is_match(entry.name) {
            problems.push(entry.error(None, "a dashboard name has 1 to 255 letters, digits, `-` and `_`"));
        }
        kinds::check_in_scope(entry, &Self::SCOPE, &mut problems);
        match body(entry, &declaration) {
            Ok(body) if problems.is_empty() => {
                let spec = Dashboard {
                    body: kinds::numbers_by_value(body),
                };
                Ok(Declared::new(spec).protect(declaration.protect))
            }
            Ok(_) => Err(problems),
            Err(problem) => {
                problems.push(problem);
                Err(problems)
            }
        }
    }

    fn fields(&self, spec: &Dashboard) -> Fields {
        Fields::of(spec)
    }

    async fn fetch(
        &self,
        session: &Session,
        _: &Declarations<'_, Dashboard>,
    ) -> Result<Vec<Live<Dashboard>>, AwsError> {
        let client = session.client::<Client>();
        let mut names = Vec::new();
        for prefix in session.env.scope.values(Self::SCOPE.setting) {
            names.extend(list(&client, prefix).await?);
        }
        names.retain(|listed| Self::SCOPE.covers(&session.env.scope, &listed.name));
        names.sort_by(|a, b| a.name.cmp(&b.name));
        names.dedup_by(|a, b| a.name == b.name);
        // plan and drift: a body whose last-modified time and size are unchanged comes from
        // the value cache (`crate::cache`); GetDashboard only for the others.
        let cache = session.cache(CACHE);
        let reads = names.into_iter().map(|listed| {
            let (client, cache) = (client.clone(), cache.clone());
            async move {
                let stamp = listed.stamp.as_deref();
                let cached = cache
                    .as_ref()
                    .zip(stamp)
                    .and_then(|(c, stamp)| c.get(&listed.name, stamp));
                let body = match cached {
                    Some(body) => Some(body),
                    None => {
                        let output = client
                            .get_dashboard()
                            .dashboard_name(&listed.name)
                            .send()
                            .await
                            .aws("GetDashboard", &listed.name)?;
                        if let (Some(cache), Some(stamp), Some(body)) =
                            (&cache, stamp, &output.dashboard_body)
                        {
                            cache.put(&listed.name, stamp, body);
                        }
                        output.dashboard_body
                    }
                };
                Ok::<_, AwsError>(Live::new(listed.name, live_dashboard(body)).version(listed.version))
            }
        });
        let found: Vec<Live<Dashboard>> = futures::stream::iter(reads)
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        if let Some(cache) = &cache {
            let in_scope = |name: &str| Self::SCOPE.covers(&session.env.scope, name);
            cache.retain(|name| !in_scope(name) || found.iter().any(|l| l.name == name));
        }
        Ok(found)
    }

    fn import(&self, name: &str, live: &Dashboard, _: &ImportContext) -> Imported {
        let file = format!("dashboards/{}.json", kinds::file_name(name));
        let declaration = Declaration {
            file: Some(file.clone()),
            ..Declaration::default()
        };
        Imported::of(&declaration).with_file(file, live.body.clone())
    }

    async fn apply(&self, session: &Session, op: Op<'_, Dashboard>) -> Result<(), AwsError> {
        let client = session.client::<Client>();
        match op {
            Op::Delete { name, .. } => delete(&client, name).await,
            Op::Create { name, desired }
            | Op::Update { name, desired, .. }
            | Op::Replace { name, desired, .. } => {
                client
                    .put_dashboard()
                    .dashboard_name(name)
                    .dashboard_body(desired.body.to_string())
                    .send()
                    .await
                    .aws("PutDashboard", name)?;
                Ok(())
            }
        }
    }
}

/// A body as GetDashboard returns it; one that is not JSON is kept as text (and so differs).
fn live_dashboard(body: Option<String>) -> Dashboard {
    let text = body.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Json::String(text));
    Dashboard {
        body: kinds::numbers_by_value(body),
    }
}

/// AWS's limit of 500 widgets a dashboard, and plumb's own cap of 1 MB on a body (counted as
/// the JSON sent; AWS documents no size). A file is read up to twice that, pretty-printing
/// included.
const MAX_WIDGETS: usize = 500;
const MAX_BODY_BYTES: usize = 1_000_000;
const MAX_BODY_FILE: u64 = 2 * MAX_BODY_BYTES as u64;

/// The declared body: valid JSON with a `widgets` list (AWS's rule), within the limits above.
fn body(entry: &Entry, spec: &Declaration) -> Result<Json, Diagnostic> {
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

/// The value cache's service name (`crate::cache`).
const CACHE: &str = "dashboards";

/// A dashboard as ListDashboards lists it.
struct Listed {
    name: String,
    /// What a plan computed against it depends on (`modified ...`).
    version: Option<String>,
    /// Its last-modified time and size: the value cache's key for its body (none when AWS
    /// did not say both).
    stamp: Option<String>,
}

async fn list(client: &Client, prefix: &str) -> Result<Vec<Listed>, AwsError> {
    let pages: Vec<_> = client
        .list_dashboards()
        .dashboard_name_prefix(prefix)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws("ListDashboards", prefix)?;
    let entries = pages
        .into_iter()
        .flat_map(|p| p.dashboard_entries.unwrap_or_default());
    Ok(entries
        .filter_map(|e| {
            let stamp = match (e.last_modified, e.size) {
                (Some(t), Some(size)) if settled(&t, std::time::SystemTime::now()) => {
                    Some(format!("{}.{:09}+{size}", t.secs(), t.subsec_nanos()))
                }
                _ => None,
            };
            Some(Listed {
                name: e.dashboard_name?,
                version: e.last_modified.map(|t| format!("modified {t}")),
                stamp,
            })
        })
        .collect())
}

/// Whether a body last modified at `modified` may be cached when read at `now`. AWS may
/// report the time in whole seconds, so an edit of the same size later in the same second
/// would keep the stamp: a body modified in the last two seconds is read, never cached.
/// (This trusts the clock to be within a second of AWS's, as NTP keeps it.)
fn settled(modified: &aws_sdk_cloudwatch::primitives::DateTime, now: std::time::SystemTime) -> bool {
    let now = aws_sdk_cloudwatch::primitives::DateTime::from(now);
    now.secs().saturating_sub(modified.secs()) >= SETTLE_SECONDS
}

const SETTLE_SECONDS: i64 = 2;

/// DeleteDashboards fails whole on an unknown name; one already gone counts as deleted.
async fn delete(client: &Client, name: &str) -> Result<(), AwsError> {
    let deleted = client
        .delete_dashboards()
        .dashboard_names(name)
        .send()
        .await
        .aws("DeleteDashboards", name);
    deleted.done_if(&codes::RESOURCE_NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{live_dashboard, settled};

    #[test]
    fn a_body_modified_in_the_last_two_seconds_is_not_cached() {
        use aws_sdk_cloudwatch::primitives::DateTime;
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_000_500);
        assert!(!settled(&DateTime::from_secs(1_000), now), "same second");
        assert!(!settled(&DateTime::from_secs(999), now), "a second ago");
        assert!(settled(&DateTime::from_secs(998), now));
        assert!(
            !settled(&DateTime::from_secs(1_100), now),
            "AWS's clock ahead of ours"
        );
    }

    #[test]
    fn live_bodies_normalise_like_declared_ones() {
        let read = live_dashboard(Some(r#"{"widgets": [{"x": 0.0, "width": 12}]}"#.into()));
        assert_eq!(read.body, json!({"widgets": [{"x": 0, "width": 12}]}));
        let broken = live_dashboard(Some("not json".into()));
        assert_eq!(broken.body, json!("not json"));
        assert_eq!(live_dashboard(None).body, json!(""));
    }
}
