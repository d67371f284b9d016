//! CloudWatch metric alarms (`[alarms."NAME"]`), single-metric or metric math, under
//! `scope.alarm_prefixes`.
//!
//! PutMetricAlarm replaces the whole alarm, so an update sends every declared field; the plan
//! shows only the fields that differ. Tags are changed with TagResource/UntagResource (AWS
//! ignores Tags when PutMetricAlarm updates an alarm) and read only where `tags` is declared.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, StandardUnit,
    Statistic, Tag,
};
use futures::{StreamExt, TryStreamExt};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::aws::{AwsError, Session};
use crate::config::Environment;
use crate::kinds::{self, DynKind};
use crate::load::{Diagnostic, Entry};
use crate::plan::{Action, Change};
use crate::resource::{Resource, Value};

pub struct Alarms;

const KIND: &str = "alarm";
const READ_CONCURRENCY: usize = 8;
const MAX_ACTIONS_PER_STATE: usize = 5;
const MAX_EVALUATION_SECONDS: i64 = 86_400;
const COMPARISONS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
const TREAT_MISSING: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];

static EXTENDED_STATISTIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(p|tm|wm|tc|ts|pr|iqm)(\d{1,2}(\.\d{1,10})?|100)?(\(.*\))?$").expect("valid")
});
static ACTION_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^arn:aws[\w-]*:(sns:[\w-]+:\d{12}:[\w-]+|automate:[\w-]+:ec2:(stop|terminate|reboot|recover)|autoscaling:[\w-]+:\d{12}:scalingPolicy:.+|ssm:[\w-]+:\d{12}:opsitem:.+|ssm-incidents::\d{12}:responseplan/.+|lambda:[\w-]+:\d{12}:function:.+)$").expect("valid")
});
static METRIC_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-zA-Z0-9_]{0,254}$").expect("valid"));

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    description: Option<String>,
    namespace: Option<String>,
    metric: Option<String>,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    statistic: Option<String>,
    extended_statistic: Option<String>,
    period: Option<i64>,
    evaluation_periods: i64,
    datapoints_to_alarm: Option<i64>,
    threshold: Option<f64>,
    threshold_metric_id: Option<String>,
    comparison: String,
    treat_missing_data: Option<String>,
    unit: Option<String>,
    evaluate_low_sample_count_percentile: Option<String>,
    #[serde(default)]
    alarm_actions: Vec<String>,
    #[serde(default)]
    ok_actions: Vec<String>,
    #[serde(default)]
    insufficient_data_actions: Vec<String>,
    actions_enabled: Option<bool>,
    metrics: Option<Vec<MetricQuery>>,
    tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    protect: bool,
}

/// One entry of a metric-math alarm's `metrics`; also the normalised form compared in plans.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct MetricQuery {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metric_stat: Option<MetricStatSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    /// AWS's default is true.
    #[serde(default = "yes")]
    return_data: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    period: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct MetricStatSpec {
    namespace: String,
    metric: String,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    period: i64,
    stat: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
}

fn yes() -> bool {
    true
}

#[async_trait]
impl DynKind for Alarms {
    fn name(&self) -> &'static str {
        KIND
    }

    fn table(&self) -> &'static str {
        "alarms"
    }

    fn in_scope(&self, env: &Environment, name: &str) -> bool {
        crate::scope::prefix_covers(&env.scope.alarm_prefixes, name)
    }

    fn parse(&self, entry: &Entry) -> Result<Resource, Vec<Diagnostic>> {
        let spec: Spec = entry.deserialize().map_err(|d| vec![d])?;
        let mut problems = Vec::new();
        check_name(entry, self, &mut problems);
        check_metric(entry, &spec, &mut problems);
        check_evaluation(entry, &spec, &mut problems);
        check_actions(entry, &spec, &mut problems);
        if problems.is_empty() {
            Ok(desired_resource(entry.name, spec))
        } else {
            Err(problems)
        }
    }

    async fn fetch(&self, session: &Session, desired: &[&Resource]) -> Result<Vec<Resource>, AwsError> {
        let client = session.shared(|s| Client::new(&s.config));
        let mut alarms = Vec::new();
        for prefix in &session.env.scope.alarm_prefixes {
            alarms.extend(describe(&client, prefix).await?);
        }
        let mut live: BTreeMap<String, (Resource, Option<String>)> = BTreeMap::new();
        for alarm in alarms {
            let Some(name) = alarm.alarm_name.clone() else {
                continue;
            };
            if self.in_scope(&session.env, &name) {
                live.insert(name, (live_resource(&alarm), alarm.alarm_arn.clone()));
            }
        }
        read_declared_tags(&client, &mut live, desired).await?;
        Ok(live.into_values().map(|(resource, _)| resource).collect())
    }

    async fn apply(&self, session: &Session, change: &Change) -> Result<(), AwsError> {
        let client = session.shared(|s| Client::new(&s.config));
        let name = change.name.as_str();
        match change.action {
            Action::Delete => delete(&client, name).await,
            Action::Create | Action::Replace => put(&client, change, true).await,
            Action::Update => {
                if change.fields.iter().any(|f| f.field != "tags") {
                    put(&client, change, false).await?;
                }
                if change.fields.iter().any(|f| f.field == "tags") {
                    update_tags(&client, change).await?;
                }
                Ok(())
            }
        }
    }
}

// --- validation -----------------------------------------------------------------------

fn check_name(entry: &Entry, kind: &Alarms, problems: &mut Vec<Diagnostic>) {
    let name = entry.name;
    if name.is_empty() || name.chars().count() > 255 {
        problems.push(entry.error(None, "an alarm name must be 1 to 255 characters"));
    }
    if name.chars().any(char::is_control) {
        problems.push(entry.error(None, "an alarm name must not contain control characters"));
    }
    if !kind.in_scope(entry.env, name) {
        problems.push(kinds::outside_scope(
            entry,
            "alarm_prefixes",
            &entry.env.scope.alarm_prefixes,
        ));
    }
}

fn check_metric(entry: &Entry, spec: &Spec, problems: &mut Vec<Diagnostic>) {
    let single = [spec.namespace.is_some(), spec.metric.is_some()];
    match (&spec.metrics, single) {
        (Some(metrics), _) => {
            if spec.namespace.is_some()
                || spec.metric.is_some()
                || spec.statistic.is_some()
                || spec.extended_statistic.is_some()
                || !spec.dimensions.is_empty()
                || spec.period.is_some()
            {
                problems.push(entry.error(
                    Some("metrics"),
                    "a metric-math alarm sets no namespace, metric, dimensions, statistic or period of its own",
                ));
            }
            check_metric_queries(entry, metrics, spec.threshold_metric_id.as_deref(), problems);
        }
        (None, [true, true]) => {
            match (&spec.statistic, &spec.extended_statistic) {
                (Some(_), Some(_)) | (None, None) => problems.push(entry.error(
                    Some("statistic"),
                    "give exactly one of `statistic` and `extended_statistic`",
                )),
                (Some(stat), None) if !STATISTICS.contains(&stat.as_str()) => problems.push(entry.error(
                    Some("statistic"),
                    format!("`{stat}` is not one of {}", quoted(STATISTICS)),
                )),
                (None, Some(ext)) if !EXTENDED_STATISTIC.is_match(ext) => problems.push(entry.error(
                    Some("extended_statistic"),
                    format!("`{ext}` is not a percentile statistic such as `p99` or `tm90`"),
                )),
                _ => {}
            }
            match spec.period {
                None => problems.push(entry.error(Some("period"), "a single-metric alarm needs `period`")),
                Some(period) => check_period(entry, "period", period, problems),
            }
        }
        (None, _) => problems.push(entry.error(
            None,
            "needs `namespace` and `metric` (a single-metric alarm) or `metrics` (metric math)",
        )),
    }
    if spec.dimensions.len() > 30 {
        problems.push(entry.error(Some("dimensions"), "AWS allows at most 30 dimensions"));
    }
    match (spec.threshold, &spec.threshold_metric_id) {
        (Some(_), Some(_)) | (None, None) => problems.push(entry.error(
            Some("threshold"),
            "give exactly one of `threshold` and `threshold_metric_id` (anomaly detection)",
        )),
        _ => {}
    }
    if let Some(id) = &spec.threshold_metric_id
        && !spec.metrics.iter().flatten().any(|m| &m.id == id)
    {
        problems.push(entry.error(
            Some("threshold_metric_id"),
            format!("`{id}` is not the id of an entry in `metrics`"),
        ));
    }
}

fn check_metric_queries(
    entry: &Entry,
    metrics: &[MetricQuery],
    band: Option<&str>,
    problems: &mut Vec<Diagnostic>,
) {
    if metrics.is_empty() || metrics.len() > 20 {
        problems.push(entry.error(
            Some("metrics"),
            "a metric-math alarm has 1 to 20 entries in `metrics`",
        ));
    }
    let mut ids = HashSet::new();
    for query in metrics {
        if !METRIC_ID.is_match(&query.id) {
            problems.push(entry.error(
                Some("metrics"),
                format!(
                    "id `{}` must start with a lowercase letter and hold only letters, digits and `_`",
                    query.id
                ),
            ));
        }
        if !ids.insert(query.id.as_str()) {
            problems.push(entry.error(Some("metrics"), format!("id `{}` is used twice", query.id)));
        }
        if query.expression.is_some() == query.metric_stat.is_some() {
            problems.push(entry.error(
                Some("metrics"),
                format!(
                    "`{}` needs exactly one of `expression` and `metric_stat`",
                    query.id
                ),
            ));
        }
        if let Some(stat) = &query.metric_stat {
            check_period(entry, "metrics", stat.period, problems);
        }
        if let Some(period) = query.period {
            check_period(entry, "metrics", period, problems);
        }
    }
    // AWS: the entry whose value is compared returns data, nothing else does; an anomaly
    // detection alarm returns both the metric and its band (`threshold_metric_id`).
    let returned = metrics.iter().filter(|m| m.return_data).count();
    match band {
        None if returned != 1 => problems.push(entry.error(
            Some("metrics"),
            format!("exactly one entry must have `return_data = true` (the alarm's value); {returned} do (true is the default)"),
        )),
        Some(band) if returned != 2 || !metrics.iter().any(|m| m.id == band && m.return_data) => {
            problems.push(entry.error(
                Some("metrics"),
                format!("an anomaly detection alarm returns exactly two entries: the metric and the band `{band}`"),
            ))
        }
        _ => {}
    }
}

/// AWS: 10, 30 or a multiple of 60 seconds, at most a day.
fn check_period(entry: &Entry, field: &str, period: i64, problems: &mut Vec<Diagnostic>) {
    if !(period == 10 || period == 30 || (period > 0 && period % 60 == 0 && period <= MAX_EVALUATION_SECONDS))
    {
        problems.push(entry.error(
            Some(field),
            format!("period {period} must be 10, 30 or a multiple of 60 seconds, at most a day"),
        ));
    }
}

fn check_evaluation(entry: &Entry, spec: &Spec, problems: &mut Vec<Diagnostic>) {
    if !COMPARISONS.contains(&spec.comparison.as_str()) {
        problems.push(entry.error(
            Some("comparison"),
            format!("`{}` is not one of {}", spec.comparison, quoted(COMPARISONS)),
        ));
    }
    if spec.evaluation_periods < 1 {
        problems.push(entry.error(Some("evaluation_periods"), "must be at least 1"));
    } else if spec.evaluation_periods > MAX_EVALUATION_SECONDS / 10 {
        let message = format!(
            "must be at most {} (AWS evaluates at most a day)",
            MAX_EVALUATION_SECONDS / 10
        );
        problems.push(entry.error(Some("evaluation_periods"), message));
    }
    if let Some(datapoints) = spec.datapoints_to_alarm
        && !(1..=spec.evaluation_periods).contains(&datapoints)
    {
        problems.push(entry.error(
            Some("datapoints_to_alarm"),
            "must be between 1 and evaluation_periods",
        ));
    }
    let period = spec.period.or_else(|| {
        let metrics = spec.metrics.as_ref()?;
        metrics
            .iter()
            .filter_map(|m| m.metric_stat.as_ref().map(|s| s.period).or(m.period))
            .max()
    });
    // Saturating: a hostile `period = 9223372036854775807` must be a message, not an overflow.
    if let Some(period) = period
        && period.saturating_mul(spec.evaluation_periods) > MAX_EVALUATION_SECONDS
    {
        problems.push(entry.error(
            Some("evaluation_periods"),
            format!(
                "period × evaluation_periods is {} seconds; AWS allows {MAX_EVALUATION_SECONDS} (one day)",
                period.saturating_mul(spec.evaluation_periods)
            ),
        ));
    }
    if let Some(treat) = &spec.treat_missing_data
        && !TREAT_MISSING.contains(&treat.as_str())
    {
        problems.push(entry.error(
            Some("treat_missing_data"),
            format!("`{treat}` is not one of {}", quoted(TREAT_MISSING)),
        ));
    }
    if let Some(unit) = &spec.unit
        && !StandardUnit::values().contains(&unit.as_str())
    {
        problems.push(entry.error(
            Some("unit"),
            format!("`{unit}` is not a CloudWatch unit (such as `Percent`, `Bytes`, `Count`)"),
        ));
    }
    if let Some(low) = &spec.evaluate_low_sample_count_percentile
        && !["evaluate", "ignore"].contains(&low.as_str())
    {
        problems.push(entry.error(
            Some("evaluate_low_sample_count_percentile"),
            "must be `evaluate` or `ignore`",
        ));
    }
    if spec
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1024)
    {
        problems.push(entry.error(Some("description"), "AWS allows at most 1024 characters"));
    }
}

fn check_actions(entry: &Entry, spec: &Spec, problems: &mut Vec<Diagnostic>) {
    for (field, actions) in [
        ("alarm_actions", &spec.alarm_actions),
        ("ok_actions", &spec.ok_actions),
        ("insufficient_data_actions", &spec.insufficient_data_actions),
    ] {
        if actions.len() > MAX_ACTIONS_PER_STATE {
            problems.push(entry.error(
                Some(field),
                format!("AWS allows at most {MAX_ACTIONS_PER_STATE} actions per state"),
            ));
        }
        for action in actions {
            if !ACTION_ARN.is_match(action) {
                problems.push(entry.error(Some(field), format!("`{action}` is not an alarm action ARN (SNS topic, EC2 action, Auto Scaling policy, ...)")));
            }
        }
    }
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

// --- the compared form ------------------------------------------------------------------

fn number(value: Option<i64>) -> Value {
    value.map_or(Value::null(), |v| Value::Plain(json!(v)))
}

fn text(value: Option<&str>) -> Value {
    value.filter(|v| !v.is_empty()).map_or(Value::null(), Value::text)
}

fn set(items: &[String]) -> Value {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    Value::Plain(json!(items))
}

/// Both sides set the same fields in the same order; AWS's defaults are spelt out
/// (treat_missing_data `missing`, actions enabled) so that leaving them out shows no diff.
struct Fields<'a> {
    description: Option<&'a str>,
    namespace: Option<&'a str>,
    metric: Option<&'a str>,
    dimensions: BTreeMap<String, String>,
    statistic: Option<&'a str>,
    extended_statistic: Option<&'a str>,
    period: Option<i64>,
    evaluation_periods: Option<i64>,
    datapoints_to_alarm: Option<i64>,
    threshold: Option<f64>,
    threshold_metric_id: Option<&'a str>,
    comparison: Option<&'a str>,
    treat_missing_data: Option<&'a str>,
    unit: Option<&'a str>,
    evaluate_low_sample_count_percentile: Option<&'a str>,
    alarm_actions: &'a [String],
    ok_actions: &'a [String],
    insufficient_data_actions: &'a [String],
    actions_enabled: Option<bool>,
    metrics: Vec<MetricQuery>,
}

impl Fields<'_> {
    fn into_resource(self, name: &str) -> Resource {
        let mut r = Resource::new(KIND, name);
        r.set("description", text(self.description));
        r.set("namespace", text(self.namespace));
        r.set("metric", text(self.metric));
        r.set("dimensions", Value::Plain(json!(self.dimensions)));
        r.set("statistic", text(self.statistic));
        r.set("extended_statistic", text(self.extended_statistic));
        r.set("period", number(self.period));
        r.set("evaluation_periods", number(self.evaluation_periods));
        r.set("datapoints_to_alarm", number(self.datapoints_to_alarm));
        r.set(
            "threshold",
            self.threshold.map_or(Value::null(), |t| Value::Plain(json!(t))),
        );
        r.set("threshold_metric_id", text(self.threshold_metric_id));
        r.set("comparison", text(self.comparison));
        r.set(
            "treat_missing_data",
            Value::text(self.treat_missing_data.unwrap_or("missing")),
        );
        r.set("unit", text(self.unit));
        r.set(
            "evaluate_low_sample_count_percentile",
            text(self.evaluate_low_sample_count_percentile),
        );
        r.set("alarm_actions", set(self.alarm_actions));
        r.set("ok_actions", set(self.ok_actions));
        r.set("insufficient_data_actions", set(self.insufficient_data_actions));
        r.set(
            "actions_enabled",
            Value::Plain(json!(self.actions_enabled.unwrap_or(true))),
        );
        let metrics = if self.metrics.is_empty() {
            Json::Null
        } else {
            json!(self.metrics)
        };
        r.set("metrics", Value::Plain(metrics));
        r
    }
}

fn desired_resource(name: &str, spec: Spec) -> Resource {
    let fields = Fields {
        description: spec.description.as_deref(),
        namespace: spec.namespace.as_deref(),
        metric: spec.metric.as_deref(),
        dimensions: spec.dimensions.clone(),
        statistic: spec.statistic.as_deref(),
        extended_statistic: spec.extended_statistic.as_deref(),
        period: spec.period,
        evaluation_periods: Some(spec.evaluation_periods),
        datapoints_to_alarm: spec.datapoints_to_alarm,
        threshold: spec.threshold,
        threshold_metric_id: spec.threshold_metric_id.as_deref(),
        comparison: Some(&spec.comparison),
        treat_missing_data: spec.treat_missing_data.as_deref(),
        unit: spec.unit.as_deref(),
        evaluate_low_sample_count_percentile: spec.evaluate_low_sample_count_percentile.as_deref(),
        alarm_actions: &spec.alarm_actions,
        ok_actions: &spec.ok_actions,
        insufficient_data_actions: &spec.insufficient_data_actions,
        actions_enabled: spec.actions_enabled,
        metrics: spec.metrics.clone().unwrap_or_default(),
    };
    let mut resource = fields.into_resource(name);
    resource.protect = spec.protect;
    if let Some(tags) = &spec.tags {
        resource.set("tags", Value::Plain(json!(tags)));
    }
    resource
}

fn dimensions_of(dimensions: &[Dimension]) -> BTreeMap<String, String> {
    dimensions
        .iter()
        .filter_map(|d| Some((d.name.clone()?, d.value.clone()?)))
        .collect()
}

fn live_query(query: &MetricDataQuery) -> MetricQuery {
    MetricQuery {
        id: query.id.clone().unwrap_or_default(),
        expression: query.expression.clone(),
        metric_stat: query.metric_stat.as_ref().map(|stat| {
            let metric = stat.metric.as_ref();
            MetricStatSpec {
                namespace: metric.and_then(|m| m.namespace.clone()).unwrap_or_default(),
                metric: metric.and_then(|m| m.metric_name.clone()).unwrap_or_default(),
                dimensions: dimensions_of(metric.map(|m| m.dimensions()).unwrap_or_default()),
                period: stat.period.unwrap_or_default().into(),
                stat: stat.stat.clone().unwrap_or_default(),
                unit: stat.unit.as_ref().map(|u| u.as_str().to_string()),
            }
        }),
        label: query.label.clone(),
        return_data: query.return_data.unwrap_or(true),
        period: query.period.map(i64::from),
    }
}

fn live_resource(alarm: &MetricAlarm) -> Resource {
    let fields = Fields {
        description: alarm.alarm_description.as_deref(),
        namespace: alarm.namespace.as_deref(),
        metric: alarm.metric_name.as_deref(),
        dimensions: dimensions_of(alarm.dimensions()),
        statistic: alarm.statistic.as_ref().map(|s| s.as_str()),
        extended_statistic: alarm.extended_statistic.as_deref(),
        period: alarm.period.map(i64::from),
        evaluation_periods: alarm.evaluation_periods.map(i64::from),
        datapoints_to_alarm: alarm.datapoints_to_alarm.map(i64::from),
        threshold: alarm.threshold,
        threshold_metric_id: alarm.threshold_metric_id.as_deref(),
        comparison: alarm.comparison_operator.as_ref().map(|c| c.as_str()),
        treat_missing_data: alarm.treat_missing_data.as_deref(),
        unit: alarm.unit.as_ref().map(|u| u.as_str()),
        evaluate_low_sample_count_percentile: alarm.evaluate_low_sample_count_percentile.as_deref(),
        alarm_actions: alarm.alarm_actions(),
        ok_actions: alarm.ok_actions(),
        insufficient_data_actions: alarm.insufficient_data_actions(),
        actions_enabled: alarm.actions_enabled,
        metrics: alarm.metrics().iter().map(live_query).collect(),
    };
    let mut resource = fields.into_resource(alarm.alarm_name.as_deref().unwrap_or_default());
    resource.version = alarm
        .alarm_configuration_updated_timestamp
        .map(|t| format!("updated {t}"));
    resource
}

// --- reading ----------------------------------------------------------------------------

async fn describe(client: &Client, prefix: &str) -> Result<Vec<MetricAlarm>, AwsError> {
    // One filter per call: AWS combines them, but moto applies only the first.
    let pages: Vec<_> = client
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .alarm_types(AlarmType::MetricAlarm)
        .max_records(100)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeAlarms", prefix, e))?;
    Ok(pages
        .into_iter()
        .flat_map(|p| p.metric_alarms.unwrap_or_default())
        .collect())
}

async fn read_declared_tags(
    client: &Client,
    live: &mut BTreeMap<String, (Resource, Option<String>)>,
    desired: &[&Resource],
) -> Result<(), AwsError> {
    let wanted: Vec<(String, String)> = desired
        .iter()
        .filter(|d| d.field("tags").is_some())
        .filter_map(|d| Some((d.name.clone(), live.get(&d.name)?.1.clone()?)))
        .collect();
    let reads = wanted.into_iter().map(|(name, arn)| async move {
        let output = client
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTagsForResource", &name, e))?;
        let tags: BTreeMap<String, String> = output
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value?)))
            .collect();
        Ok::<_, AwsError>((name, tags))
    });
    let tags: Vec<_> = futures::stream::iter(reads)
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    for (name, tags) in tags {
        if let Some((resource, _)) = live.get_mut(&name) {
            resource.set("tags", Value::Plain(json!(tags)));
        }
    }
    Ok(())
}

// --- writing ----------------------------------------------------------------------------

fn dimension_list(dimensions: &BTreeMap<String, String>) -> Vec<Dimension> {
    dimensions
        .iter()
        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
        .collect()
}

fn query_of(query: &MetricQuery) -> MetricDataQuery {
    let stat = query.metric_stat.as_ref().map(|s| {
        let metric = Metric::builder()
            .namespace(&s.namespace)
            .metric_name(&s.metric)
            .set_dimensions(Some(dimension_list(&s.dimensions)))
            .build();
        MetricStat::builder()
            .metric(metric)
            .period(s.period as i32)
            .stat(&s.stat)
            .set_unit(s.unit.as_deref().map(StandardUnit::from))
            .build()
    });
    MetricDataQuery::builder()
        .id(&query.id)
        .set_expression(query.expression.clone())
        .set_metric_stat(stat)
        .set_label(query.label.clone())
        .return_data(query.return_data)
        .set_period(query.period.map(|p| p as i32))
        .build()
}

/// PutMetricAlarm with every declared field: it replaces the whole alarm.
async fn put(client: &Client, change: &Change, with_tags: bool) -> Result<(), AwsError> {
    let desired = change
        .desired
        .as_deref()
        .expect("create and update carry the desired resource");
    let text = |field: &str| desired.decode::<String>(field);
    let int = |field: &str| desired.decode::<i64>(field).map(|v| v as i32);
    let dimensions: BTreeMap<String, String> = desired.decode("dimensions").unwrap_or_default();
    let metrics: Vec<MetricQuery> = desired.decode("metrics").unwrap_or_default();
    let tags: BTreeMap<String, String> = desired.decode("tags").unwrap_or_default();
    let mut request = client
        .put_metric_alarm()
        .alarm_name(&change.name)
        .set_alarm_description(text("description"))
        .set_namespace(text("namespace"))
        .set_metric_name(text("metric"))
        .set_statistic(text("statistic").map(|s| Statistic::from(s.as_str())))
        .set_extended_statistic(text("extended_statistic"))
        .set_period(int("period"))
        .set_evaluation_periods(int("evaluation_periods"))
        .set_datapoints_to_alarm(int("datapoints_to_alarm"))
        .set_threshold(desired.decode("threshold"))
        .set_threshold_metric_id(text("threshold_metric_id"))
        .set_comparison_operator(text("comparison").map(|c| ComparisonOperator::from(c.as_str())))
        .set_treat_missing_data(text("treat_missing_data"))
        .set_unit(text("unit").map(|u| StandardUnit::from(u.as_str())))
        .set_evaluate_low_sample_count_percentile(text("evaluate_low_sample_count_percentile"))
        .set_alarm_actions(desired.decode("alarm_actions"))
        .set_ok_actions(desired.decode("ok_actions"))
        .set_insufficient_data_actions(desired.decode("insufficient_data_actions"))
        .set_actions_enabled(desired.decode("actions_enabled"));
    if !dimensions.is_empty() {
        request = request.set_dimensions(Some(dimension_list(&dimensions)));
    }
    if !metrics.is_empty() {
        request = request.set_metrics(Some(metrics.iter().map(query_of).collect()));
    }
    if with_tags && !tags.is_empty() {
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
        request = request.set_tags(Some(tags.collect()));
    }
    request
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutMetricAlarm", &change.name, e))?;
    Ok(())
}

async fn update_tags(client: &Client, change: &Change) -> Result<(), AwsError> {
    let (Some(desired), Some(live)) = (change.desired.as_deref(), change.live.as_deref()) else {
        return Ok(());
    };
    let arn = alarm_arn(client, &change.name).await?;
    let want: BTreeMap<String, String> = desired.decode("tags").unwrap_or_default();
    let have: BTreeMap<String, String> = live.decode("tags").unwrap_or_default();
    let (removed, set) = kinds::tag_changes(&have, &want);
    let added: Vec<Tag> = set
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    if !removed.is_empty() {
        client
            .untag_resource()
            .resource_arn(&arn)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UntagResource", &change.name, e))?;
    }
    if !added.is_empty() {
        client
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(added))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("TagResource", &change.name, e))?;
    }
    Ok(())
}

async fn alarm_arn(client: &Client, name: &str) -> Result<String, AwsError> {
    let output = client
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeAlarms", name, e))?;
    let arn = output.metric_alarms().first().and_then(|a| a.alarm_arn.clone());
    arn.ok_or_else(|| AwsError {
        operation: "DescribeAlarms",
        resource: name.to_string(),
        code: "ResourceNotFound".into(),
        message: "the alarm disappeared while its tags were being changed".into(),
    })
}

/// DeleteAlarms ignores names that do not exist, so a second apply finishes the job.
async fn delete(client: &Client, name: &str) -> Result<(), AwsError> {
    client
        .delete_alarms()
        .alarm_names(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteAlarms", name, e))?;
    Ok(())
}
