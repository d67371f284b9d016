//! SNS topics end to end: created with their subscriptions, converged, drift caught and
//! restored, pruned.

use crate::support::{Transcript, World};

const TOPIC: &str = r#"
[topics."app-alerts"]
display_name = "app alerts"
tags = { team = "sre" }
subscriptions = [
  { protocol = "email", endpoint = "ops@example.com" },
  { protocol = "sqs", endpoint = "arn:aws:sqs:us-east-1:123456789012:alerts" },
]
policy = { Version = "2012-10-17", Statement = [
  { Sid = "publish", Effect = "Allow", Principal = { Service = "cloudwatch.amazonaws.com" }, Action = "sns:Publish", Resource = "*" },
] }
"#;

fn world() -> World {
    let world = World::new();
    let scope = "parameter_paths = [\"/dev/app/\"]\ntopic_prefixes = [\"app-\"]\n";
    world.plumb_toml_with_scope("", scope);
    world
}

async fn subscriptions(world: &World) -> Vec<(String, String, String)> {
    let sns = world.sns().await;
    let topics = sns.list_topics().send().await.unwrap();
    let arn = topics.topics()[0].topic_arn().unwrap().to_string();
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&arn)
        .send()
        .await
        .unwrap();
    let mut found: Vec<_> = listed
        .subscriptions()
        .iter()
        .map(|s| {
            (
                s.protocol().unwrap_or_default().to_string(),
                s.endpoint().unwrap_or_default().to_string(),
                s.subscription_arn().unwrap_or_default().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn a_topic_with_subscriptions_is_created_converges_and_drift_is_restored() {
    let world = world();
    world.write("desired/dev/alerts.toml", TOPIC);
    let mut seen = Transcript::default();
    seen.plumb(&world, &["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();

    // Someone removes the SQS subscription by hand: drift, restored by the next apply.
    let sns = world.sns().await;
    let sqs = subscriptions(&world)
        .await
        .into_iter()
        .find(|s| s.0 == "sqs")
        .unwrap();
    sns.unsubscribe().subscription_arn(&sqs.2).send().await.unwrap();
    seen.note("by hand: the SQS subscription removed");
    seen.plumb(&world, &["drift"]).expect_code(2);
    seen.plumb(&world, &["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let now: Vec<String> = subscriptions(&world).await.into_iter().map(|s| s.0).collect();
    assert_eq!(now, ["email", "sqs"]);

    // Undeclared: deleted, with its subscriptions.
    world.write("desired/dev/alerts.toml", "");
    seen.note("desired/dev/alerts.toml emptied");
    seen.plumb(&world, &["apply", "--auto-approve"]).expect_code(0);
    insta::assert_snapshot!(seen.text());
    let topics = sns.list_topics().send().await.unwrap();
    assert!(topics.topics().is_empty());
}

const ALERTING: &str = r#"
[topics."app-alerts"]
display_name = "app alerts"
subscriptions = [{ protocol = "email", endpoint = "oncall@example.com" }]

[alarms."app-cpu-high"]
namespace = "AWS/RDS"
metric = "CPUUtilization"
statistic = "Average"
period = 300
evaluation_periods = 2
threshold = 80.0
comparison = "GreaterThanThreshold"
alarm_actions = ["topic:app-alerts"]
ok_actions = ["topic:app-alerts"]

[budgets."app-monthly"]
budget_type = "COST"
time_unit = "MONTHLY"
limit = { amount = "100", unit = "USD" }
[[budgets."app-monthly".notifications]]
notification_type = "ACTUAL"
comparison = "GREATER_THAN"
threshold = 80.0
sns_topics = ["topic:app-alerts"]
"#;

fn alerting_world() -> World {
    let world = World::new();
    let scope = "topic_prefixes = [\"app-\"]\nalarm_prefixes = [\"app-\"]\nbudget_prefixes = [\"app-\"]\n";
    world.plumb_toml_with_scope("", scope);
    world
}

#[tokio::test]
async fn alarms_and_budgets_reach_a_topic_by_name_created_in_the_same_apply() {
    let world = alerting_world();
    world.write("desired/dev/alerting.toml", ALERTING);
    let topic_arn = format!("arn:aws:sns:us-east-1:{}:app-alerts", world.account);
    let plan = world.plumb(&["plan"]);
    plan.expect_code(0);
    assert!(
        plan.stdout.contains(&topic_arn),
        "the plan shows the resolved ARN: {}",
        plan.stdout
    );

    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    // Right after: nothing to do, the pending email subscription included.
    world.assert_converged();

    let cloudwatch = world.cloudwatch().await;
    let alarms = cloudwatch
        .describe_alarms()
        .alarm_names("app-cpu-high")
        .send()
        .await
        .unwrap();
    assert_eq!(
        alarms.metric_alarms()[0].alarm_actions(),
        std::slice::from_ref(&topic_arn)
    );
    let budgets = world.budgets().await;
    let notifications = budgets
        .describe_notifications_for_budget()
        .account_id(&world.account)
        .budget_name("app-monthly")
        .send()
        .await
        .unwrap();
    let subscribers = budgets
        .describe_subscribers_for_notification()
        .account_id(&world.account)
        .budget_name("app-monthly")
        .notification(notifications.notifications()[0].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(subscribers.subscribers()[0].address(), topic_arn);

    // Everything removed: the topic is deleted after what used it.
    world.write("desired/dev/alerting.toml", "");
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(0);
    let order: Vec<&str> = apply
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- delete "))
        .collect();
    assert_eq!(
        order,
        [
            "budget app-monthly  (not declared in desired/)",
            "alarm app-cpu-high  (not declared in desired/)",
            "topic app-alerts  (not declared in desired/)"
        ],
        "{}",
        apply.stdout
    );
    world.assert_converged();
}

#[test]
fn a_reference_to_an_undeclared_topic_is_a_validation_error() {
    let world = alerting_world();
    world.write(
        "desired/dev/alerting.toml",
        &ALERTING.replace("[topics.\"app-alerts\"]", "[topics.\"app-other\"]"),
    );
    let validate = world.plumb_offline(&["validate"]);
    validate.expect_code(1);
    assert!(
        validate.stderr.contains(
            "desired/dev/alerting.toml:6:9: alarms.app-cpu-high.alarm_actions: topic `app-alerts` is not declared"
        ),
        "{}",
        validate.stderr
    );
    assert!(
        validate
            .stderr
            .contains("budgets.app-monthly.notifications: topic `app-alerts` is not declared"),
        "{}",
        validate.stderr
    );
}

#[tokio::test]
async fn reading_50_topics_costs_one_listing_and_two_calls_a_topic() {
    let world = alerting_world();
    let sns = world.sns().await;
    for i in 0..50 {
        sns.create_topic()
            .name(format!("app-t{i:02}"))
            .send()
            .await
            .unwrap();
    }
    let before = world.calls();
    world.plumb(&["plan"]).expect_code(0);
    let after = world.calls();
    let made = |op: &str| after.get(op).copied().unwrap_or(0) - before.get(op).copied().unwrap_or(0);
    assert_eq!(made("ListTopics"), 1, "100 topics a page");
    assert_eq!(made("GetTopicAttributes"), 50);
    assert_eq!(made("ListSubscriptionsByTopic"), 50);
    assert_eq!(made("ListTagsForResource"), 0, "tags only where declared");
}

#[tokio::test]
async fn a_fifo_topic_is_created_as_one() {
    let world = alerting_world();
    world.write(
        "desired/dev/alerting.toml",
        "[topics.\"app-orders.fifo\"]\nsubscriptions = [{ protocol = \"sqs\", endpoint = \"arn:aws:sqs:us-east-1:123456789012:orders.fifo\" }]\n",
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let long = format!("[topics.\"app-{}.fifo\"]\n", "x".repeat(250));
    world.write("desired/dev/alerting.toml", &long);
    let validate = world.plumb_offline(&["validate"]);
    validate.expect_code(1);
    assert!(
        validate.stderr.contains("a topic name has 1 to 256"),
        "{}",
        validate.stderr
    );
}
