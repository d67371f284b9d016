//! AWS Budgets end to end, against the emulator extended with the calls moto lacks
//! (UpdateBudget, UpdateNotification, the subscriber calls).

use aws_sdk_budgets::types::{
    Budget, BudgetType, ComparisonOperator, Notification, NotificationType, NotificationWithSubscribers,
    Spend, Subscriber, SubscriptionType, ThresholdType, TimeUnit,
};

use serde_json::json;

use crate::support::{World, renamed_budget};

const MONTHLY: &str = r#"
[budgets."app-monthly"]
budget_type = "COST"
time_unit = "MONTHLY"
limit = { amount = "100", unit = "USD" }

[[budgets."app-monthly".notifications]]
notification_type = "ACTUAL"
comparison = "GREATER_THAN"
threshold = 80.0
emails = ["ops@example.com"]

[[budgets."app-monthly".notifications]]
notification_type = "FORECASTED"
comparison = "GREATER_THAN"
threshold = 100.0
emails = ["ops@example.com", "finance@example.com"]
sns_topics = ["arn:aws:sns:us-east-1:123456789012:alerts"]
"#;

fn notification(kind: NotificationType, threshold: f64) -> Notification {
    Notification::builder()
        .notification_type(kind)
        .comparison_operator(ComparisonOperator::GreaterThan)
        .threshold(threshold)
        .threshold_type(ThresholdType::Percentage)
        .build()
        .unwrap()
}

fn email(address: &str) -> Subscriber {
    Subscriber::builder()
        .subscription_type(SubscriptionType::Email)
        .address(address)
        .build()
        .unwrap()
}

/// The budget as someone made it by hand, with AWS's "100.0".
async fn create_by_hand(world: &World, name: &str) {
    let budget = Budget::builder()
        .budget_name(name)
        .budget_limit(Spend::builder().amount("100.0").unit("USD").build().unwrap())
        .time_unit(TimeUnit::Monthly)
        .budget_type(BudgetType::Cost)
        .build()
        .unwrap();
    let actual = NotificationWithSubscribers::builder()
        .notification(notification(NotificationType::Actual, 80.0))
        .subscribers(email("ops@example.com"))
        .build()
        .unwrap();
    let forecasted = NotificationWithSubscribers::builder()
        .notification(notification(NotificationType::Forecasted, 100.0))
        .subscribers(email("finance@example.com"))
        .subscribers(email("ops@example.com"))
        .subscribers(
            Subscriber::builder()
                .subscription_type(SubscriptionType::Sns)
                .address("arn:aws:sns:us-east-1:123456789012:alerts")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    world
        .budgets()
        .await
        .create_budget()
        .account_id(&world.account)
        .budget(budget)
        .notifications_with_subscribers(actual)
        .notifications_with_subscribers(forecasted)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn create_then_converge() {
    let world = World::with_dev_env();
    world.write("desired/dev/budgets.toml", MONTHLY);
    let plan = world.plumb(&["plan"]);
    plan.expect_code(0);
    insta::assert_snapshot!(world.shown(&plan));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

#[tokio::test]
async fn amounts_compare_as_decimals_and_aws_defaults_show_no_diff() {
    let world = World::with_dev_env();
    create_by_hand(&world, "app-monthly").await;
    world.write("desired/dev/budgets.toml", MONTHLY);
    // "100" declared, "100.0" live; the time period and cost types AWS filled in are not declared.
    world.assert_converged();
}

#[tokio::test]
async fn limit_notifications_and_subscribers_are_updated_in_place() {
    let world = World::with_dev_env();
    world.write("desired/dev/budgets.toml", MONTHLY);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);

    let changed = MONTHLY
        .replace("amount = \"100\"", "amount = \"150\"")
        .replace(
            "threshold = 80.0\nemails = [\"ops@example.com\"]",
            "threshold = 90.0\nemails = [\"ops@example.com\", \"cto@example.com\"]",
        )
        .replace(
            "emails = [\"ops@example.com\", \"finance@example.com\"]",
            "emails = [\"finance@example.com\"]",
        );
    world.write("desired/dev/budgets.toml", &changed);
    let plan = world.plumb(&["plan"]);
    plan.expect_code(0);
    insta::assert_snapshot!(world.shown(&plan));

    let before = world.calls();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let after = world.calls();
    let made = |op: &str| after.get(op).copied().unwrap_or(0) - before.get(op).copied().unwrap_or(0);
    assert_eq!(made("UpdateBudget"), 1, "the limit changes in place");
    assert_eq!(
        made("UpdateNotification"),
        1,
        "the 80% notification becomes a 90% one"
    );
    assert_eq!(made("CreateSubscriber"), 1, "cto@ joins the actual notification");
    assert_eq!(
        made("DeleteSubscriber"),
        1,
        "ops@ leaves the forecasted notification"
    );
    assert_eq!(
        made("DeleteBudget") + made("CreateBudget") + made("CreateNotification") + made("DeleteNotification"),
        0
    );
    world.assert_converged();
}

/// AWS deletes a notification with its last subscriber: a sole subscriber replaced by
/// another (an email, or the one SNS topic a notification may have) must not take the
/// notification with it. One apply converges.
#[tokio::test]
async fn a_sole_subscriber_replaced_keeps_its_notification() {
    let world = World::with_dev_env();
    let sole = |email: &str, topic: &str| {
        format!(
            "[budgets.\"app-b\"]\nbudget_type = \"COST\"\ntime_unit = \"MONTHLY\"\n\
             limit = {{ amount = \"100\", unit = \"USD\" }}\n\
             [[budgets.\"app-b\".notifications]]\nnotification_type = \"ACTUAL\"\n\
             comparison = \"GREATER_THAN\"\nthreshold = 80.0\nemails = [{email}]\nsns_topics = [{topic}]\n"
        )
    };
    let topic = |name: &str| format!("\"arn:aws:sns:us-east-1:123456789012:{name}\"");
    for (email, sns) in [
        ("\"a@example.com\"".to_string(), String::new()),
        ("\"z@example.com\"".to_string(), String::new()),
        (String::new(), topic("t1")),
        (String::new(), topic("t2")),
    ] {
        world.write("desired/dev/b.toml", &sole(&email, &sns));
        world.plumb(&["apply", "--auto-approve"]).expect_code(0);
        world.assert_converged();
    }
}

/// The sole SNS topic replaced: the notification goes with the old topic and is made again.
/// A refusal there says that the alert is gone meanwhile; a creation answered 500 is done.
#[tokio::test]
async fn a_notification_made_again_says_so_when_it_fails() {
    let world = World::with_dev_env();
    let with_topic = |topic: &str| {
        format!(
            "[budgets.\"app-b\"]\nbudget_type = \"COST\"\ntime_unit = \"MONTHLY\"\n\
             limit = {{ amount = \"100\", unit = \"USD\" }}\n\
             [[budgets.\"app-b\".notifications]]\nnotification_type = \"ACTUAL\"\n\
             comparison = \"GREATER_THAN\"\nthreshold = 80.0\n\
             sns_topics = [\"arn:aws:sns:us-east-1:123456789012:{topic}\"]\n"
        )
    };
    world.write("desired/dev/b.toml", &with_topic("t1"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);

    world.write("desired/dev/b.toml", &with_topic("t2"));
    world.fault(json!({"operation": "CreateNotification", "kind": "error", "status": 400, "code": "AccessDeniedException", "count": 1}));
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    assert!(
        apply.stderr.contains(
            "(done before: removed subscriber arn:aws:sns:us-east-1:123456789012:t1, AWS deleted the \
             notification with its last subscriber)"
        ),
        "{}",
        apply.stderr
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();

    world.write("desired/dev/b.toml", &with_topic("t3"));
    world.fault(json!({"operation": "CreateNotification", "kind": "ghost", "count": 1}));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.clear_faults();
    world.assert_converged();
}

#[tokio::test]
async fn removed_budgets_are_deleted_and_others_untouched() {
    let world = World::with_dev_env();
    world.write("desired/dev/budgets.toml", MONTHLY);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    create_by_hand(&world, "finance-quarterly").await;
    create_by_hand(&world, "app-stray").await;

    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout
            .contains("- delete budget app-stray  (not declared in desired/)"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("finance-quarterly"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let budgets = world.budgets().await;
    let left = budgets
        .describe_budgets()
        .account_id(&world.account)
        .send()
        .await
        .unwrap();
    let mut names: Vec<_> = left.budgets().iter().map(|b| b.budget_name.clone()).collect();
    names.sort();
    assert_eq!(names, ["app-monthly", "finance-quarterly"]);
}

#[tokio::test]
async fn a_budget_type_change_is_a_replace() {
    let world = World::with_dev_env();
    world.write("desired/dev/budgets.toml", MONTHLY);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write(
        "desired/dev/budgets.toml",
        &MONTHLY.replace("budget_type = \"COST\"", "budget_type = \"USAGE\""),
    );
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout
            .contains("-/+ replace budget app-monthly  (AWS cannot change a budget's type in place)"),
        "{}",
        plan.stdout
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

#[test]
fn budgets_are_validated_offline() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/b.toml",
        r#"[budgets."app-daily"]
budget_type = "COST"
time_unit = "DAILY"
limit = { amount = "1,000", unit = "USD" }

[[budgets."app-daily".notifications]]
notification_type = "FORECASTED"
comparison = "GREATER_THAN"
threshold = 80.0
sns_topics = ["arn:aws:sns:us-east-1:123456789012:a", "arn:aws:sns:us-east-1:123456789012:b"]
"#,
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    insta::assert_snapshot!(world.shown(&run));
}

/// A `renamed_from` that names a budget still declared (here a protected one, in another
/// file) would delete it and create it anew: whatever the files' order, validate refuses.
#[test]
fn a_rename_from_a_budget_still_declared_is_refused() {
    let world = World::with_dev_env();
    let zeta = MONTHLY
        .replace(
            "[budgets.\"app-monthly\"]",
            "[budgets.\"app-zeta\"]\nprotect = true",
        )
        .replace(
            "budgets.\"app-monthly\".notifications",
            "budgets.\"app-zeta\".notifications",
        );
    world.write("desired/dev/b.toml", &zeta);
    for file in ["a.toml", "z.toml"] {
        world.write(
            &format!("desired/dev/{file}"),
            "[budgets.\"app-alpha\"]\nrenamed_from = \"app-zeta\"\nbudget_type = \"COST\"\n\
             time_unit = \"MONTHLY\"\nlimit = { amount = \"100\", unit = \"USD\" }\n",
        );
        let run = world.plumb_offline(&["validate"]);
        run.expect_code(1);
        let expected = format!(
            "error: desired/dev/{file}:1:10: budgets.app-alpha.renamed_from: `app-zeta` is still declared, \
             at desired/dev/b.toml:2:10: a rename deletes the budget of the old name; remove that \
             declaration, or `renamed_from`"
        );
        assert!(run.stderr.lines().any(|l| l == expected), "{}", run.stderr);
        std::fs::remove_file(world.path(&format!("desired/dev/{file}"))).unwrap();
    }
}

#[tokio::test]
async fn a_rename_is_one_replacement_that_says_so() {
    let world = World::with_dev_env();
    world.write("desired/dev/budgets.toml", MONTHLY);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let renamed = renamed_budget(MONTHLY, "app-monthly", "app-monthly-cost");
    world.write("desired/dev/budgets.toml", &renamed);
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout.contains("-/+ replace budget app-monthly-cost  (renamed from `app-monthly`: AWS cannot rename it, so it is deleted and created anew)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("Plan: 0 to create, 0 to update, 1 to replace, 0 to delete.")
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let left = world
        .budgets()
        .await
        .describe_budgets()
        .account_id(&world.account)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = left.budgets().iter().map(|b| b.budget_name.clone()).collect();
    assert_eq!(names, ["app-monthly-cost"]);
}
