//! AWS Budgets (`[budgets."NAME"]`) with their notifications and subscribers, under
//! `scope.budget_prefixes`. Budgets are account-wide: the account id comes from STS.
//!
//! No perpetual diffs: amounts compare as decimals ("100" = "100.0"); the time period and cost
//! types that AWS fills in are compared only when declared; notifications, which have no ids,
//! are identified by their content (type, comparison, threshold, threshold type) and compared
//! as a set, their subscribers too. A changed budget is updated in place (UpdateBudget), a
//! changed notification with UpdateNotification, subscribers with Create/DeleteSubscriber.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_budgets::Client;
use aws_sdk_budgets::error::BuildError;
use aws_sdk_budgets::types::{
    Budget as SdkBudget, BudgetType, ComparisonOperator, CostTypes, Notification, NotificationType,
    NotificationWithSubscribers, Spend, Subscriber, SubscriptionType, ThresholdType, TimePeriod, TimeUnit,
};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use futures::{StreamExt, TryStreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::aws::{AwsError, DoneIf, SdkResult, Session, codes};
use crate::kinds::sns;
use crate::kinds::{self, Declarations, Declared, Fields, ImportContext, Imported, Kind, Live, Op, Steps};
use crate::scope::{Rule, Shape};
use crate::source::{Diagnostic, Entry};

pub struct Budgets;

const READ_CONCURRENCY: usize = 8;
const MAX_NOTIFICATIONS: usize = 10;
const MAX_EMAILS: usize = 10;
const BUDGET_TYPES: &[&str] = &[
    "COST",
    "USAGE",
    "RI_UTILIZATION",
    "RI_COVERAGE",
    "SAVINGS_PLANS_UTILIZATION",
    "SAVINGS_PLANS_COVERAGE",
];
/// The end date AWS gives a budget declared without a time period.
const AWS_DEFAULT_END: &str = "2087-06-15";
const TIME_UNITS: &[&str] = &["DAILY", "MONTHLY", "QUARTERLY", "ANNUALLY"];
/// AWS's cost types, in the order the API lists them, with AWS's defaults.
const COST_TYPES: &[(&str, bool)] = &[
    ("include_tax", true),
    ("include_subscription", true),
    ("use_blended", false),
    ("include_refund", true),
    ("include_credit", true),
    ("include_upfront", true),
    ("include_recurring", true),
    ("include_other_subscription", true),
    ("include_support", true),
    ("include_discount", true),
    ("use_amortized", false),
];

/// An AWS budget (account-wide): `[budgets.NAME]`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// What the budget tracks (a change replaces the budget).
    #[schemars(extend("enum" = BUDGET_TYPES))]
    budget_type: String,
    /// How long each budget period is.
    #[schemars(extend("enum" = TIME_UNITS))]
    time_unit: String,
    limit: Limit,
    /// When the budget starts and ends; AWS's own choice when left out.
    time_period: Option<Period>,
    /// Cost filters by dimension, e.g. `{ Service = ["Amazon Relational Database Service"] }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    cost_filters: BTreeMap<String, Vec<String>>,
    /// Cost types by name; the ones left out keep AWS's defaults.
    #[schemars(extend("propertyNames" = { "enum": [
        "include_tax", "include_subscription", "use_blended", "include_refund", "include_credit",
        "include_upfront", "include_recurring", "include_other_subscription", "include_support",
        "include_discount", "use_amortized"
    ] }))]
    cost_types: Option<BTreeMap<String, bool>>,
    /// Notifications (at most 10), told apart by type, comparison, threshold and threshold type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notifications: Vec<NotificationSpec>,
    /// The budget's previous name: Budgets cannot rename, so the old one is replaced.
    renamed_from: Option<String>,
    /// Never delete or replace it, even when it is removed from desired/.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    protect: bool,
}

/// The budget's limit per period.
// The amount is a canonical decimal once parsed (see `canonical_amount`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// The amount, a decimal in a string: `"100"`.
    amount: String,
    /// The unit: `USD` for cost budgets, or a usage unit such as `GB`.
    unit: String,
}

/// When a budget starts and ends.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// The first day, `YYYY-MM-DD`.
    start: String,
    /// The last day, `YYYY-MM-DD`.
    end: String,
}

/// A notification: when it fires, and whom it tells.
// Also the normalised form compared in plans.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSpec {
    /// Actual spend, or the forecast (not on a DAILY budget).
    #[schemars(extend("enum" = ["ACTUAL", "FORECASTED"]))]
    notification_type: String,
    /// How spend is compared with the threshold.
    #[schemars(extend("enum" = ["GREATER_THAN", "LESS_THAN", "EQUAL_TO"]))]
    comparison: String,
    /// The threshold: a percentage of the limit, or an amount.
    threshold: f64,
    /// How the threshold reads; default `PERCENTAGE`.
    #[serde(default = "percentage")]
    #[schemars(extend("enum" = ["PERCENTAGE", "ABSOLUTE_VALUE"]))]
    threshold_type: String,
    /// Email subscribers (at most 10).
    #[serde(default)]
    emails: Vec<String>,
    /// SNS subscribers (at most 1): `topic:<name>` for a topic declared here, or an ARN.
    #[serde(default)]
    sns_topics: Vec<String>,
}

fn percentage() -> String {
    "PERCENTAGE".into()
}

impl NotificationSpec {
    /// Notifications have no ids: AWS tells them apart by these four.
    fn identity(&self) -> (String, String, String, String) {
        let threshold = format!("{}", self.threshold);
        (
            self.notification_type.clone(),
            self.comparison.clone(),
            threshold,
            self.threshold_type.clone(),
        )
    }

    fn normalised(mut self) -> Self {
        self.emails.sort();
        self.emails.dedup();
        self.sns_topics.sort();
        self.sns_topics.dedup();
        self
    }
}

/// A budget with its notifications (and their subscribers), normalised: a canonical amount,
/// filters and notifications sorted. The time period and cost types, which AWS fills in by
/// itself, are managed only when declared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Budget {
    pub budget_type: String,
    pub time_unit: String,
    pub limit: Limit,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_period: Option<Period>,
    pub cost_filters: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_types: Option<BTreeMap<String, bool>>,
    pub notifications: Vec<NotificationSpec>,
}

impl Budget {
    /// Everything UpdateBudget sets (all but the notifications).
    fn settings(&self) -> impl PartialEq + '_ {
        let b = self;
        (
            &b.budget_type,
            &b.time_unit,
            &b.limit,
            &b.time_period,
            &b.cost_filters,
            &b.cost_types,
        )
    }
}

#[async_trait]
impl Kind for Budgets {
    const NOUN: &'static str = "budget";
    const TABLE: &'static str = "budgets";
    const SCOPE: Rule = Rule {
        setting: "budget_prefixes",
        shape: Shape::Prefixes,
        account_wide: true,
        allows: |c| !c.is_control(),
        allowed: "no control characters",
    };
    type Declaration = Declaration;
    type Spec = Budget;

    fn parse(&self, entry: &Entry, declaration: Declaration) -> Result<Declared<Budget>, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        check_name(entry, &mut problems);
        check_budget(entry, &declaration, &mut problems);
        check_notifications(entry, &declaration, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut declared = Declared::new(desired_budget(&declaration)).protect(declaration.protect);
        declared.renamed_from = declaration.renamed_from;
        declared.references = declaration
            .notifications
            .iter()
            .flat_map(|n| sns::references(&n.sns_topics, "notifications"))
            .collect();
        Ok(declared)
    }

    fn fields(&self, spec: &Budget) -> Fields {
        Fields::of(spec)
    }

    fn has_references(&self, spec: &Budget) -> bool {
        spec.notifications
            .iter()
            .any(|n| sns::any_reference(&n.sns_topics))
    }

    fn resolve(&self, spec: &mut Budget, region: &str, account: &str) {
        for notification in &mut spec.notifications {
            sns::resolve(&mut notification.sns_topics, region, account);
        }
        spec.notifications = sorted_notifications(std::mem::take(&mut spec.notifications));
    }

    async fn fetch(
        &self,
        session: &Session,
        declared: &Declarations<'_, Budget>,
    ) -> Result<Vec<Live<Budget>>, AwsError> {
        if session.env.scope.values(Self::SCOPE.setting).is_empty() {
            return Ok(Vec::new());
        }
        let client = session.client::<Client>();
        let account = session.caller_account().await?;
        let pages: Vec<_> = client
            .describe_budgets()
            .account_id(&account)
            .max_results(100)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .aws("DescribeBudgets", &account)?;
        let budgets: Vec<SdkBudget> = pages
            .into_iter()
            .flat_map(|p| p.budgets.unwrap_or_default())
            .filter(|b| Self::SCOPE.covers(&session.env.scope, &b.budget_name))
            .collect();
        let reads = budgets.into_iter().map(|budget| {
            let (client, account) = (client.clone(), account.clone());
            let filled = match declared.get(budget.budget_name.as_str()) {
                _ if declared.reads_everything() => Filled::BOTH,
                Some(spec) => Filled::declared_in(spec),
                None => Filled::NEITHER,
            };
            async move {
                let notifications = read_notifications(&client, &account, &budget.budget_name).await?;
                Ok::<_, AwsError>(live_budget(&budget, notifications, filled))
            }
        });
        futures::stream::iter(reads)
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await
    }

    fn replace_reasons(&self, live: &Budget, desired: &Budget) -> Vec<String> {
        (live.budget_type != desired.budget_type)
            .then(|| "AWS cannot change a budget's type in place".to_string())
            .into_iter()
            .collect()
    }

    /// The time period AWS fills in by itself (from the current period to AWS's far end date)
    /// is left out, and so are cost types that are AWS's defaults: neither is then compared.
    fn import(&self, _: &str, live: &Budget, _: &ImportContext) -> Imported {
        let defaults = cost_types_with_defaults(&BTreeMap::new());
        let declaration = Declaration {
            budget_type: live.budget_type.clone(),
            time_unit: live.time_unit.clone(),
            limit: live.limit.clone(),
            time_period: live.time_period.clone().filter(|p| p.end != AWS_DEFAULT_END),
            cost_filters: live.cost_filters.clone(),
            cost_types: live.cost_types.clone().filter(|types| *types != defaults),
            notifications: live.notifications.clone(),
            renamed_from: None,
            protect: false,
        };
        Imported::of(&declaration)
    }

    async fn apply(&self, session: &Session, op: Op<'_, Budget>) -> Result<(), AwsError> {
        let client = session.client::<Client>();
        let account = session.caller_account().await?;
        match op {
            Op::Delete { name, .. } => delete(&client, &account, name).await,
            Op::Create { name, desired } => create(&client, &account, name, desired).await,
            Op::Replace {
                name,
                live_name,
                desired,
                ..
            } => {
                // A renamed budget replaces the live one of its old name.
                let removal = delete(&client, &account, live_name);
                let creation = create(&client, &account, name, desired);
                kinds::delete_then_create(live_name, removal, creation).await
            }
            Op::Update { name, live, desired } => {
                let mut steps = Steps::default();
                if live.settings() != desired.settings() {
                    let update = update_budget(&client, &account, name, desired);
                    steps.step("updated its limit and settings", update).await?;
                }
                if live.notifications != desired.notifications {
                    let update = update_notifications(&client, &account, name, live, desired);
                    steps.step("", update).await?;
                }
                Ok(())
            }
        }
    }
}

// --- validation -------------------------------------------------------------------------

fn check_name(entry: &Entry, problems: &mut Vec<Diagnostic>) {
    let name = entry.name;
    if name.is_empty() || name.chars().count() > 100 || name.contains([':', '\\']) {
        problems.push(entry.error(None, "a budget name has 1 to 100 characters, without `:` or `\\`"));
    }
    kinds::check_in_scope(entry, &Budgets::SCOPE, problems);
}

fn one_of(entry: &Entry, field: &str, value: &str, allowed: &[&str], problems: &mut Vec<Diagnostic>) {
    if !allowed.contains(&value) {
        let list = allowed
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        problems.push(entry.error(Some(field), format!("`{value}` is not one of {list}")));
    }
}

fn check_budget(entry: &Entry, spec: &Declaration, problems: &mut Vec<Diagnostic>) {
    one_of(entry, "budget_type", &spec.budget_type, BUDGET_TYPES, problems);
    one_of(entry, "time_unit", &spec.time_unit, TIME_UNITS, problems);
    if canonical_amount(&spec.limit.amount).is_none() {
        problems.push(entry.error(
            Some("limit"),
            format!(
                "amount `{}` is not a decimal number such as \"100\" or \"99.5\"",
                spec.limit.amount
            ),
        ));
    }
    if spec.limit.unit.is_empty() {
        problems.push(entry.error(Some("limit"), "needs a unit such as \"USD\""));
    }
    if let Some(period) = &spec.time_period {
        for date in [&period.start, &period.end] {
            if to_datetime(date).is_none() {
                problems.push(entry.error(
                    Some("time_period"),
                    format!("`{date}` is not a date (YYYY-MM-DD)"),
                ));
            }
        }
    }
    for key in spec.cost_types.iter().flat_map(|c| c.keys()) {
        if !COST_TYPES.iter().any(|(k, _)| k == key) {
            let known = COST_TYPES
                .iter()
                .map(|(k, _)| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            problems.push(entry.error(
                Some("cost_types"),
                format!("unknown cost type `{key}`; expected one of {known}"),
            ));
        }
    }
}

fn check_notifications(entry: &Entry, spec: &Declaration, problems: &mut Vec<Diagnostic>) {
    if spec.notifications.len() > MAX_NOTIFICATIONS {
        problems.push(entry.error(
            Some("notifications"),
            format!("AWS allows {MAX_NOTIFICATIONS} notifications per budget"),
        ));
    }
    let mut seen = Vec::new();
    for n in &spec.notifications {
        let mut fail = |message: String| problems.push(entry.error(Some("notifications"), message));
        if !["ACTUAL", "FORECASTED"].contains(&n.notification_type.as_str()) {
            fail(format!(
                "notification_type `{}` is not `ACTUAL` or `FORECASTED`",
                n.notification_type
            ));
        }
        if n.notification_type == "FORECASTED" && spec.time_unit == "DAILY" {
            fail("AWS does not allow FORECASTED notifications on a DAILY budget".into());
        }
        if !["GREATER_THAN", "LESS_THAN", "EQUAL_TO"].contains(&n.comparison.as_str()) {
            fail(format!(
                "comparison `{}` is not `GREATER_THAN`, `LESS_THAN` or `EQUAL_TO`",
                n.comparison
            ));
        }
        if !["PERCENTAGE", "ABSOLUTE_VALUE"].contains(&n.threshold_type.as_str()) {
            fail(format!(
                "threshold_type `{}` is not `PERCENTAGE` or `ABSOLUTE_VALUE`",
                n.threshold_type
            ));
        }
        if !(n.threshold >= 0.0 && n.threshold.is_finite()) {
            fail(format!("threshold {} must be 0 or more", n.threshold));
        }
        if n.emails.is_empty() && n.sns_topics.is_empty() {
            fail("a notification needs at least one of `emails` and `sns_topics`".into());
        }
        if n.emails.len() > MAX_EMAILS || n.sns_topics.len() > 1 {
            fail(format!(
                "AWS allows {MAX_EMAILS} email subscribers and 1 SNS topic per notification"
            ));
        }
        for email in n.emails.iter().filter(|e| !e.contains('@')) {
            fail(format!("`{email}` is not an email address"));
        }
        for topic in n
            .sns_topics
            .iter()
            .filter(|t| sns::referenced(t).is_none() && (!t.starts_with("arn:aws") || !t.contains(":sns:")))
        {
            fail(format!("`{topic}` is not an SNS topic ARN"));
        }
        if seen.contains(&n.identity()) {
            fail("two notifications with the same type, comparison, threshold and threshold type".into());
        }
        seen.push(n.identity());
    }
}

/// "100", "100.0", "0100.00" and "1E+2" are the same amount: "100". An amount as a plain decimal, whatever the notation: AWS Budgets returns large limits in
/// scientific notation (`1.53E+7`, Java's BigDecimal form), and UpdateBudget refuses that form,
/// so both sides become `15300000` and plumb only ever sends decimals. `None` when it is not
/// a non-negative decimal of reasonable size.
fn canonical_amount(amount: &str) -> Option<String> {
    const MAX_DIGITS: usize = 30;
    let amount = amount.trim();
    let (mantissa, exponent) = match amount.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok().filter(|e| e.abs() <= MAX_DIGITS as i32)?),
        None => (amount, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || whole.len() + fraction.len() > MAX_DIGITS {
        return None;
    }
    let all = format!("{whole}{fraction}");
    let point = whole.len() as i32 + exponent;
    let (whole, fraction) = if point <= 0 {
        ("0".to_string(), format!("{}{all}", "0".repeat((-point) as usize)))
    } else if point as usize >= all.len() {
        (
            format!("{all}{}", "0".repeat(point as usize - all.len())),
            String::new(),
        )
    } else {
        let (w, f) = all.split_at(point as usize);
        (w.to_string(), f.to_string())
    };
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let fraction = fraction.trim_end_matches('0');
    Some(if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    })
}

fn to_datetime(date: &str) -> Option<DateTime> {
    DateTime::from_str(&format!("{date}T00:00:00Z"), Format::DateTime).ok()
}

fn to_date(time: &DateTime) -> String {
    time.fmt(Format::DateTime)
        .unwrap_or_default()
        .chars()
        .take(10)
        .collect()
}

// --- the compared form ------------------------------------------------------------------

fn cost_types_with_defaults(declared: &BTreeMap<String, bool>) -> BTreeMap<String, bool> {
    COST_TYPES
        .iter()
        .map(|(key, default)| (key.to_string(), declared.get(*key).copied().unwrap_or(*default)))
        .collect()
}

fn sorted_filters(filters: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    filters
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.sort();
            (k.clone(), v)
        })
        .collect()
}

fn sorted_notifications(notifications: Vec<NotificationSpec>) -> Vec<NotificationSpec> {
    let mut notifications: Vec<NotificationSpec> = notifications
        .into_iter()
        .map(NotificationSpec::normalised)
        .collect();
    notifications.sort_by_key(NotificationSpec::identity);
    notifications
}

fn desired_budget(declaration: &Declaration) -> Budget {
    Budget {
        budget_type: declaration.budget_type.clone(),
        time_unit: declaration.time_unit.clone(),
        limit: Limit {
            amount: canonical_amount(&declaration.limit.amount).unwrap_or_default(),
            unit: declaration.limit.unit.clone(),
        },
        time_period: declaration.time_period.clone(),
        cost_filters: sorted_filters(&declaration.cost_filters),
        cost_types: declaration.cost_types.as_ref().map(cost_types_with_defaults),
        notifications: sorted_notifications(declaration.notifications.clone()),
    }
}

fn live_cost_types(types: &CostTypes) -> BTreeMap<String, bool> {
    let values = [
        types.include_tax,
        types.include_subscription,
        types.use_blended,
        types.include_refund,
        types.include_credit,
        types.include_upfront,
        types.include_recurring,
        types.include_other_subscription,
        types.include_support,
        types.include_discount,
        types.use_amortized,
    ];
    COST_TYPES
        .iter()
        .zip(values)
        .map(|((key, default), value)| (key.to_string(), value.unwrap_or(*default)))
        .collect()
}

// CostFilters and CostTypes are deprecated in favour of FilterExpression and Metrics, but AWS
// still accepts them and they are the form the emulator serves; the newer form is not supported
// yet (see README).
#[allow(deprecated)]
/// The live budget, in the desired side's terms: fields AWS fills in by itself (time period,
/// cost types) are compared only when the declaration sets them.
/// Which of the fields AWS fills in by itself a live budget is read with: those declared (a
/// plan), or both (an import).
#[derive(Clone, Copy)]
struct Filled {
    time_period: bool,
    cost_types: bool,
}

impl Filled {
    const BOTH: Filled = Filled {
        time_period: true,
        cost_types: true,
    };
    const NEITHER: Filled = Filled {
        time_period: false,
        cost_types: false,
    };

    fn declared_in(spec: &Budget) -> Filled {
        Filled {
            time_period: spec.time_period.is_some(),
            cost_types: spec.cost_types.is_some(),
        }
    }
}

#[allow(deprecated)]
fn live_budget(budget: &SdkBudget, notifications: Vec<NotificationSpec>, filled: Filled) -> Live<Budget> {
    let limit = budget.budget_limit.as_ref();
    let amount = limit
        .map(|l| canonical_amount(&l.amount).unwrap_or_else(|| l.amount.clone()))
        .unwrap_or_default();
    let time_period = filled.time_period.then(|| {
        let period = budget.time_period.as_ref();
        let date = |t: Option<&DateTime>| t.map(to_date).unwrap_or_default();
        Period {
            start: date(period.and_then(|p| p.start.as_ref())),
            end: date(period.and_then(|p| p.end.as_ref())),
        }
    });
    let cost_types = filled.cost_types.then(|| {
        budget
            .cost_types
            .as_ref()
            .map(live_cost_types)
            .unwrap_or_else(|| cost_types_with_defaults(&BTreeMap::new()))
    });
    let filters: BTreeMap<String, Vec<String>> = budget
        .cost_filters
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let spec = Budget {
        budget_type: budget.budget_type.as_str().to_string(),
        time_unit: budget.time_unit.as_str().to_string(),
        limit: Limit {
            amount,
            unit: limit.map(|l| l.unit.clone()).unwrap_or_default(),
        },
        time_period,
        cost_filters: sorted_filters(&filters),
        cost_types,
        notifications: sorted_notifications(notifications),
    };
    let version = budget.last_updated_time.as_ref().map(|t| format!("updated {t}"));
    Live::new(&budget.budget_name, spec).version(version)
}

// --- reading ----------------------------------------------------------------------------

async fn read_notifications(
    client: &Client,
    account: &str,
    budget: &str,
) -> Result<Vec<NotificationSpec>, AwsError> {
    let pages: Vec<_> = client
        .describe_notifications_for_budget()
        .account_id(account)
        .budget_name(budget)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .aws("DescribeNotificationsForBudget", budget)?;
    let mut found = Vec::new();
    for notification in pages
        .into_iter()
        .flat_map(|p| p.notifications.unwrap_or_default())
    {
        let output = client
            .describe_subscribers_for_notification()
            .account_id(account)
            .budget_name(budget)
            .notification(notification.clone())
            .send()
            .await
            .aws("DescribeSubscribersForNotification", budget)?;
        let subscribers = output.subscribers.unwrap_or_default();
        let addresses = |kind: SubscriptionType| -> Vec<String> {
            subscribers
                .iter()
                .filter(|s| s.subscription_type == kind)
                .map(|s| s.address.clone())
                .collect()
        };
        found.push(NotificationSpec {
            notification_type: notification.notification_type.as_str().to_string(),
            comparison: notification.comparison_operator.as_str().to_string(),
            threshold: notification.threshold,
            threshold_type: notification
                .threshold_type
                .as_ref()
                .map_or("PERCENTAGE", |t| t.as_str())
                .to_string(),
            emails: addresses(SubscriptionType::Email),
            sns_topics: addresses(SubscriptionType::Sns),
        });
    }
    Ok(found)
}

// --- writing ----------------------------------------------------------------------------

fn built<T>(result: Result<T, BuildError>, name: &str) -> Result<T, AwsError> {
    result.map_err(|e| AwsError {
        operation: "build request",
        resource: name.to_string(),
        code: "InvalidRequest".into(),
        message: e.to_string(),
    })
}

// CostFilters and CostTypes are deprecated in favour of FilterExpression and Metrics, but AWS
// still accepts them and they are the form the emulator serves; the newer form is not supported
// yet (see README).
#[allow(deprecated)]
fn budget_of(name: &str, desired: &Budget) -> Result<SdkBudget, AwsError> {
    let spend = Spend::builder()
        .amount(&desired.limit.amount)
        .unit(&desired.limit.unit)
        .build();
    let filters: Option<HashMap<String, Vec<String>>> = Some(&desired.cost_filters)
        .filter(|f| !f.is_empty())
        .map(|f| f.clone().into_iter().collect());
    let period = desired.time_period.as_ref().map(|p| {
        TimePeriod::builder()
            .set_start(to_datetime(&p.start))
            .set_end(to_datetime(&p.end))
            .build()
    });
    let cost_types = desired.cost_types.as_ref().map(|c| {
        let get = |key: &str| c.get(key).copied();
        CostTypes::builder()
            .set_include_tax(get("include_tax"))
            .set_include_subscription(get("include_subscription"))
            .set_use_blended(get("use_blended"))
            .set_include_refund(get("include_refund"))
            .set_include_credit(get("include_credit"))
            .set_include_upfront(get("include_upfront"))
            .set_include_recurring(get("include_recurring"))
            .set_include_other_subscription(get("include_other_subscription"))
            .set_include_support(get("include_support"))
            .set_include_discount(get("include_discount"))
            .set_use_amortized(get("use_amortized"))
            .build()
    });
    built(
        SdkBudget::builder()
            .budget_name(name)
            .budget_limit(built(spend, name)?)
            .time_unit(TimeUnit::from(desired.time_unit.as_str()))
            .budget_type(BudgetType::from(desired.budget_type.as_str()))
            .set_cost_filters(filters)
            .set_time_period(period)
            .set_cost_types(cost_types)
            .build(),
        name,
    )
}

fn notification_of(spec: &NotificationSpec, name: &str) -> Result<Notification, AwsError> {
    built(
        Notification::builder()
            .notification_type(NotificationType::from(spec.notification_type.as_str()))
            .comparison_operator(ComparisonOperator::from(spec.comparison.as_str()))
            .threshold(spec.threshold)
            .threshold_type(ThresholdType::from(spec.threshold_type.as_str()))
            .build(),
        name,
    )
}

fn subscribers_of(spec: &NotificationSpec, name: &str) -> Result<Vec<Subscriber>, AwsError> {
    let emails = spec.emails.iter().map(|a| (SubscriptionType::Email, a));
    let topics = spec.sns_topics.iter().map(|a| (SubscriptionType::Sns, a));
    emails
        .chain(topics)
        .map(|(kind, address)| {
            built(
                Subscriber::builder()
                    .subscription_type(kind)
                    .address(address)
                    .build(),
                name,
            )
        })
        .collect()
}

async fn create(client: &Client, account: &str, name: &str, desired: &Budget) -> Result<(), AwsError> {
    let mut with_subscribers = Vec::new();
    for n in &desired.notifications {
        let item = NotificationWithSubscribers::builder()
            .notification(notification_of(n, name)?)
            .set_subscribers(Some(subscribers_of(n, name)?))
            .build();
        with_subscribers.push(built(item, name)?);
    }
    client
        .create_budget()
        .account_id(account)
        .budget(budget_of(name, desired)?)
        .set_notifications_with_subscribers(Some(with_subscribers))
        .send()
        .await
        .aws("CreateBudget", name)?;
    Ok(())
}

async fn update_budget(client: &Client, account: &str, name: &str, desired: &Budget) -> Result<(), AwsError> {
    client
        .update_budget()
        .account_id(account)
        .new_budget(budget_of(name, desired)?)
        .send()
        .await
        .aws("UpdateBudget", name)?;
    Ok(())
}

/// Brings notifications from live to desired: a notification whose identity changed (its
/// threshold, say) is updated in place when it can be paired by type with one that went away;
/// the rest are created or deleted; subscribers are added and removed one by one.
async fn update_notifications(
    client: &Client,
    account: &str,
    name: &str,
    live: &Budget,
    desired: &Budget,
) -> Result<(), AwsError> {
    let want = desired.notifications.clone();
    let mut have = live.notifications.clone();
    let mut unmatched = Vec::new();
    for new in want {
        match have.iter().position(|old| old.identity() == new.identity()) {
            Some(i) => {
                let old = have.remove(i);
                update_subscribers(client, account, name, &old, &new).await?;
            }
            None => unmatched.push(new),
        }
    }
    for new in unmatched {
        match have
            .iter()
            .position(|old| old.notification_type == new.notification_type)
        {
            Some(i) => {
                let old = have.remove(i);
                client
                    .update_notification()
                    .account_id(account)
                    .budget_name(name)
                    .old_notification(notification_of(&old, name)?)
                    .new_notification(notification_of(&new, name)?)
                    .send()
                    .await
                    .aws("UpdateNotification", name)?;
                update_subscribers(client, account, name, &old, &new).await?;
            }
            None => {
                let created = client
                    .create_notification()
                    .account_id(account)
                    .budget_name(name)
                    .notification(notification_of(&new, name)?)
                    .set_subscribers(Some(subscribers_of(&new, name)?))
                    .send()
                    .await
                    .aws("CreateNotification", name);
                created.done_if(&[codes::DUPLICATE_RECORD])?;
            }
        }
    }
    for old in have {
        let deleted = client
            .delete_notification()
            .account_id(account)
            .budget_name(name)
            .notification(notification_of(&old, name)?)
            .send()
            .await
            .aws("DeleteNotification", name);
        deleted.done_if(&[codes::NOT_FOUND])?;
    }
    Ok(())
}

/// Brings a notification's subscribers from `old` to `new`. AWS deletes a notification with
/// its last subscriber, so the new ones are added first, as far as AWS's limits (10 emails,
/// 1 SNS topic) leave room; then the old ones go; then the rest are added, with the
/// notification made again if it went with its last subscriber (a sole SNS topic replaced).
async fn update_subscribers(
    client: &Client,
    account: &str,
    name: &str,
    old: &NotificationSpec,
    new: &NotificationSpec,
) -> Result<(), AwsError> {
    let notification = notification_of(new, name)?;
    let (before, after) = (subscribers_of(old, name)?, subscribers_of(new, name)?);
    let (first, last) = added_in_order(&before, &after);
    let mut steps = Steps::default();
    for added in first {
        let create = create_subscriber(client, account, name, &notification, added);
        steps
            .step(format!("added subscriber {}", added.address), create)
            .await?;
    }
    for gone in before.iter().filter(|s| !after.contains(s)) {
        let sent = client
            .delete_subscriber()
            .account_id(account)
            .budget_name(name)
            .notification(notification.clone())
            .subscriber(gone.clone())
            .send();
        let deleted = async {
            sent.await
                .aws("DeleteSubscriber", name)
                .done_if(&[codes::NOT_FOUND])
        };
        steps
            .step(format!("removed subscriber {}", gone.address), deleted)
            .await?;
    }
    for (i, added) in last.iter().enumerate() {
        match create_subscriber(client, account, name, &notification, added).await {
            Err(error) if error.code == codes::NOT_FOUND => {
                // AWS deleted the notification with its last subscriber: made again.
                steps.done("AWS deleted the notification with its last subscriber");
                let rest = last[i..].iter().map(|s| (*s).clone()).collect();
                let sent = client
                    .create_notification()
                    .account_id(account)
                    .budget_name(name)
                    .notification(notification.clone())
                    .set_subscribers(Some(rest))
                    .send();
                let created = async {
                    let created = sent.await.aws("CreateNotification", name);
                    created.done_if(&[codes::DUPLICATE_RECORD])
                };
                return steps.step("", created).await;
            }
            Err(error) => return Err(steps.failed(error)),
            Ok(()) => steps.done(format!("added subscriber {}", added.address)),
        }
    }
    Ok(())
}

/// The subscribers `after` adds to `before`: those there is room for beside all of `before`
/// (AWS: 10 emails and 1 SNS topic a notification), and those that must wait for the old
/// ones to go.
fn added_in_order<'a>(
    before: &[Subscriber],
    after: &'a [Subscriber],
) -> (Vec<&'a Subscriber>, Vec<&'a Subscriber>) {
    let limit = |kind: &SubscriptionType| match kind {
        SubscriptionType::Sns => 1,
        _ => MAX_EMAILS,
    };
    let mut counts: HashMap<SubscriptionType, usize> = HashMap::new();
    for subscriber in before {
        *counts.entry(subscriber.subscription_type.clone()).or_default() += 1;
    }
    let (mut first, mut last) = (Vec::new(), Vec::new());
    for added in after.iter().filter(|s| !before.contains(s)) {
        let count = counts.entry(added.subscription_type.clone()).or_default();
        if *count < limit(&added.subscription_type) {
            *count += 1;
            first.push(added);
        } else {
            last.push(added);
        }
    }
    (first, last)
}

async fn create_subscriber(
    client: &Client,
    account: &str,
    name: &str,
    notification: &Notification,
    subscriber: &Subscriber,
) -> Result<(), AwsError> {
    let created = client
        .create_subscriber()
        .account_id(account)
        .budget_name(name)
        .notification(notification.clone())
        .subscriber(subscriber.clone())
        .send()
        .await
        .aws("CreateSubscriber", name);
    created.done_if(&[codes::DUPLICATE_RECORD])
}

/// Deletes the budget (its notifications go with it); one already gone counts as deleted.
async fn delete(client: &Client, account: &str, name: &str) -> Result<(), AwsError> {
    let deleted = client
        .delete_budget()
        .account_id(account)
        .budget_name(name)
        .send()
        .await
        .aws("DeleteBudget", name);
    deleted.done_if(&[codes::NOT_FOUND])
}

#[cfg(test)]
pub(crate) mod tests {
    use aws_sdk_budgets::types::{Budget as SdkBudget, BudgetType, Spend, TimeUnit};

    use super::{Declaration, NotificationSpec, canonical_amount, desired_budget, live_budget};

    pub(crate) fn declared(toml: &str) -> super::Budget {
        let declaration: Declaration = toml::from_str(toml).expect("a valid declaration");
        desired_budget(&declaration)
    }

    fn notification(threshold: f64, emails: &[&str]) -> NotificationSpec {
        NotificationSpec {
            notification_type: "ACTUAL".into(),
            comparison: "GREATER_THAN".into(),
            threshold,
            threshold_type: "PERCENTAGE".into(),
            emails: emails.iter().map(|e| e.to_string()).collect(),
            sns_topics: Vec::new(),
        }
    }

    #[test]
    fn a_live_budget_reads_as_declared() {
        let want = declared(
            r#"
            budget_type = "COST"
            time_unit = "MONTHLY"
            limit = { amount = "15300000.0", unit = "USD" }
            [[notifications]]
            notification_type = "ACTUAL"
            comparison = "GREATER_THAN"
            threshold = 90.0
            emails = ["b@x.io", "a@x.io"]
            [[notifications]]
            notification_type = "ACTUAL"
            comparison = "GREATER_THAN"
            threshold = 50.0
            emails = ["a@x.io"]
            "#,
        );
        // AWS: the amount in scientific notation, a time period and cost types it filled in
        // by itself, notifications and subscribers in its own order.
        let budget = SdkBudget::builder()
            .budget_name("app-monthly")
            .budget_limit(Spend::builder().amount("1.53E+7").unit("USD").build().unwrap())
            .time_unit(TimeUnit::Monthly)
            .budget_type(BudgetType::Cost)
            .build()
            .unwrap();
        let notifications = vec![
            notification(90.0, &["a@x.io", "b@x.io"]),
            notification(50.0, &["a@x.io"]),
        ];
        let read = live_budget(&budget, notifications, super::Filled::declared_in(&want));
        assert_eq!(read.name, "app-monthly");
        assert_eq!(read.spec, want);
        assert_eq!(read.spec.time_period, None, "not declared, not compared");
    }

    #[test]
    fn amounts_compare_as_decimals() {
        assert_eq!(canonical_amount("100").as_deref(), Some("100"));
        assert_eq!(canonical_amount("100.0").as_deref(), Some("100"));
        assert_eq!(canonical_amount("0100.50").as_deref(), Some("100.5"));
        assert_eq!(canonical_amount("0.0").as_deref(), Some("0"));
        // AWS's scientific notation for large limits is the same decimal.
        assert_eq!(canonical_amount("1.53E+7").as_deref(), Some("15300000"));
        assert_eq!(canonical_amount("1E+2").as_deref(), Some("100"));
        assert_eq!(canonical_amount("1e3").as_deref(), Some("1000"));
        assert_eq!(canonical_amount("2.5E-1").as_deref(), Some("0.25"));
        assert_eq!(canonical_amount("1e999"), None);
        assert_eq!(canonical_amount(&"9".repeat(400)), None);
        assert_eq!(canonical_amount("-5"), None);
    }
}
