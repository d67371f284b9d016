//! SNS topics end to end: created with their subscriptions, converged, drift caught and
//! restored, pruned.

use crate::support::World;

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
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(0);
    assert!(
        apply.stdout.contains("+ create topic app-alerts"),
        "{}",
        apply.stdout
    );
    world.assert_converged();

    // Someone removes the SQS subscription by hand: drift, restored by the next apply.
    let sns = world.sns().await;
    let sqs = subscriptions(&world)
        .await
        .into_iter()
        .find(|s| s.0 == "sqs")
        .unwrap();
    sns.unsubscribe().subscription_arn(&sqs.2).send().await.unwrap();
    let drift = world.plumb(&["drift"]);
    drift.expect_code(2);
    assert!(drift.stdout.contains("subscriptions"), "{}", drift.stdout);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let now: Vec<String> = subscriptions(&world).await.into_iter().map(|s| s.0).collect();
    assert_eq!(now, ["email", "sqs"]);

    // Undeclared: deleted, with its subscriptions.
    world.write("desired/dev/alerts.toml", "");
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let topics = sns.list_topics().send().await.unwrap();
    assert!(topics.topics().is_empty());
}
