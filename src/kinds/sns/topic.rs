//! SNS topics (`[topics."NAME"]`) under `scope.topic_prefixes`: display name, access policy,
//! tags and subscriptions.
//!
//! Reading: ListTopics (100 a page), then per topic GetTopicAttributes and
//! ListSubscriptionsByTopic (100 a page), and ListTagsForResource only where `tags` is declared.
//!
//! AWS's quirks: an email (or email-json, or https) subscription stays "pending confirmation"
//! until its recipient confirms it, and cannot be unsubscribed meanwhile (AWS drops it after
//! three days). A pending subscription that is declared counts as there, so it is never
//! re-created; one that is not declared is left to expire and is not shown as drift. Deleting
//! a topic deletes its subscriptions.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::Tag;
use futures::{StreamExt, TryStreamExt};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::aws::{AwsError, DoneIf, SdkResult, Session, codes};
use crate::kinds::{self, Declarations, Declared, Fields, ImportContext, Imported, Kind, Live, Op, Steps};
use crate::scope::{Rule, Shape};
use crate::source::{Diagnostic, Entry};

pub struct Topics;

const READ_CONCURRENCY: usize = 8;
/// AWS's limit on a topic's access policy, in bytes.
const MAX_POLICY_BYTES: usize = 30_720;
const MAX_POLICY_FILE: u64 = 64 * 1024;
/// The protocols plumb can subscribe (Firehose needs a subscription role, which plumb does not
/// declare yet).
const PROTOCOLS: &[&str] = &[
    "email",
    "email-json",
    "http",
    "https",
    "sqs",
    "lambda",
    "sms",
    "application",
];
/// The SubscriptionArn AWS lists for a subscription its endpoint has not confirmed.
const PENDING: &str = "PendingConfirmation";

static NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_-]+(\.fifo)?$").expect("valid"));
/// AWS's limit on a topic's name, `.fifo` included.
const MAX_NAME_CHARS: usize = 256;

/// An SNS topic: `[topics.NAME]` (a name ending in `.fifo` makes a FIFO topic).
#[derive(Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// The display name (the sender name of SMS messages).
    display_name: Option<String>,
    /// The access policy, inline; or `policy_file`. Managed only when declared.
    policy: Option<Json>,
    /// A JSON file holding the access policy, relative to this file.
    policy_file: Option<String>,
    /// Tags; managed only when declared.
    tags: Option<BTreeMap<String, String>>,
    /// The subscriptions, a set of protocol and endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    subscriptions: Vec<Subscription>,
    /// Never delete or replace it, even when it is removed from desired/.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    protect: bool,
}

/// A subscription, told apart by its protocol and endpoint (AWS's own identity for it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// How messages are delivered (Firehose is not supported yet).
    #[schemars(extend("enum" = PROTOCOLS))]
    pub protocol: String,
    /// An email address, a URL, or an SQS queue's or Lambda function's ARN, as the protocol says.
    pub endpoint: String,
}

/// A topic as compared: subscriptions as a sorted set; the policy (AWS writes a default one)
/// and tags managed only when declared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Topic {
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    pub subscriptions: Vec<Subscription>,
}

#[async_trait]
impl Kind for Topics {
    const NOUN: &'static str = "topic";
    const TABLE: &'static str = "topics";
    const SCOPE: Rule = Rule {
        setting: "topic_prefixes",
        shape: Shape::Prefixes,
        account_wide: false,
        allows: |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
        allowed: "letters, digits, `-` and `_`",
    };
    type Declaration = Declaration;
    type Spec = Topic;

    fn parse(&self, entry: &Entry, declaration: Declaration) -> Result<Declared<Topic>, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        if !NAME.is_match(entry.name) || entry.name.len() > MAX_NAME_CHARS {
            problems.push(entry.error(
                None,
                "a topic name has 1 to 256 letters, digits, `-` and `_` (and may end in `.fifo`)",
            ));
        }
        kinds::check_in_scope(entry, &Self::SCOPE, &mut problems);
        if let Some(tags) = &declaration.tags {
            kinds::check_tags(entry, tags, &mut problems);
        }
        check_subscriptions(entry, &declaration.subscriptions, &mut problems);
        let policy = match policy(entry, &declaration) {
            Ok(policy) => policy,
            Err(problem) => {
                problems.push(problem);
                None
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let topic = Topic {
            display_name: declaration.display_name.filter(|d| !d.is_empty()),
            policy,
            tags: declaration.tags,
            subscriptions: sorted(declaration.subscriptions),
        };
        Ok(Declared::new(topic).protect(declaration.protect))
    }

    fn fields(&self, spec: &Topic) -> Fields {
        Fields::of(spec)
    }

    async fn fetch(
        &self,
        session: &Session,
        declared: &Declarations<'_, Topic>,
    ) -> Result<Vec<Live<Topic>>, AwsError> {
        if session.env.scope.values(Self::SCOPE.setting).is_empty() {
            return Ok(Vec::new()); // owns no topic: nothing to read
        }
        let client = session.client::<Client>();
        let arns = list_topics(&client).await?;
        let ours: Vec<(String, String)> = arns
            .into_iter()
            .filter_map(|arn| Some((arn.rsplit(':').next()?.to_string(), arn)))
            .filter(|(name, _)| Self::SCOPE.covers(&session.env.scope, name))
            .collect();
        let reads = ours.into_iter().map(|(name, arn)| {
            let client = client.clone();
            let wanted = declared.get(&name);
            let everything = declared.reads_everything();
            async move { read_topic(&client, name, &arn, wanted, everything).await }
        });
        futures::stream::iter(reads)
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await
    }

    fn import(&self, name: &str, live: &Topic, _: &ImportContext) -> Imported {
        let file = format!("topics/{}-policy.json", kinds::file_name(name));
        let declaration = Declaration {
            display_name: live.display_name.clone(),
            policy: None,
            policy_file: declared_policy(live).map(|_| file.clone()),
            tags: live.tags.clone().filter(|t| !t.is_empty()),
            subscriptions: live.subscriptions.clone(),
            protect: false,
        };
        let imported = Imported::of(&declaration);
        match declared_policy(live) {
            Some(policy) => imported.with_file(file, policy.clone()),
            None => imported,
        }
    }

    async fn apply(&self, session: &Session, op: Op<'_, Topic>) -> Result<(), AwsError> {
        let client = session.client::<Client>();
        match op {
            Op::Delete { name, .. } => delete(&client, &topic_arn(session, name).await?).await,
            Op::Create { name, desired } => create(&client, name, desired).await,
            Op::Replace {
                name,
                live_name,
                desired,
                ..
            } => {
                let old = topic_arn(session, live_name).await?;
                kinds::delete_then_create(live_name, delete(&client, &old), create(&client, name, desired))
                    .await
            }
            Op::Update { name, live, desired } => {
                update(&client, &topic_arn(session, name).await?, live, desired).await
            }
        }
    }
}

/// The live access policy, unless it is the one AWS gives every topic (its statements all
/// `__default_statement_ID`): an import leaves that out, so it stays unmanaged.
fn declared_policy(live: &Topic) -> Option<&Json> {
    let policy = live.policy.as_ref()?;
    let statements = policy.get("Statement").and_then(Json::as_array)?;
    let default = statements
        .iter()
        .all(|s| s.get("Sid").and_then(Json::as_str) == Some("__default_statement_ID"));
    (!default).then_some(policy)
}

// --- validation -------------------------------------------------------------------------

fn check_subscriptions(entry: &Entry, subscriptions: &[Subscription], problems: &mut Vec<Diagnostic>) {
    for s in subscriptions {
        if !PROTOCOLS.contains(&s.protocol.as_str()) {
            let message = format!(
                "protocol `{}` is not one of `{}`",
                s.protocol,
                PROTOCOLS.join("`, `")
            );
            problems.push(entry.error(Some("subscriptions"), message));
        }
        let fits = match s.protocol.as_str() {
            "email" | "email-json" => s.endpoint.contains('@'),
            "http" => s.endpoint.starts_with("http://"),
            "https" => s.endpoint.starts_with("https://"),
            "sqs" | "lambda" | "application" => s.endpoint.starts_with("arn:"),
            "sms" => s.endpoint.starts_with('+'),
            _ => true,
        };
        if !fits {
            let message = format!(
                "`{}` is not an endpoint for protocol `{}`",
                s.endpoint, s.protocol
            );
            problems.push(entry.error(Some("subscriptions"), message));
        }
    }
}

/// The declared access policy (inline or from `policy_file`), compared by meaning like IAM's.
fn policy(entry: &Entry, declaration: &Declaration) -> Result<Option<Json>, Diagnostic> {
    let (field, document) = match (&declaration.policy, &declaration.policy_file) {
        (None, None) => return Ok(None),
        (Some(document), None) => ("policy", document.clone()),
        (None, Some(file)) => (
            "policy_file",
            entry.read_json_file("policy_file", file, MAX_POLICY_FILE)?,
        ),
        (Some(_), Some(_)) => return Err(entry.error(None, "give at most one of `policy` and `policy_file`")),
    };
    kinds::iam::check_document(&document).map_err(|m| entry.error(Some(field), m))?;
    let size = document.to_string().len();
    if size > MAX_POLICY_BYTES {
        let message = format!("the policy is {size} bytes; AWS allows {MAX_POLICY_BYTES}");
        return Err(entry.error(Some(field), message));
    }
    Ok(Some(kinds::iam::normalize_document(document)))
}

fn sorted(mut subscriptions: Vec<Subscription>) -> Vec<Subscription> {
    subscriptions.sort();
    subscriptions.dedup();
    subscriptions
}

// --- reading ----------------------------------------------------------------------------

async fn list_topics(client: &Client) -> Result<Vec<String>, AwsError> {
    let pages: Vec<_> = client
        .list_topics()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws("ListTopics", "topics")?;
    Ok(pages
        .into_iter()
        .flat_map(|p| p.topics.unwrap_or_default())
        .filter_map(|t| t.topic_arn)
        .collect())
}

/// One topic: its attributes, its subscriptions (a pending one only when `declared` names
/// it, or for an import), its tags where they are declared (or for an import).
async fn read_topic(
    client: &Client,
    name: String,
    arn: &str,
    declared: Option<&Topic>,
    everything: bool,
) -> Result<Live<Topic>, AwsError> {
    let attributes = client
        .get_topic_attributes()
        .topic_arn(arn)
        .send()
        .await
        .aws("GetTopicAttributes", &name)?
        .attributes
        .unwrap_or_default();
    let subscriptions = list_subscriptions(client, arn, &name).await?;
    let wanted = |s: &Subscription| declared.is_some_and(|d| d.subscriptions.contains(s));
    let subscriptions = subscriptions
        .into_iter()
        .filter(|(s, pending)| !pending || everything || wanted(s))
        .map(|(s, _)| s)
        .collect();
    let policy = attributes
        .get("Policy")
        .map(|p| kinds::iam::parse_live_document(p));
    let tags = match declared.is_some_and(|d| d.tags.is_some()) || everything {
        true => Some(read_tags(client, arn, &name).await?),
        false => None,
    };
    let topic = Topic {
        display_name: attributes.get("DisplayName").filter(|d| !d.is_empty()).cloned(),
        policy: policy.filter(|_| everything || declared.is_some_and(|d| d.policy.is_some())),
        tags,
        subscriptions: sorted(subscriptions),
    };
    Ok(Live::new(name, topic))
}

/// Every subscription of the topic, and whether it is pending confirmation.
async fn list_subscriptions(
    client: &Client,
    arn: &str,
    name: &str,
) -> Result<Vec<(Subscription, bool)>, AwsError> {
    let pages: Vec<_> = client
        .list_subscriptions_by_topic()
        .topic_arn(arn)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws("ListSubscriptionsByTopic", name)?;
    Ok(pages
        .into_iter()
        .flat_map(|p| p.subscriptions.unwrap_or_default())
        .filter_map(|s| {
            let pending = s.subscription_arn.as_deref() == Some(PENDING);
            let subscription = Subscription {
                protocol: s.protocol?,
                endpoint: s.endpoint?,
            };
            Some((subscription, pending))
        })
        .collect())
}

async fn read_tags(client: &Client, arn: &str, name: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let output = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .aws("ListTagsForResource", name)?;
    Ok(kinds::declarable_tags(
        output
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value)),
    ))
}

// --- writing ----------------------------------------------------------------------------

/// The topic's ARN: SNS names topics by ARN, which is the account and region's.
async fn topic_arn(session: &Session, name: &str) -> Result<String, AwsError> {
    let account = session.caller_account().await?;
    Ok(super::topic_arn(&session.env.region, &account, name))
}

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

async fn create(client: &Client, name: &str, desired: &Topic) -> Result<(), AwsError> {
    let mut request = client.create_topic().name(name);
    // AWS makes a FIFO topic only when asked, and refuses a `.fifo` name otherwise.
    if name.ends_with(".fifo") {
        request = request.attributes("FifoTopic", "true");
    }
    if let Some(display_name) = &desired.display_name {
        request = request.attributes("DisplayName", display_name);
    }
    if let Some(policy) = &desired.policy {
        request = request.attributes("Policy", policy.to_string());
    }
    if let Some(tags) = desired.tags.as_ref().filter(|t| !t.is_empty()) {
        request = request.set_tags(Some(tag_list(tags)));
    }
    let arn = request
        .send()
        .await
        .aws("CreateTopic", name)?
        .topic_arn
        .unwrap_or_default();
    for subscription in &desired.subscriptions {
        subscribe(client, &arn, name, subscription).await?;
    }
    Ok(())
}

async fn update(client: &Client, arn: &str, live: &Topic, desired: &Topic) -> Result<(), AwsError> {
    let name = arn.rsplit(':').next().unwrap_or(arn);
    let mut steps = Steps::default();
    if live.display_name != desired.display_name {
        let value = desired.display_name.clone().unwrap_or_default();
        let set = set_attribute(client, arn, name, "DisplayName", value);
        steps.step("set its display name", set).await?;
    }
    if let Some(policy) = desired
        .policy
        .as_ref()
        .filter(|p| live.policy.as_ref() != Some(*p))
    {
        let set = set_attribute(client, arn, name, "Policy", policy.to_string());
        steps.step("set its access policy", set).await?;
    }
    if let Some(tags) = desired.tags.as_ref().filter(|t| live.tags.as_ref() != Some(*t)) {
        let live_tags = live.tags.clone().unwrap_or_default();
        steps
            .step(
                "updated its tags",
                update_tags(client, arn, name, &live_tags, tags),
            )
            .await?;
    }
    let added = desired
        .subscriptions
        .iter()
        .filter(|s| !live.subscriptions.contains(s));
    for subscription in added {
        let done = format!("subscribed {} {}", subscription.protocol, subscription.endpoint);
        steps
            .step(done, subscribe(client, arn, name, subscription))
            .await?;
    }
    let removed: Vec<&Subscription> = live
        .subscriptions
        .iter()
        .filter(|s| !desired.subscriptions.contains(s))
        .collect();
    if !removed.is_empty() {
        steps.step("", unsubscribe(client, arn, name, &removed)).await?;
    }
    Ok(())
}

async fn set_attribute(
    client: &Client,
    arn: &str,
    name: &str,
    attribute: &str,
    value: String,
) -> Result<(), AwsError> {
    client
        .set_topic_attributes()
        .topic_arn(arn)
        .attribute_name(attribute)
        .attribute_value(value)
        .send()
        .await
        .aws("SetTopicAttributes", name)?;
    Ok(())
}

async fn update_tags(
    client: &Client,
    arn: &str,
    name: &str,
    live: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let untag = |keys| async {
        let request = client.untag_resource().resource_arn(arn).set_tag_keys(Some(keys));
        request.send().await.aws("UntagResource", name).map(drop)
    };
    let tag = |tags| async move {
        let request = client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tag_list(&tags)));
        request.send().await.aws("TagResource", name).map(drop)
    };
    kinds::sync_tags(live, desired, untag, tag).await
}

async fn subscribe(
    client: &Client,
    arn: &str,
    name: &str,
    subscription: &Subscription,
) -> Result<(), AwsError> {
    client
        .subscribe()
        .topic_arn(arn)
        .protocol(&subscription.protocol)
        .endpoint(&subscription.endpoint)
        .send()
        .await
        .aws("Subscribe", name)?;
    Ok(())
}

/// Unsubscribes the confirmed subscriptions among `removed`; one still pending cannot be
/// (AWS's rule) and is said as such: it expires by itself.
async fn unsubscribe(
    client: &Client,
    arn: &str,
    name: &str,
    removed: &[&Subscription],
) -> Result<(), AwsError> {
    let pages: Vec<_> = client
        .list_subscriptions_by_topic()
        .topic_arn(arn)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws("ListSubscriptionsByTopic", name)?;
    for s in pages
        .into_iter()
        .flat_map(|p| p.subscriptions.unwrap_or_default())
    {
        let listed = Subscription {
            protocol: s.protocol.unwrap_or_default(),
            endpoint: s.endpoint.unwrap_or_default(),
        };
        if !removed.contains(&&listed) {
            continue;
        }
        match s.subscription_arn.as_deref() {
            Some(PENDING) | None => {
                return Err(AwsError {
                    operation: "Unsubscribe",
                    resource: name.to_string(),
                    code: "PendingConfirmation".into(),
                    message: format!(
                        "the {} subscription of `{}` is still pending confirmation: AWS cannot remove it, \
                         and deletes it after three days unconfirmed",
                        listed.protocol, listed.endpoint
                    ),
                });
            }
            Some(subscription) => {
                client
                    .unsubscribe()
                    .subscription_arn(subscription)
                    .send()
                    .await
                    .aws("Unsubscribe", name)
                    .done_if(&[codes::SNS_NOT_FOUND])?;
            }
        }
    }
    Ok(())
}

/// DeleteTopic deletes its subscriptions too; a topic already gone counts as deleted.
async fn delete(client: &Client, arn: &str) -> Result<(), AwsError> {
    let name = arn.rsplit(':').next().unwrap_or(arn);
    client
        .delete_topic()
        .topic_arn(arn)
        .send()
        .await
        .aws("DeleteTopic", name)
        .done_if(&[codes::SNS_NOT_FOUND])
}
