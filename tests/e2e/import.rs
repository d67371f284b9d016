//! `plumb import` end to end: an account seeded through the AWS API, imported, then
//! validated and planned with no changes; secrets never written; nothing existing touched.

use aws_sdk_budgets::types::{
    Budget, BudgetType, ComparisonOperator as BudgetComparison, Notification, NotificationType, Spend,
    Subscriber, SubscriptionType, ThresholdType, TimeUnit,
};
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, Statistic, Tag as AlarmTag,
};
use aws_sdk_iam::types::Tag as IamTag;
use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag as SsmTag};

use crate::support::World;

const CANARY: &str = "canary-import-secret-7f3a";
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:GetParameter"],"Resource":"*"}]}"#;
const DESCRIBE: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}}"#;

async fn seed_parameters(world: &World) {
    let ssm = world.ssm().await;
    let put = |name: &str, value: &str, type_: ParameterType| {
        ssm.put_parameter().name(name).value(value).r#type(type_)
    };
    put("/dev/app/host", "db.internal", ParameterType::String)
        .description("the database host")
        .tags(SsmTag::builder().key("team").value("data").build().unwrap())
        .send()
        .await
        .unwrap();
    put(
        "/dev/app/origins",
        "https://a.example,https://b.example",
        ParameterType::StringList,
    )
    .send()
    .await
    .unwrap();
    put("/dev/app/big", "large", ParameterType::String)
        .tier(ParameterTier::Advanced)
        .send()
        .await
        .unwrap();
    put("/dev/app/flag", "on", ParameterType::String)
        .allowed_pattern("^(on|off)$")
        .send()
        .await
        .unwrap();
    put("/dev/app/db/password", CANARY, ParameterType::SecureString)
        .key_id("alias/app-dev")
        .send()
        .await
        .unwrap();
    // Looks like dev's, but lies outside its parameter_paths.
    put("/dev/other/x", "1", ParameterType::String)
        .send()
        .await
        .unwrap();
}

async fn seed_iam(world: &World) {
    let iam = world.iam().await;
    let policy = iam
        .create_policy()
        .policy_name("ssm-read")
        .path("/app/")
        .description("Read parameters")
        .policy_document(POLICY)
        .send()
        .await
        .unwrap();
    let arn = policy.policy().and_then(|p| p.arn()).unwrap().to_string();
    iam.create_group()
        .group_name("ops")
        .path("/app/")
        .send()
        .await
        .unwrap();
    iam.create_group()
        .group_name("outside")
        .path("/")
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name("ops")
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name("ops")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    iam.put_group_policy()
        .group_name("ops")
        .policy_name("describe-ec2")
        .policy_document(DESCRIBE)
        .send()
        .await
        .unwrap();
    iam.create_user()
        .user_name("alice")
        .path("/app/")
        .tags(IamTag::builder().key("team").value("backend").build().unwrap())
        .send()
        .await
        .unwrap();
    for group in ["ops", "outside"] {
        iam.add_user_to_group()
            .group_name(group)
            .user_name("alice")
            .send()
            .await
            .unwrap();
    }
    // Named like dev's, at a path outside iam_path.
    iam.create_user()
        .user_name("app-dev-stray")
        .path("/")
        .send()
        .await
        .unwrap();
}

async fn seed_cloudwatch(world: &World) {
    let cloudwatch = world.cloudwatch().await;
    cloudwatch
        .put_metric_alarm()
        .alarm_name("app-cpu")
        .namespace("AWS/RDS")
        .metric_name("CPUUtilization")
        .dimensions(
            Dimension::builder()
                .name("DBInstanceIdentifier")
                .value("app")
                .build(),
        )
        .statistic(Statistic::Average)
        .period(300)
        .evaluation_periods(2)
        .threshold(80.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        .alarm_actions("arn:aws:sns:us-east-1:123456789012:alerts")
        .tags(AlarmTag::builder().key("team").value("data").build())
        .send()
        .await
        .unwrap();
    let errors = MetricStat::builder()
        .metric(Metric::builder().namespace("App").metric_name("Errors").build())
        .period(60)
        .stat("Sum")
        .build();
    cloudwatch
        .put_metric_alarm()
        .alarm_name("app-error-rate")
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .metrics(
            MetricDataQuery::builder()
                .id("errors")
                .metric_stat(errors)
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
        .send()
        .await
        .unwrap();
    let body =
        r#"{"widgets":[{"type":"text","x":0,"y":0,"width":6,"height":3,"properties":{"markdown":"hello"}}]}"#;
    cloudwatch
        .put_dashboard()
        .dashboard_name("app-main")
        .dashboard_body(body)
        .send()
        .await
        .unwrap();
}

async fn seed_budget(world: &World) {
    let budgets = world.budgets().await;
    let budget = Budget::builder()
        .budget_name("app-monthly")
        .budget_limit(Spend::builder().amount("100").unit("USD").build().unwrap())
        .time_unit(TimeUnit::Monthly)
        .budget_type(BudgetType::Cost)
        .build()
        .unwrap();
    let notification = Notification::builder()
        .notification_type(NotificationType::Actual)
        .comparison_operator(BudgetComparison::GreaterThan)
        .threshold(80.0)
        .threshold_type(ThresholdType::Percentage)
        .build()
        .unwrap();
    let subscriber = Subscriber::builder()
        .subscription_type(SubscriptionType::Email)
        .address("ops@example.com")
        .build()
        .unwrap();
    let with = aws_sdk_budgets::types::NotificationWithSubscribers::builder()
        .notification(notification)
        .subscribers(subscriber)
        .build()
        .unwrap();
    budgets
        .create_budget()
        .account_id(&world.account)
        .budget(budget)
        .notifications_with_subscribers(with)
        .send()
        .await
        .unwrap();
}

async fn seeded_world() -> World {
    let world = World::with_dev_env();
    seed_parameters(&world).await;
    seed_iam(&world).await;
    seed_cloudwatch(&world).await;
    seed_budget(&world).await;
    world
}

/// Every file under `desired/dev/imported/`, by path, with its content.
fn imported_files(world: &World) -> String {
    fn walk(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let root = world.path("desired/dev/imported");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .iter()
        .map(|f| {
            let name = f.strip_prefix(&root).unwrap().display();
            format!("=== {name}\n{}", std::fs::read_to_string(f).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn an_imported_account_plans_no_changes_and_no_secret_is_written() {
    let world = seeded_world().await;
    // An existing declaration is left as it is, and not imported again.
    let existing = "[parameters.\"/dev/app/flag\"]\nvalue = \"on\"\nallowed_pattern = \"^(on|off)$\"\n";
    world.write("desired/dev/flag.toml", existing);

    let import = world.plumb(&["import"]);
    import.expect_code(0);
    // What it says (the secrets' variables, what lies out of reach) and what it writes, as a
    // person reads them.
    insta::assert_snapshot!("import_says", world.anonymised(&import.stdout));
    insta::assert_snapshot!("import_writes", world.anonymised(&imported_files(&world)));
    assert_eq!(
        std::fs::read_to_string(world.path("desired/dev/flag.toml")).unwrap(),
        existing
    );
    world.plumb_offline(&["validate"]).expect_code(0);
    let plan = world.plumb(&["plan", "--detailed-exitcode"]);
    plan.expect_code(0);

    let everything = format!(
        "{}{}{}",
        import.all_output(),
        plan.all_output(),
        world.all_files_text()
    );
    assert!(!everything.contains(CANARY), "the secret leaked");

    let again = world.plumb(&["import"]);
    again.expect_code(0);
    assert!(
        again.stdout.contains("dev: nothing to import"),
        "{}",
        again.stdout
    );
    assert!(
        !world.path("desired/dev/imported-2").exists(),
        "a second import writes nothing"
    );
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_kinds_can_be_chosen() {
    let world = seeded_world().await;
    let dry = world.plumb(&["import", "--dry-run", "--kind", "budgets", "--kind", "dashboards"]);
    dry.expect_code(0);
    assert!(dry.stdout.contains("[budgets.app-monthly]"), "{}", dry.stdout);
    assert!(dry.stdout.contains("would write"), "{}", dry.stdout);
    assert!(!dry.stdout.contains("[parameters"), "{}", dry.stdout);
    assert!(!world.path("desired/dev/imported").exists());

    let wrong = world.plumb(&["import", "--kind", "budget-s"]);
    wrong.expect_code(1);
    assert!(
        wrong.stderr.contains("did you mean `budgets`?"),
        "{}",
        wrong.stderr
    );
}

/// Names that map to one file or one variable, a secret named like a runner's variable, a
/// tag with plumb's prefix: the import still plans empty and writes each thing once.
/// A secret imported in a later run never reads the variable of one imported earlier (or
/// declared by hand): `/dev/app/DB/pass` and `/dev/app/db-pass` both want `DEV_APP_DB_PASS`,
/// and sharing it would give the two secrets one value when they are created again.
#[tokio::test]
async fn a_later_import_gives_its_secrets_variables_of_their_own() {
    let world = World::with_dev_env();
    let ssm = world.ssm().await;
    let secret = |name: &str| {
        let put = ssm.put_parameter().name(name).value(CANARY);
        put.r#type(ParameterType::SecureString).send()
    };
    secret("/dev/app/DB/pass").await.unwrap();
    world.plumb(&["import"]).expect_code(0);
    secret("/dev/app/db-pass").await.unwrap();
    world.plumb(&["import"]).expect_code(0);

    let first = std::fs::read_to_string(world.path("desired/dev/imported/parameters.toml")).unwrap();
    let second = std::fs::read_to_string(world.path("desired/dev/imported-2/parameters.toml")).unwrap();
    assert!(
        first.contains("initial_value_from_env = \"DEV_APP_DB_PASS\""),
        "{first}"
    );
    assert!(
        second.contains("initial_value_from_env = \"DEV_APP_DB_PASS_2\""),
        "{second}"
    );

    // A variable named through an environment's vars, and one in small letters (one name to
    // a Windows runner), are taken too.
    world.plumb_toml("[environments.dev.vars]\ntoken = \"DEV_APP_TOKEN\"\n");
    world.write(
        "desired/dev/declared.toml",
        "[parameters.\"/dev/app/declared-token\"]\ntype = \"SecureString\"\nvalue_from_env = \"${vars.token}\"\n\
         [parameters.\"/dev/app/declared-key\"]\ntype = \"SecureString\"\nvalue_from_env = \"dev_app_key\"\n",
    );
    secret("/dev/app/token").await.unwrap();
    secret("/dev/app/key").await.unwrap();
    world.plumb(&["import"]).expect_code(0);
    let third = std::fs::read_to_string(world.path("desired/dev/imported-3/parameters.toml")).unwrap();
    assert!(
        third.contains("initial_value_from_env = \"DEV_APP_TOKEN_2\""),
        "{third}"
    );
    assert!(
        third.contains("initial_value_from_env = \"DEV_APP_KEY_2\""),
        "{third}"
    );
}

#[tokio::test]
async fn hostile_names_get_a_file_and_a_variable_each() {
    let world = World::new();
    world.plumb_toml_with_scope("", "parameter_paths = [\"/github/\"]\niam_path = \"/app/\"\n");
    let ssm = world.ssm().await;
    for name in ["/github/token", "/github/db-password", "/github/db.password"] {
        ssm.put_parameter()
            .name(name)
            .value(CANARY)
            .r#type(ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    let iam = world.iam().await;
    for name in ["a+b", "a=b"] {
        iam.create_policy()
            .policy_name(name)
            .path("/app/")
            .policy_document(POLICY)
            .send()
            .await
            .unwrap();
    }
    iam.create_group()
        .group_name("ops")
        .path("/app/")
        .send()
        .await
        .unwrap();
    for name in ["inline+1", "inline=1"] {
        iam.put_group_policy()
            .group_name("ops")
            .policy_name(name)
            .policy_document(DESCRIBE)
            .send()
            .await
            .unwrap();
    }
    iam.create_user()
        .user_name("jo")
        .path("/app/")
        .tags(IamTag::builder().key("plumb:owner").value("me").build().unwrap())
        .send()
        .await
        .unwrap();

    // Text that reads like a placeholder: written escaped (`$${`), so it loads as it is.
    ssm.put_parameter()
        .name("/github/template")
        .value("${HOME}/bin:${vars.path}")
        .description("made by ${USER}")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();

    // A pattern AWS (Java) accepts and plumb's validator cannot read: listed, not written.
    ssm.put_parameter()
        .name("/github/flag")
        .value("ok")
        .r#type(ParameterType::String)
        .allowed_pattern("^(?!bad).*$")
        .send()
        .await
        .unwrap();

    let import = world.plumb(&["import", "--kind", "users"]);
    import.expect_code(0);
    assert!(
        import.stdout.contains("1 user, 1 group, 2 policies")
            || import.stdout.contains("2 policies, 1 group, 1 user"),
        "users bring their groups and policies: {}",
        import.stdout
    );
    let all = world.plumb(&["import"]);
    all.expect_code(0);
    let says = all.stdout.clone();
    assert!(
        says.contains("SSM_GITHUB_TOKEN  (parameter /github/token)"),
        "{says}"
    );
    assert!(
        says.contains("GITHUB_DB_PASSWORD  (parameter /github/db-password)"),
        "{says}"
    );
    assert!(
        says.contains("GITHUB_DB_PASSWORD_2  (parameter /github/db.password)"),
        "{says}"
    );
    assert!(
        says.contains(
            "Not imported: AWS holds them in a form plumb cannot declare (yet):\n  parameter /github/flag: parameters.\"/github/flag\".allowed_pattern: not a valid pattern"
        ),
        "{says}"
    );
    world.plumb_offline(&["validate"]).expect_code(0);
    // Everything written loads and plans clean; what was not written is a deletion to decide on.
    let plan = world.plumb(&["plan", "--detailed-exitcode"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("Plan: 0 to create, 0 to update, 0 to replace, 1 to delete."),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("- delete parameter /github/flag"),
        "{}",
        plan.stdout
    );
    let everything = format!(
        "{}{}{}",
        import.all_output(),
        all.all_output(),
        world.all_files_text()
    );
    assert!(!everything.contains(CANARY), "the secret leaked");
}
