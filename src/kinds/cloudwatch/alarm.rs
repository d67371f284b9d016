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
    AlarmType, ComparisonOperator, CompositeAlarm, Dimension, Metric, MetricAlarm, MetricDataQuery,
    MetricStat, StandardUnit, Statistic, Tag,
};
use futures::{StreamExt, TryStreamExt};
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::aws::{AwsError, SdkResult, Session};
use crate::kinds::cloudwatch::composite::{self, Composite};
use crate::kinds::sns;
use crate::kinds::{self, Declarations, Declared, Fields, ImportContext, Imported, Kind, Live, Op, Steps};
use crate::scope::{Rule, Shape};
use crate::source::{Diagnostic, Entry};

pub struct Alarms;

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
    Regex::new(r"^arn:aws[\w-]*:(sns:[\w-]+:\d{12}:[\w.-]+|automate:[\w-]+:ec2:(stop|terminate|reboot|recover)|swf:[\w-]+:\d{12}:action/actions/AWS_EC2\.InstanceId\.(Stop|Terminate|Reboot)/1\.0|autoscaling:[\w-]+:\d{12}:scalingPolicy:.+|ssm:[\w-]+:\d{12}:opsitem:.+|ssm-incidents::\d{12}:responseplan/.+|lambda:[\w-]+:\d{12}:function:.+)$").expect("valid")
});
static METRIC_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-zA-Z0-9_]{0,254}$").expect("valid"));

/// A CloudWatch alarm: `[alarms.NAME]`. On one metric (`namespace`, `metric`, `statistic` or
/// `extended_statistic`), on metric math (`metrics`), or composite (`rule`).
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// The alarm's description.
    description: Option<String>,
    /// The metric's namespace, e.g. `AWS/RDS`.
    namespace: Option<String>,
    /// The metric's name, e.g. `CPUUtilization`.
    metric: Option<String>,
    /// The metric's dimensions, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    dimensions: BTreeMap<String, String>,
    /// The statistic (or `extended_statistic`).
    #[schemars(extend("enum" = STATISTICS))]
    statistic: Option<String>,
    /// A percentile or trimmed statistic, e.g. `p99` (or `statistic`).
    extended_statistic: Option<String>,
    /// Seconds: 10, 20, 30 or a multiple of 60.
    period: Option<i64>,
    /// How many periods are evaluated (period × evaluation periods at most a day, or seven
    /// days for periods of an hour or more).
    evaluation_periods: Option<i64>,
    /// How many of the evaluated periods must breach (at most `evaluation_periods`).
    datapoints_to_alarm: Option<i64>,
    /// The threshold (or `threshold_metric_id` for an anomaly band).
    threshold: Option<f64>,
    /// The id of the `metrics` entry that is the anomaly detection band.
    threshold_metric_id: Option<String>,
    /// How the statistic is compared with the threshold.
    #[schemars(extend("enum" = COMPARISONS))]
    comparison: Option<String>,
    /// How missing data counts; default `missing`.
    #[schemars(extend("enum" = TREAT_MISSING))]
    treat_missing_data: Option<String>,
    /// The metric's unit, e.g. `Percent`.
    unit: Option<String>,
    /// For percentiles: `evaluate` or `ignore` when there are too few samples.
    #[schemars(extend("enum" = ["evaluate", "ignore"]))]
    evaluate_low_sample_count_percentile: Option<String>,
    /// Actions in the ALARM state (at most 5): `topic:<name>` for a topic declared here, or ARNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    alarm_actions: Vec<String>,
    /// Actions in the OK state (at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ok_actions: Vec<String>,
    /// Actions in the INSUFFICIENT_DATA state (at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    insufficient_data_actions: Vec<String>,
    /// Whether actions run; default true.
    actions_enabled: Option<bool>,
    /// Metric math: queries and expressions, exactly one returning data (two for an anomaly
    /// band).
    metrics: Option<Vec<MetricQuery>>,
    /// Tags; managed only when declared.
    tags: Option<BTreeMap<String, String>>,
    /// A composite alarm's rule over other alarms' states, e.g.
    /// `ALARM("a") AND NOT OK("b")` (then no metric fields).
    rule: Option<String>,
    /// A composite alarm's suppressor: an alarm whose ALARM state silences this one's actions.
    actions_suppressor: Option<String>,
    /// Seconds the suppressor may take to go into ALARM.
    actions_suppressor_wait_period: Option<i64>,
    /// Seconds the suppression lasts after the suppressor leaves ALARM.
    actions_suppressor_extension_period: Option<i64>,
    /// Never delete or replace it, even when it is removed from desired/.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    protect: bool,
}

/// One entry of a metric-math alarm's `metrics`: a metric (`metric_stat`) or an
/// `expression`.
// Also the normalised form compared in plans.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricQuery {
    /// The entry's id: a lowercase letter, then letters, digits and `_`; unique in the alarm.
    id: String,
    /// A metric math expression over other ids, e.g. `100 * used / (used + free)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    expression: Option<String>,
    /// The metric this entry reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    metric_stat: Option<MetricStatSpec>,
    /// A label for the entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    /// Whether this entry is what the alarm watches; default true.
    #[serde(default = "yes")]
    return_data: bool,
    /// An expression's period, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    period: Option<i64>,
}

/// A metric read by a metric-math entry.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricStatSpec {
    /// The metric's namespace, e.g. `AWS/ES`.
    namespace: String,
    /// The metric's name.
    metric: String,
    /// The metric's dimensions, by name.
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    /// Seconds: 10, 20, 30 or a multiple of 60.
    period: i64,
    /// A statistic or extended statistic, e.g. `Maximum` or `p99`.
    stat: String,
    /// The metric's unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
}

fn yes() -> bool {
    true
}

/// A metric alarm as compared: AWS's defaults spelt out (treat_missing_data `missing`,
/// actions enabled) so that leaving them out shows no diff, empty texts as none, action lists
/// as sets. Tags are managed only when declared. The plan shows the fields in this order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alarm {
    pub description: Option<String>,
    pub namespace: Option<String>,
    pub metric: Option<String>,
    pub dimensions: BTreeMap<String, String>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub period: Option<i64>,
    pub evaluation_periods: Option<i64>,
    pub datapoints_to_alarm: Option<i64>,
    pub threshold: Option<f64>,
    pub threshold_metric_id: Option<String>,
    pub comparison: Option<String>,
    pub treat_missing_data: String,
    pub unit: Option<String>,
    pub evaluate_low_sample_count_percentile: Option<String>,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub actions_enabled: bool,
    /// Metric math; `None` for a single-metric alarm.
    pub metrics: Option<Vec<MetricQuery>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

/// An alarm: on a metric (or metric math), or composite (a rule over other alarms). One table,
/// one scope; AWS keeps them apart, so turning one into the other is a replacement.
// Specs live behind the payload's Arc, one per alarm: boxing the larger variant would only
// add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AlarmSpec {
    Metric(Alarm),
    Composite(Composite),
}

impl AlarmSpec {
    fn actions(&self) -> [&Vec<String>; 3] {
        match self {
            AlarmSpec::Metric(a) => [&a.alarm_actions, &a.ok_actions, &a.insufficient_data_actions],
            AlarmSpec::Composite(c) => [&c.alarm_actions, &c.ok_actions, &c.insufficient_data_actions],
        }
    }

    fn actions_mut(&mut self) -> [&mut Vec<String>; 3] {
        match self {
            AlarmSpec::Metric(a) => [
                &mut a.alarm_actions,
                &mut a.ok_actions,
                &mut a.insufficient_data_actions,
            ],
            AlarmSpec::Composite(c) => [
                &mut c.alarm_actions,
                &mut c.ok_actions,
                &mut c.insufficient_data_actions,
            ],
        }
    }

    fn tags(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            AlarmSpec::Metric(a) => a.tags.as_ref(),
            AlarmSpec::Composite(c) => c.tags.as_ref(),
        }
    }

    fn set_tags(&mut self, tags: BTreeMap<String, String>) {
        match self {
            AlarmSpec::Metric(a) => a.tags = Some(tags),
            AlarmSpec::Composite(c) => c.tags = Some(tags),
        }
    }

    /// The spec without its tags (which AWS changes apart).
    fn untagged(&self) -> AlarmSpec {
        let mut spec = self.clone();
        match &mut spec {
            AlarmSpec::Metric(a) => a.tags = None,
            AlarmSpec::Composite(c) => c.tags = None,
        }
        spec
    }
}

#[async_trait]
impl Kind for Alarms {
    const NOUN: &'static str = "alarm";
    const TABLE: &'static str = "alarms";
    const SCOPE: Rule = Rule {
        setting: "alarm_prefixes",
        shape: Shape::Prefixes,
        account_wide: false,
        allows: |c| !c.is_control(),
        allowed: "no control characters",
    };
    type Declaration = Declaration;
    type Spec = AlarmSpec;

    fn parse(&self, entry: &Entry, declaration: Declaration) -> Result<Declared<AlarmSpec>, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        check_name(entry, &mut problems);
        match &declaration.rule {
            Some(rule) => check_composite(entry, rule, &declaration, &mut problems),
            None => {
                check_metric(entry, &declaration, &mut problems);
                check_evaluation(entry, &declaration, &mut problems);
            }
        }
        check_actions(entry, &declaration, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        let protect = declaration.protect;
        let references = [
            sns::references(&declaration.alarm_actions, "alarm_actions"),
            sns::references(&declaration.ok_actions, "ok_actions"),
            sns::references(
                &declaration.insufficient_data_actions,
                "insufficient_data_actions",
            ),
        ]
        .concat();
        let spec = match declaration.rule.is_some() {
            true => AlarmSpec::Composite(desired_composite(declaration)),
            false => AlarmSpec::Metric(desired_alarm(declaration)),
        };
        let mut declared = Declared::new(spec).protect(protect);
        declared.references = references;
        Ok(declared)
    }

    fn fields(&self, spec: &AlarmSpec) -> Fields {
        Fields::of(spec)
    }

    /// Composite alarms come after the alarms their rules name: created after, deleted before.
    fn tier(&self, spec: &AlarmSpec) -> u8 {
        match spec {
            AlarmSpec::Metric(_) => 0,
            AlarmSpec::Composite(_) => 1,
        }
    }

    /// A composite alarm after the alarms its rule names (composites naming composites too).
    fn after(&self, spec: &AlarmSpec) -> Vec<String> {
        match spec {
            AlarmSpec::Metric(_) => Vec::new(),
            AlarmSpec::Composite(c) => composite::alarms_in_rule(&c.rule).unwrap_or_default(),
        }
    }

    fn has_references(&self, spec: &AlarmSpec) -> bool {
        spec.actions()
            .into_iter()
            .any(|actions| sns::any_reference(actions))
    }

    fn resolve(&self, spec: &mut AlarmSpec, region: &str, account: &str) {
        for actions in spec.actions_mut() {
            sns::resolve(actions, region, account);
            *actions = set(actions);
        }
    }

    async fn fetch(
        &self,
        session: &Session,
        declared: &Declarations<'_, AlarmSpec>,
    ) -> Result<Vec<Live<AlarmSpec>>, AwsError> {
        let client = session.client::<Client>();
        let mut live: BTreeMap<String, (Live<AlarmSpec>, Option<String>)> = BTreeMap::new();
        for prefix in session.env.scope.values(Self::SCOPE.setting) {
            let (metric, composite) = describe(&client, prefix).await?;
            let metric = metric.iter().map(|a| {
                let live = live_alarm(a);
                let live = Live::new(live.name, AlarmSpec::Metric(live.spec)).version(live.version);
                (live.name.clone(), (live, a.alarm_arn.clone()))
            });
            let composite = composite.iter().filter_map(|a| {
                let name = a.alarm_name.clone()?;
                let version = a
                    .alarm_configuration_updated_timestamp
                    .map(|t| format!("updated {t}"));
                let spec = AlarmSpec::Composite(composite::live_composite(a));
                Some((
                    name.clone(),
                    (Live::new(name, spec).version(version), a.alarm_arn.clone()),
                ))
            });
            live.extend(metric.chain(composite));
        }
        live.retain(|name, _| Self::SCOPE.covers(&session.env.scope, name));
        read_declared_tags(&client, &mut live, declared).await?;
        Ok(live.into_values().map(|(alarm, _)| alarm).collect())
    }

    fn replace_reasons(&self, live: &AlarmSpec, desired: &AlarmSpec) -> Vec<String> {
        let same_type = matches!(
            (live, desired),
            (AlarmSpec::Metric(_), AlarmSpec::Metric(_)) | (AlarmSpec::Composite(_), AlarmSpec::Composite(_))
        );
        match same_type {
            true => Vec::new(),
            false => vec!["AWS cannot turn a metric alarm into a composite alarm or back".into()],
        }
    }

    fn import(&self, _: &str, live: &AlarmSpec, _: &ImportContext) -> Imported {
        match live {
            AlarmSpec::Metric(alarm) => Imported::of(&declaration_of(alarm.clone())),
            AlarmSpec::Composite(composite) => Imported::of(&composite_declaration(composite.clone())),
        }
    }

    async fn apply(&self, session: &Session, op: Op<'_, AlarmSpec>) -> Result<(), AwsError> {
        let client = session.client::<Client>();
        match op {
            Op::Delete { name, .. } => delete(&client, name).await,
            Op::Create { name, desired } => put_any(&client, name, desired, true).await,
            Op::Replace {
                name,
                live_name,
                desired,
                ..
            } => {
                // A metric alarm cannot become a composite one (or back) under the same name.
                let create = put_any(&client, name, desired, true);
                kinds::delete_then_create(live_name, delete(&client, live_name), create).await
            }
            Op::Update { name, live, desired } => {
                let mut steps = Steps::default();
                if live.untagged() != desired.untagged() {
                    steps
                        .step("updated the alarm", put_any(&client, name, desired, false))
                        .await?;
                }
                if let Some(tags) = desired.tags()
                    && live.tags() != Some(tags)
                {
                    let live_tags = live.tags().cloned().unwrap_or_default();
                    steps
                        .step("", update_tags(&client, name, &live_tags, tags))
                        .await?;
                }
                Ok(())
            }
        }
    }
}

async fn put_any(client: &Client, name: &str, desired: &AlarmSpec, with_tags: bool) -> Result<(), AwsError> {
    match desired {
        AlarmSpec::Metric(alarm) => put(client, name, alarm, with_tags).await,
        AlarmSpec::Composite(composite) => composite::put(client, name, composite, with_tags).await,
    }
}

// --- validation -----------------------------------------------------------------------

fn check_name(entry: &Entry, problems: &mut Vec<Diagnostic>) {
    let name = entry.name;
    if name.is_empty() || name.chars().count() > 255 {
        problems.push(entry.error(None, "an alarm name must be 1 to 255 characters"));
    }
    if name.chars().any(char::is_control) {
        problems.push(entry.error(None, "an alarm name must not contain control characters"));
    }
    kinds::check_in_scope(entry, &Alarms::SCOPE, problems);
}

/// A composite alarm: a rule AWS accepts, and none of a metric alarm's fields.
fn check_composite(entry: &Entry, rule: &str, d: &Declaration, problems: &mut Vec<Diagnostic>) {
    match composite::alarms_in_rule(rule) {
        Ok(alarms) if alarms.iter().any(|a| a == entry.name) => {
            problems.push(entry.error(
                Some("rule"),
                "a composite alarm's rule cannot name the alarm itself",
            ));
        }
        Ok(_) => {}
        Err(why) => problems.push(entry.error(Some("rule"), why)),
    }
    let metric_fields = [
        ("namespace", d.namespace.is_some()),
        ("metric", d.metric.is_some()),
        ("metrics", d.metrics.is_some()),
        ("dimensions", !d.dimensions.is_empty()),
        ("statistic", d.statistic.is_some()),
        ("extended_statistic", d.extended_statistic.is_some()),
        ("period", d.period.is_some()),
        ("evaluation_periods", d.evaluation_periods.is_some()),
        ("datapoints_to_alarm", d.datapoints_to_alarm.is_some()),
        ("threshold", d.threshold.is_some()),
        ("threshold_metric_id", d.threshold_metric_id.is_some()),
        ("comparison", d.comparison.is_some()),
        ("treat_missing_data", d.treat_missing_data.is_some()),
        ("unit", d.unit.is_some()),
        (
            "evaluate_low_sample_count_percentile",
            d.evaluate_low_sample_count_percentile.is_some(),
        ),
    ];
    for (field, _) in metric_fields.iter().filter(|(_, set)| *set) {
        let message = "a composite alarm (one with `rule`) has no metric fields";
        problems.push(entry.error(Some(field), message));
    }
    if d.description.as_ref().is_some_and(|t| t.chars().count() > 1024) {
        problems.push(entry.error(Some("description"), "AWS allows at most 1024 characters"));
    }
    if d.actions_suppressor.as_deref() == Some(entry.name) {
        problems.push(entry.error(
            Some("actions_suppressor"),
            "an alarm cannot suppress its own actions",
        ));
    }
    for (field, period) in [
        ("actions_suppressor_wait_period", d.actions_suppressor_wait_period),
        (
            "actions_suppressor_extension_period",
            d.actions_suppressor_extension_period,
        ),
    ] {
        if period.is_some_and(|p| !(1..=i64::from(i32::MAX)).contains(&p)) {
            problems.push(entry.error(Some(field), "must be a number of seconds from 1 to 2147483647"));
        }
    }
    let suppressor_periods =
        d.actions_suppressor_wait_period.is_some() || d.actions_suppressor_extension_period.is_some();
    if suppressor_periods && d.actions_suppressor.is_none() {
        problems.push(entry.error(
            Some("actions_suppressor"),
            "the suppressor's wait and extension periods need `actions_suppressor`",
        ));
    }
}

fn check_metric(entry: &Entry, spec: &Declaration, problems: &mut Vec<Diagnostic>) {
    if let Some(field) = [
        ("actions_suppressor", spec.actions_suppressor.is_some()),
        (
            "actions_suppressor_wait_period",
            spec.actions_suppressor_wait_period.is_some(),
        ),
        (
            "actions_suppressor_extension_period",
            spec.actions_suppressor_extension_period.is_some(),
        ),
    ]
    .into_iter()
    .find_map(|(field, set)| set.then_some(field))
    {
        problems.push(entry.error(
            Some(field),
            "only a composite alarm (one with `rule`) has an actions suppressor",
        ));
    }
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

/// AWS: 10, 20, 30 or a multiple of 60 seconds, at most a day.
fn check_period(entry: &Entry, field: &str, period: i64, problems: &mut Vec<Diagnostic>) {
    if !(matches!(period, 10 | 20 | 30)
        || (period > 0 && period % 60 == 0 && period <= MAX_EVALUATION_SECONDS))
    {
        problems.push(entry.error(
            Some(field),
            format!("period {period} must be 10, 20, 30 or a multiple of 60 seconds, at most a day"),
        ));
    }
}

fn check_evaluation(entry: &Entry, spec: &Declaration, problems: &mut Vec<Diagnostic>) {
    match &spec.comparison {
        None => problems.push(entry.error(None, "a metric alarm needs `comparison`")),
        Some(comparison) if !COMPARISONS.contains(&comparison.as_str()) => problems.push(entry.error(
            Some("comparison"),
            format!("`{comparison}` is not one of {}", quoted(COMPARISONS)),
        )),
        Some(_) => {}
    }
    let Some(evaluation_periods) = spec.evaluation_periods else {
        problems.push(entry.error(None, "a metric alarm needs `evaluation_periods`"));
        return;
    };
    check_evaluation_periods(entry, spec, evaluation_periods, problems);
}

fn check_evaluation_periods(
    entry: &Entry,
    spec: &Declaration,
    evaluation_periods: i64,
    problems: &mut Vec<Diagnostic>,
) {
    if evaluation_periods < 1 {
        problems.push(entry.error(Some("evaluation_periods"), "must be at least 1"));
    } else if evaluation_periods > MAX_EVALUATION_SECONDS / 10 {
        let message = format!(
            "must be at most {} (AWS evaluates at most a day)",
            MAX_EVALUATION_SECONDS / 10
        );
        problems.push(entry.error(Some("evaluation_periods"), message));
    }
    if let Some(datapoints) = spec.datapoints_to_alarm
        && !(1..=evaluation_periods).contains(&datapoints)
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
    // AWS evaluates at most a day, or seven days for periods of an hour or more.
    let (limit, said) = match period {
        Some(p) if p >= 3600 => (
            7 * MAX_EVALUATION_SECONDS,
            "seven days, for periods of an hour or more",
        ),
        _ => (MAX_EVALUATION_SECONDS, "one day"),
    };
    if let Some(period) = period
        && period.saturating_mul(evaluation_periods) > limit
    {
        problems.push(entry.error(
            Some("evaluation_periods"),
            format!(
                "period × evaluation_periods is {} seconds; AWS allows {limit} ({said})",
                period.saturating_mul(evaluation_periods)
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

fn check_actions(entry: &Entry, spec: &Declaration, problems: &mut Vec<Diagnostic>) {
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
            if let Some(topic) = sns::referenced(action) {
                if topic.is_empty() {
                    problems.push(entry.error(Some(field), "`topic:` names no topic"));
                }
                continue;
            }
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

fn text(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_string)
}

fn set(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items
}

fn math(metrics: Vec<MetricQuery>) -> Option<Vec<MetricQuery>> {
    (!metrics.is_empty()).then_some(metrics)
}

fn desired_alarm(d: Declaration) -> Alarm {
    Alarm {
        description: text(d.description.as_deref()),
        namespace: text(d.namespace.as_deref()),
        metric: text(d.metric.as_deref()),
        dimensions: d.dimensions,
        statistic: text(d.statistic.as_deref()),
        extended_statistic: text(d.extended_statistic.as_deref()),
        period: d.period,
        evaluation_periods: d.evaluation_periods,
        datapoints_to_alarm: d.datapoints_to_alarm,
        threshold: d.threshold,
        threshold_metric_id: text(d.threshold_metric_id.as_deref()),
        comparison: text(d.comparison.as_deref()),
        treat_missing_data: d.treat_missing_data.unwrap_or_else(|| "missing".into()),
        unit: text(d.unit.as_deref()),
        evaluate_low_sample_count_percentile: text(d.evaluate_low_sample_count_percentile.as_deref()),
        alarm_actions: set(&d.alarm_actions),
        ok_actions: set(&d.ok_actions),
        insufficient_data_actions: set(&d.insufficient_data_actions),
        actions_enabled: d.actions_enabled.unwrap_or(true),
        metrics: math(d.metrics.unwrap_or_default()),
        tags: d.tags,
    }
}

fn desired_composite(d: Declaration) -> Composite {
    Composite {
        description: text(d.description.as_deref()),
        rule: d.rule.unwrap_or_default(),
        alarm_actions: set(&d.alarm_actions),
        ok_actions: set(&d.ok_actions),
        insufficient_data_actions: set(&d.insufficient_data_actions),
        actions_enabled: d.actions_enabled.unwrap_or(true),
        actions_suppressor: text(d.actions_suppressor.as_deref()),
        actions_suppressor_wait_period: d.actions_suppressor_wait_period,
        actions_suppressor_extension_period: d.actions_suppressor_extension_period,
        tags: d.tags,
    }
}

/// The declaration of a live composite alarm (the inverse of [`desired_composite`]).
fn composite_declaration(c: Composite) -> Declaration {
    Declaration {
        description: c.description,
        namespace: None,
        metric: None,
        dimensions: BTreeMap::new(),
        statistic: None,
        extended_statistic: None,
        period: None,
        evaluation_periods: None,
        datapoints_to_alarm: None,
        threshold: None,
        threshold_metric_id: None,
        comparison: None,
        treat_missing_data: None,
        unit: None,
        evaluate_low_sample_count_percentile: None,
        alarm_actions: c.alarm_actions,
        ok_actions: c.ok_actions,
        insufficient_data_actions: c.insufficient_data_actions,
        actions_enabled: (!c.actions_enabled).then_some(false),
        metrics: None,
        tags: c.tags.filter(|t| !t.is_empty()),
        rule: Some(c.rule),
        actions_suppressor: c.actions_suppressor,
        actions_suppressor_wait_period: c.actions_suppressor_wait_period,
        actions_suppressor_extension_period: c.actions_suppressor_extension_period,
        protect: false,
    }
}

/// The declaration of a live alarm (the inverse of [`desired_alarm`]): AWS's defaults left out.
fn declaration_of(a: Alarm) -> Declaration {
    Declaration {
        description: a.description,
        namespace: a.namespace,
        metric: a.metric,
        dimensions: a.dimensions,
        statistic: a.statistic,
        extended_statistic: a.extended_statistic,
        period: a.period,
        evaluation_periods: a.evaluation_periods,
        datapoints_to_alarm: a.datapoints_to_alarm,
        threshold: a.threshold,
        threshold_metric_id: a.threshold_metric_id,
        comparison: a.comparison,
        treat_missing_data: Some(a.treat_missing_data).filter(|t| t != "missing"),
        unit: a.unit,
        evaluate_low_sample_count_percentile: a.evaluate_low_sample_count_percentile,
        alarm_actions: a.alarm_actions,
        ok_actions: a.ok_actions,
        insufficient_data_actions: a.insufficient_data_actions,
        actions_enabled: (!a.actions_enabled).then_some(false),
        metrics: a.metrics,
        tags: a.tags.filter(|t| !t.is_empty()),
        rule: None,
        actions_suppressor: None,
        actions_suppressor_wait_period: None,
        actions_suppressor_extension_period: None,
        protect: false,
    }
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

fn live_alarm(alarm: &MetricAlarm) -> Live<Alarm> {
    let spec = Alarm {
        description: text(alarm.alarm_description.as_deref()),
        namespace: text(alarm.namespace.as_deref()),
        metric: text(alarm.metric_name.as_deref()),
        dimensions: dimensions_of(alarm.dimensions()),
        statistic: text(alarm.statistic.as_ref().map(|s| s.as_str())),
        extended_statistic: text(alarm.extended_statistic.as_deref()),
        period: alarm.period.map(i64::from),
        evaluation_periods: alarm.evaluation_periods.map(i64::from),
        datapoints_to_alarm: alarm.datapoints_to_alarm.map(i64::from),
        threshold: alarm.threshold,
        threshold_metric_id: text(alarm.threshold_metric_id.as_deref()),
        comparison: text(alarm.comparison_operator.as_ref().map(|c| c.as_str())),
        treat_missing_data: text(alarm.treat_missing_data.as_deref()).unwrap_or_else(|| "missing".into()),
        unit: text(alarm.unit.as_ref().map(|u| u.as_str())),
        evaluate_low_sample_count_percentile: text(alarm.evaluate_low_sample_count_percentile.as_deref()),
        alarm_actions: set(alarm.alarm_actions()),
        ok_actions: set(alarm.ok_actions()),
        insufficient_data_actions: set(alarm.insufficient_data_actions()),
        actions_enabled: alarm.actions_enabled.unwrap_or(true),
        metrics: math(alarm.metrics().iter().map(live_query).collect()),
        tags: None,
    };
    let version = alarm
        .alarm_configuration_updated_timestamp
        .map(|t| format!("updated {t}"));
    Live::new(alarm.alarm_name.as_deref().unwrap_or_default(), spec).version(version)
}

// --- reading ----------------------------------------------------------------------------

/// The metric and composite alarms whose names start with `prefix`, in the same pages.
async fn describe(
    client: &Client,
    prefix: &str,
) -> Result<(Vec<MetricAlarm>, Vec<CompositeAlarm>), AwsError> {
    let pages: Vec<_> = client
        .describe_alarms()
        .alarm_name_prefix(prefix)
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .max_records(100)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws("DescribeAlarms", prefix)?;
    let (mut metric, mut composite) = (Vec::new(), Vec::new());
    for page in pages {
        metric.extend(page.metric_alarms.unwrap_or_default());
        composite.extend(page.composite_alarms.unwrap_or_default());
    }
    Ok((metric, composite))
}

async fn read_declared_tags(
    client: &Client,
    live: &mut BTreeMap<String, (Live<AlarmSpec>, Option<String>)>,
    declared: &Declarations<'_, AlarmSpec>,
) -> Result<(), AwsError> {
    let wanted: Vec<(String, String)> = live
        .iter()
        .filter(|(name, _)| {
            declared.reads_everything() || declared.get(name).is_some_and(|d| d.tags().is_some())
        })
        .filter_map(|(name, (_, arn))| Some((name.clone(), arn.clone()?)))
        .collect();
    let reads = wanted.into_iter().map(|(name, arn)| async move {
        let output = client
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .aws("ListTagsForResource", &name)?;
        let tags = kinds::declarable_tags(
            output
                .tags
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| Some((t.key?, t.value?))),
        );
        Ok::<_, AwsError>((name, tags))
    });
    let tags: Vec<_> = futures::stream::iter(reads)
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    for (name, tags) in tags {
        if let Some((alarm, _)) = live.get_mut(&name) {
            alarm.spec.set_tags(tags);
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
async fn put(client: &Client, name: &str, desired: &Alarm, with_tags: bool) -> Result<(), AwsError> {
    let int = |value: Option<i64>| value.map(|v| v as i32);
    let mut request = client
        .put_metric_alarm()
        .alarm_name(name)
        .set_alarm_description(desired.description.clone())
        .set_namespace(desired.namespace.clone())
        .set_metric_name(desired.metric.clone())
        .set_statistic(desired.statistic.as_deref().map(Statistic::from))
        .set_extended_statistic(desired.extended_statistic.clone())
        .set_period(int(desired.period))
        .set_evaluation_periods(int(desired.evaluation_periods))
        .set_datapoints_to_alarm(int(desired.datapoints_to_alarm))
        .set_threshold(desired.threshold)
        .set_threshold_metric_id(desired.threshold_metric_id.clone())
        .set_comparison_operator(desired.comparison.as_deref().map(ComparisonOperator::from))
        .treat_missing_data(&desired.treat_missing_data)
        .set_unit(desired.unit.as_deref().map(StandardUnit::from))
        .set_evaluate_low_sample_count_percentile(desired.evaluate_low_sample_count_percentile.clone())
        .set_alarm_actions(Some(desired.alarm_actions.clone()))
        .set_ok_actions(Some(desired.ok_actions.clone()))
        .set_insufficient_data_actions(Some(desired.insufficient_data_actions.clone()))
        .actions_enabled(desired.actions_enabled);
    if !desired.dimensions.is_empty() {
        request = request.set_dimensions(Some(dimension_list(&desired.dimensions)));
    }
    if let Some(metrics) = &desired.metrics {
        request = request.set_metrics(Some(metrics.iter().map(query_of).collect()));
    }
    if let Some(tags) = desired.tags.as_ref().filter(|t| with_tags && !t.is_empty()) {
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
        request = request.set_tags(Some(tags.collect()));
    }
    request.send().await.aws("PutMetricAlarm", name)?;
    Ok(())
}

async fn update_tags(
    client: &Client,
    name: &str,
    live: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let arn = &alarm_arn(client, name).await?;
    let untag = |keys| async {
        let request = client.untag_resource().resource_arn(arn).set_tag_keys(Some(keys));
        request.send().await.aws("UntagResource", name).map(drop)
    };
    let tag = |tags: BTreeMap<String, String>| async move {
        let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
        let request = client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.collect()));
        request.send().await.aws("TagResource", name).map(drop)
    };
    kinds::sync_tags(live, desired, untag, tag).await
}

async fn alarm_arn(client: &Client, name: &str) -> Result<String, AwsError> {
    // AWS answers metric alarms only unless asked for composite ones too.
    let output = client
        .describe_alarms()
        .alarm_names(name)
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .send()
        .await
        .aws("DescribeAlarms", name)?;
    let metric = output.metric_alarms().first().and_then(|a| a.alarm_arn.clone());
    let arn = metric.or_else(|| {
        output
            .composite_alarms()
            .first()
            .and_then(|a| a.alarm_arn.clone())
    });
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
        .aws("DeleteAlarms", name)?;
    Ok(())
}

/// Live-side normalisation, offline: what DescribeAlarms returns, read into the spec that a
/// declaration of the same alarm gives, so an unchanged alarm never shows a diff.
#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use aws_sdk_cloudwatch::types::{
        ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, Statistic,
    };

    use super::{Alarm, Declaration, MetricQuery, MetricStatSpec, desired_alarm, live_alarm};

    pub(crate) fn declared(toml: &str) -> Alarm {
        let declaration: Declaration = toml::from_str(toml).expect("a valid declaration");
        desired_alarm(declaration)
    }

    #[test]
    fn a_single_metric_alarm_reads_as_declared() {
        let want = declared(
            r#"
            namespace = "AWS/RDS"
            metric = "CPUUtilization"
            dimensions = { DBInstanceIdentifier = "db" }
            statistic = "Average"
            period = 300
            evaluation_periods = 2
            threshold = 80.0
            comparison = "GreaterThanThreshold"
            alarm_actions = ["arn:aws:sns:us-east-1:123456789012:b", "arn:aws:sns:us-east-1:123456789012:a"]
            "#,
        );
        // AWS's answer: defaults spelt out or left out, actions in its own order, an empty
        // description.
        let live = MetricAlarm::builder()
            .alarm_name("app-cpu")
            .alarm_description("")
            .namespace("AWS/RDS")
            .metric_name("CPUUtilization")
            .dimensions(
                Dimension::builder()
                    .name("DBInstanceIdentifier")
                    .value("db")
                    .build(),
            )
            .statistic(Statistic::Average)
            .period(300)
            .evaluation_periods(2)
            .threshold(80.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .alarm_actions("arn:aws:sns:us-east-1:123456789012:a")
            .alarm_actions("arn:aws:sns:us-east-1:123456789012:b")
            .actions_enabled(true)
            .build();
        let read = live_alarm(&live);
        assert_eq!(read.name, "app-cpu");
        assert_eq!(read.spec, want);
        assert_eq!(read.spec.treat_missing_data, "missing");
    }

    #[test]
    fn a_metric_math_alarm_reads_as_declared() {
        let want = declared(
            r#"
            evaluation_periods = 1
            threshold = 1.0
            comparison = "GreaterThanThreshold"
            treat_missing_data = "notBreaching"
            metrics = [
              { id = "errors", metric_stat = { namespace = "App", metric = "Errors", period = 60, stat = "Sum" }, return_data = false },
              { id = "rate", expression = "errors / 60", label = "per second" },
            ]
            "#,
        );
        let stat = MetricStat::builder()
            .metric(Metric::builder().namespace("App").metric_name("Errors").build())
            .period(60)
            .stat("Sum")
            .build();
        let live = MetricAlarm::builder()
            .alarm_name("app-errors")
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .treat_missing_data("notBreaching")
            .metrics(
                MetricDataQuery::builder()
                    .id("errors")
                    .metric_stat(stat)
                    .return_data(false)
                    .build(),
            )
            .metrics(
                MetricDataQuery::builder()
                    .id("rate")
                    .expression("errors / 60")
                    .label("per second")
                    .build(),
            )
            .build();
        let read = live_alarm(&live).spec;
        assert_eq!(read, want);
        let math = read.metrics.expect("metric math");
        assert_eq!(
            math[0],
            MetricQuery {
                id: "errors".into(),
                expression: None,
                metric_stat: Some(MetricStatSpec {
                    namespace: "App".into(),
                    metric: "Errors".into(),
                    dimensions: BTreeMap::new(),
                    period: 60,
                    stat: "Sum".into(),
                    unit: None,
                }),
                label: None,
                return_data: false,
                period: None,
            }
        );
    }
}
