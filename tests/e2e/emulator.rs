//! Self-tests of the emulator's AWS rules (`emulator/patches/<service>.py`): the rules moto does
//! not enforce and the emulator adds, checked through the AWS SDK as plumb meets them. If one of
//! these fails, the other tests no longer prove what they claim.

use aws_sdk_budgets::types::{Budget, BudgetType, Spend, TimeUnit};
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_ssm::types::{ParameterTier, ParameterType};

use crate::support::World;

const ACCOUNT: &str = "123456789012";

#[tokio::test]
async fn ssm_checks_allowed_patterns_and_chooses_a_tier_for_intelligent_tiering() {
    let world = World::new();
    let ssm = world.ssm().await;
    let refused = ssm
        .put_parameter()
        .name("/app/flag")
        .value("maybe")
        .r#type(ParameterType::String)
        .allowed_pattern("^(on|off)$")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("ParameterPatternMismatchException"));

    let big = "x".repeat(4097);
    let put = ssm
        .put_parameter()
        .name("/app/big")
        .value(&big)
        .r#type(ParameterType::String);
    let too_big = put.send().await.unwrap_err();
    assert_eq!(
        too_big.code(),
        Some("ValidationException"),
        "a Standard value holds 4 KB"
    );
    let put = ssm
        .put_parameter()
        .name("/app/big")
        .value(&big)
        .r#type(ParameterType::String);
    put.tier(ParameterTier::Advanced).send().await.unwrap();

    ssm.put_parameter()
        .name("/app/small")
        .value("x")
        .r#type(ParameterType::String)
        .tier(ParameterTier::IntelligentTiering)
        .send()
        .await
        .unwrap();
    let described = ssm.describe_parameters().send().await.unwrap();
    let small = described
        .parameters()
        .iter()
        .find(|p| p.name() == Some("/app/small"));
    let tier = small.unwrap().tier.clone();
    assert_eq!(
        tier,
        Some(ParameterTier::Standard),
        "AWS reports the tier it chose"
    );

    let too_many = ssm
        .describe_parameters()
        .max_results(51)
        .send()
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Some("ValidationException"), "50 a page at most");
}

#[tokio::test]
async fn iam_refuses_to_delete_what_still_has_members_or_attachments() {
    let world = World::new();
    let iam = world.iam().await;
    iam.create_group().group_name("ops").send().await.unwrap();
    iam.create_user().user_name("jo").send().await.unwrap();
    iam.add_user_to_group()
        .group_name("ops")
        .user_name("jo")
        .send()
        .await
        .unwrap();

    let group = iam.delete_group().group_name("ops").send().await.unwrap_err();
    assert_eq!(group.code(), Some("DeleteConflict"));
    let user = iam.delete_user().user_name("jo").send().await.unwrap_err();
    assert_eq!(user.code(), Some("DeleteConflict"));

    iam.remove_user_from_group()
        .group_name("ops")
        .user_name("jo")
        .send()
        .await
        .unwrap();
    iam.delete_user().user_name("jo").send().await.unwrap();
    iam.delete_group().group_name("ops").send().await.unwrap();
}

/// A managed policy `read`; its ARN.
async fn read_policy(iam: &aws_sdk_iam::Client) -> String {
    let document =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}"#;
    let policy = iam
        .create_policy()
        .policy_name("read")
        .policy_document(document)
        .send()
        .await
        .unwrap();
    policy.policy().and_then(|p| p.arn()).unwrap().to_string()
}

#[tokio::test]
async fn iam_deletes_a_policy_only_when_detached() {
    let world = World::new();
    let iam = world.iam().await;
    let arn = read_policy(&iam).await;
    iam.create_group().group_name("ops").send().await.unwrap();
    iam.attach_group_policy()
        .group_name("ops")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let attached = iam.delete_policy().policy_arn(&arn).send().await.unwrap_err();
    assert_eq!(attached.code(), Some("DeleteConflict"));
}

/// Attaching a policy twice to one user is one attachment, as on AWS: detached once, the
/// policy can be deleted (moto counted two, and refused for ever).
#[tokio::test]
async fn iam_counts_a_policy_attached_twice_to_a_user_once() {
    let world = World::new();
    let iam = world.iam().await;
    let arn = read_policy(&iam).await;
    iam.create_user().user_name("jo").send().await.unwrap();
    for _ in 0..2 {
        iam.attach_user_policy()
            .user_name("jo")
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
    }
    iam.detach_user_policy()
        .user_name("jo")
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    iam.delete_policy().policy_arn(&arn).send().await.unwrap();
}

#[tokio::test]
async fn budgets_answer_large_amounts_in_scientific_notation_and_refuse_it_on_writes() {
    let world = World::new();
    let budgets = world.budgets().await;
    let budget = |amount: &str| {
        Budget::builder()
            .budget_name("big")
            .budget_limit(Spend::builder().amount(amount).unit("USD").build().unwrap())
            .time_unit(TimeUnit::Monthly)
            .budget_type(BudgetType::Cost)
            .build()
            .unwrap()
    };
    budgets
        .create_budget()
        .account_id(ACCOUNT)
        .budget(budget("15300000"))
        .send()
        .await
        .unwrap();
    let read = budgets
        .describe_budget()
        .account_id(ACCOUNT)
        .budget_name("big")
        .send()
        .await
        .unwrap();
    let amount = read
        .budget()
        .and_then(|b| b.budget_limit())
        .map(|l| l.amount().to_string());
    assert_eq!(amount.as_deref(), Some("1.53E+7"), "AWS's BigDecimal form");

    let refused = budgets
        .update_budget()
        .account_id(ACCOUNT)
        .new_budget(budget("1.53E+7"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidParameterException"));

    let missing = budgets
        .delete_budget()
        .account_id(ACCOUNT)
        .budget_name("none")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NotFoundException"));
}

/// AWS: "Deleting the last subscriber to a notification also deletes the notification."
#[tokio::test]
async fn a_budget_notification_goes_with_its_last_subscriber() {
    use aws_sdk_budgets::types::{
        ComparisonOperator, Notification, NotificationType, Subscriber, SubscriptionType,
    };
    let world = World::new();
    let budgets = world.budgets().await;
    let budget = Budget::builder()
        .budget_name("b")
        .budget_limit(Spend::builder().amount("100").unit("USD").build().unwrap())
        .time_unit(TimeUnit::Monthly)
        .budget_type(BudgetType::Cost)
        .build()
        .unwrap();
    budgets
        .create_budget()
        .account_id(ACCOUNT)
        .budget(budget)
        .send()
        .await
        .unwrap();
    let notification = Notification::builder()
        .notification_type(NotificationType::Actual)
        .comparison_operator(ComparisonOperator::GreaterThan)
        .threshold(80.0)
        .build()
        .unwrap();
    let subscriber = |address: &str| {
        let built = Subscriber::builder()
            .subscription_type(SubscriptionType::Email)
            .address(address);
        built.build().unwrap()
    };
    let create = budgets.create_notification().account_id(ACCOUNT).budget_name("b");
    let create = create
        .notification(notification.clone())
        .subscribers(subscriber("a@example.com"));
    create.send().await.unwrap();
    let delete = budgets.delete_subscriber().account_id(ACCOUNT).budget_name("b");
    let delete = delete
        .notification(notification)
        .subscriber(subscriber("a@example.com"));
    delete.send().await.unwrap();
    let left = budgets
        .describe_notifications_for_budget()
        .account_id(ACCOUNT)
        .budget_name("b");
    assert!(left.send().await.unwrap().notifications().is_empty());
}

#[tokio::test]
async fn sns_email_subscriptions_wait_for_confirmation() {
    let world = World::new();
    let sns = world.sns().await;
    let topic = sns.create_topic().name("alerts").send().await.unwrap();
    let arn = topic.topic_arn().unwrap();
    sns.subscribe()
        .topic_arn(arn)
        .protocol("email")
        .endpoint("ops@example.com")
        .send()
        .await
        .unwrap();
    sns.subscribe()
        .topic_arn(arn)
        .protocol("sqs")
        .endpoint("arn:aws:sqs:us-east-1:123456789012:q")
        .send()
        .await
        .unwrap();
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(arn)
        .send()
        .await
        .unwrap();
    let arns: Vec<(&str, &str)> = listed
        .subscriptions()
        .iter()
        .map(|s| (s.protocol().unwrap(), s.subscription_arn().unwrap()))
        .collect();
    assert!(arns.contains(&("email", "PendingConfirmation")), "{arns:?}");
    assert!(
        arns.iter()
            .any(|(p, a)| *p == "sqs" && a.starts_with("arn:aws:sns:")),
        "{arns:?}"
    );
    let refused = sns
        .unsubscribe()
        .subscription_arn("PendingConfirmation")
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("InvalidParameter"));
}

#[tokio::test]
async fn cloudwatch_composite_alarms_need_their_children_first_and_last() {
    let world = World::new();
    let cloudwatch = world.cloudwatch().await;
    let composite = |rule: &str| {
        cloudwatch
            .put_composite_alarm()
            .alarm_name("both")
            .alarm_rule(rule)
            .actions_suppressor("child")
            .actions_suppressor_wait_period(60)
    };
    let missing = composite(r#"ALARM("child")"#).send().await.unwrap_err();
    assert_eq!(
        missing.code(),
        Some("ValidationError"),
        "the child does not exist yet"
    );
    cloudwatch
        .put_metric_alarm()
        .alarm_name("child")
        .namespace("App")
        .metric_name("Errors")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let garbled = composite(r#"ALARM("child") ANDD OK("child")"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(garbled.code(), Some("ValidationError"));
    composite(r#"ALARM("child")"#).send().await.unwrap();
    let read = cloudwatch
        .describe_alarms()
        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::CompositeAlarm)
        .send()
        .await
        .unwrap();
    let both = &read.composite_alarms()[0];
    assert_eq!(both.alarm_rule(), Some(r#"ALARM("child")"#));
    assert_eq!(both.actions_suppressor(), Some("child"));
    let in_use = cloudwatch
        .delete_alarms()
        .alarm_names("child")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        in_use.code(),
        Some("ValidationError"),
        "a composite depends on it"
    );
    cloudwatch
        .delete_alarms()
        .alarm_names("both")
        .send()
        .await
        .unwrap();
    cloudwatch
        .delete_alarms()
        .alarm_names("child")
        .send()
        .await
        .unwrap();
}

/// aws-sdk-cloudwatch speaks Smithy RPC v2 CBOR; moto serves the Query protocol. The
/// emulator's translation (emulator/cbor.py) must carry numbers, timestamps, lists, error
/// codes and injected faults both ways, or every CloudWatch test would test the translation.
#[tokio::test]
async fn cloudwatch_is_served_over_cbor() {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
    let world = World::new();
    let cloudwatch = world.cloudwatch().await;
    cloudwatch
        .put_metric_alarm()
        .alarm_name("cpu")
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .statistic(Statistic::Average)
        .dimensions(Dimension::builder().name("InstanceId").value("i-1").build())
        .period(300)
        .evaluation_periods(3)
        .threshold(80.5)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let read = cloudwatch.describe_alarms().send().await.unwrap();
    let alarm = &read.metric_alarms()[0];
    assert_eq!(alarm.threshold(), Some(80.5));
    assert_eq!(alarm.period(), Some(300));
    assert_eq!(alarm.dimensions()[0].value(), Some("i-1"));
    assert!(alarm.state_updated_timestamp().is_some(), "timestamps arrive");

    let missing = cloudwatch
        .get_dashboard()
        .dashboard_name("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("ResourceNotFound"));

    // A fault aimed at a CBOR operation answers in CBOR, with its code.
    world.fault(serde_json::json!({"operation": "DeleteAlarms", "kind": "error", "status": 400, "code": "LimitExceeded", "count": 1}));
    let faulted = cloudwatch
        .delete_alarms()
        .alarm_names("cpu")
        .send()
        .await
        .unwrap_err();
    assert_eq!(faulted.code(), Some("LimitExceeded"));
    assert_eq!(world.calls().get("DeleteAlarms"), Some(&1));
}

/// GetParametersByPath and DescribeParameters page from a sorted index of names (moto scans
/// its whole store a page): every parameter under the path exactly once, none beside it
/// (`/dev/apple` is not under `/dev/app`), and creations and deletions seen at once.
#[tokio::test]
async fn ssm_pages_by_path_from_a_sorted_index() {
    use aws_sdk_ssm::types::ParameterStringFilter;
    let world = World::new();
    let ssm = world.ssm().await;
    let put = |name: String| {
        let ssm = ssm.clone();
        async move {
            ssm.put_parameter()
                .name(name)
                .value("v")
                .r#type(ParameterType::String)
                .send()
                .await
                .unwrap();
        }
    };
    for i in 0..23 {
        put(format!("/dev/app/p{i:02}")).await;
    }
    put("/dev/apple".into()).await;
    put("/dev/app".into()).await;
    put("/dev/app/deep/er/x".into()).await;
    let by_path = || async {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let page = ssm
                .get_parameters_by_path()
                .path("/dev/app")
                .recursive(true)
                .max_results(10)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            names.extend(page.parameters().iter().map(|p| p.name().unwrap().to_string()));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return names;
            }
        }
    };
    let described = || async {
        let filter = ParameterStringFilter::builder()
            .key("Path")
            .option("Recursive")
            .values("/dev/app")
            .build()
            .unwrap();
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let page = ssm
                .describe_parameters()
                .parameter_filters(filter.clone())
                .max_results(50)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            names.extend(page.parameters().iter().map(|p| p.name().unwrap().to_string()));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return names;
            }
        }
    };
    let mut expected: Vec<String> = (0..23).map(|i| format!("/dev/app/p{i:02}")).collect();
    expected.insert(0, "/dev/app/deep/er/x".into());
    assert_eq!(by_path().await, expected);
    assert_eq!(described().await, expected);

    ssm.delete_parameter().name("/dev/app/p05").send().await.unwrap();
    put("/dev/app/p99".into()).await;
    expected.retain(|n| n != "/dev/app/p05");
    expected.push("/dev/app/p99".into());
    assert_eq!(by_path().await, expected);
    assert_eq!(described().await, expected);
}

/// The emulator writes GetParametersByPath and DescribeParameters pages itself (moto's
/// serializer was most of a page's time): the values must be the records moto's own
/// GetParameters answers, to the millisecond, and the metadata must agree with GetParameter
/// and with what was put, with the parameter's ARN, as AWS's does.
#[tokio::test]
async fn ssm_pages_written_directly_match_moto_and_name_their_arn() {
    use aws_sdk_ssm::types::ParameterStringFilter;
    let world = World::new();
    let ssm = world.ssm().await;
    let names = ["/dev/app/plain", "/dev/app/secret", "/dev/app/list"];
    let types = [
        ParameterType::String,
        ParameterType::SecureString,
        ParameterType::StringList,
    ];
    for (name, type_) in names.iter().zip(types) {
        ssm.put_parameter()
            .name(*name)
            .value("a,b")
            .r#type(type_)
            .description("said")
            .send()
            .await
            .unwrap();
    }
    ssm.put_parameter()
        .name("/dev/app/list")
        .value("a,b,c")
        .r#type(ParameterType::StringList)
        .tier(ParameterTier::Advanced)
        .allowed_pattern("^[a-c,]+$")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    for decrypt in [true, false] {
        let by_name = ssm
            .get_parameters()
            .set_names(Some(names.map(String::from).to_vec()))
            .with_decryption(decrypt)
            .send()
            .await
            .unwrap();
        let by_path = ssm
            .get_parameters_by_path()
            .path("/dev/app")
            .recursive(true)
            .with_decryption(decrypt)
            .send()
            .await
            .unwrap();
        let sorted = |mut list: Vec<aws_sdk_ssm::types::Parameter>| {
            list.sort_by(|a, b| a.name.cmp(&b.name));
            list
        };
        assert_eq!(
            sorted(by_path.parameters.unwrap()),
            sorted(by_name.parameters.unwrap()),
            "decrypt {decrypt}"
        );
    }
    let filter = ParameterStringFilter::builder()
        .key("Path")
        .option("Recursive")
        .values("/dev/app")
        .build()
        .unwrap();
    let described = ssm
        .describe_parameters()
        .parameter_filters(filter)
        .send()
        .await
        .unwrap();
    assert_eq!(described.parameters().len(), 3);
    for name in names {
        let read = ssm.get_parameter().name(name).send().await.unwrap();
        let read = read.parameter.unwrap();
        let listed = described
            .parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .unwrap();
        let arn = format!("arn:aws:ssm:us-east-1:{}:parameter{name}", world.account);
        assert_eq!(listed.arn(), Some(arn.as_str()));
        assert_eq!(listed.last_modified_date, read.last_modified_date, "{name}");
        assert_eq!(listed.version, read.version, "{name}");
        assert_eq!(listed.r#type, read.r#type, "{name}");
        assert_eq!(listed.data_type(), Some("text"), "{name}");
        assert!(listed.last_modified_user().is_some(), "{name}");
    }
    let listed = |name: &str| {
        described
            .parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .unwrap()
            .clone()
    };
    assert_eq!(listed("/dev/app/plain").description(), Some("said"));
    assert_eq!(listed("/dev/app/plain").tier, Some(ParameterTier::Standard));
    assert_eq!(listed("/dev/app/secret").key_id(), Some("alias/aws/ssm"));
    assert_eq!(listed("/dev/app/list").tier, Some(ParameterTier::Advanced));
    assert_eq!(listed("/dev/app/list").allowed_pattern(), Some("^[a-c,]+$"));
    assert_eq!(listed("/dev/app/list").version, 2);
}
