//! The fidelity corpus: for every kind, objects created directly through the AWS API the way
//! another tool or a person would, then declared the natural way. An equivalent form must plan
//! as no change ("Quiet"); a small real difference must show, visibly ("Exact"). One case is
//! one line of the table below; the seeds are written with the real AWS SDK.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_budgets::types::{Budget, BudgetType, Spend, TimeUnit};
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};

use crate::support::World;

type Seed = fn(&World) -> Pin<Box<dyn Future<Output = ()> + '_>>;

/// What the plan must say: nothing, or a change whose rendering contains this text.
enum Expect {
    NoChange,
    Shows(&'static str),
}

struct Case {
    name: &'static str,
    seed: Seed,
    declared: &'static str,
    expect: Expect,
}

// --- seeds: one AWS object each, made as another tool would ------------------------------

async fn parameter(world: &World, name: &str, value: &str, kind: ParameterType, tier: Option<ParameterTier>) {
    let mut request = world
        .ssm()
        .await
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(kind);
    if let Some(tier) = tier {
        request = request.tier(tier);
    }
    request.send().await.unwrap();
}

fn string<'a>(world: &'a World, value: &'static str) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(parameter(world, "/dev/app/p", value, ParameterType::String, None))
}

async fn tagged(world: &World) {
    let tag = Tag::builder().key("team").value("a").build().unwrap();
    let ssm = world.ssm().await;
    ssm.put_parameter()
        .name("/dev/app/p")
        .value("v")
        .r#type(ParameterType::String)
        .tags(tag)
        .send()
        .await
        .unwrap();
}

async fn policy(world: &World, document: &str) {
    world
        .iam()
        .await
        .create_policy()
        .policy_name("p")
        .path("/app/")
        .policy_document(document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{document}: {e:?}"));
}

async fn group_with(world: &World, arns: &[&str]) {
    let iam = world.iam().await;
    iam.create_group()
        .group_name("ops")
        .path("/app/")
        .send()
        .await
        .unwrap();
    for arn in arns {
        iam.attach_group_policy()
            .group_name("ops")
            .policy_arn(*arn)
            .send()
            .await
            .unwrap();
    }
}

async fn alarm(world: &World, threshold: f64, actions: &[&str]) {
    let mut request = world
        .cloudwatch()
        .await
        .put_metric_alarm()
        .alarm_name("app-cpu")
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .dimensions(Dimension::builder().name("InstanceId").value("i-1").build())
        .dimensions(
            Dimension::builder()
                .name("AutoScalingGroupName")
                .value("asg")
                .build(),
        )
        .statistic(Statistic::Average)
        .period(300)
        .evaluation_periods(2)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold);
    for action in actions {
        request = request.alarm_actions(*action);
    }
    request.send().await.unwrap();
}

async fn dashboard(world: &World, body: &str) {
    let cloudwatch = world.cloudwatch().await;
    cloudwatch
        .put_dashboard()
        .dashboard_name("app-main")
        .dashboard_body(body)
        .send()
        .await
        .unwrap();
}

async fn budget(world: &World, amount: &str) {
    let budget = Budget::builder()
        .budget_name("app-monthly")
        .budget_limit(Spend::builder().amount(amount).unit("USD").build().unwrap())
        .time_unit(TimeUnit::Monthly)
        .budget_type(BudgetType::Cost)
        .build()
        .unwrap();
    let budgets = world.budgets().await;
    budgets
        .create_budget()
        .account_id(&world.account)
        .budget(budget)
        .send()
        .await
        .unwrap();
}

/// A value that needs the Advanced tier (over 4 KB).
const BIG: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const ALLOW_GET: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ssm:GetParameter"],"Resource":["*"]}]}"#;
const ALARM: &str = "[alarms.\"app-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\n\
    statistic = \"Average\"\nperiod = 300\nevaluation_periods = 2\ncomparison = \"GreaterThanThreshold\"\n";
const BUDGET: &str = "[budgets.\"app-monthly\"]\nbudget_type = \"COST\"\ntime_unit = \"MONTHLY\"\n";

/// The corpus. Each rule's source is named where the case is.
fn corpus() -> Vec<Case> {
    use Expect::{NoChange, Shows};
    vec![
        // SSM (AWS: PutParameter; Terraform aws provider issues on tier and StringList drift)
        Case {
            name: "a String declared without its type",
            seed: |w| string(w, "v"),
            declared: "[parameters.\"/dev/app/p\"]\nvalue = \"v\"\n",
            expect: NoChange,
        },
        Case {
            name: "a StringList as a list",
            seed: |w| Box::pin(parameter(w, "/dev/app/p", "a,b", ParameterType::StringList, None)),
            declared: "[parameters.\"/dev/app/p\"]\ntype = \"StringList\"\nvalue = [\"a\", \"b\"]\n",
            expect: NoChange,
        },
        Case {
            name: "the tier AWS chose, undeclared",
            seed: |w| {
                Box::pin(parameter(
                    w,
                    "/dev/app/p",
                    "v",
                    ParameterType::String,
                    Some(ParameterTier::Advanced),
                ))
            },
            declared: "[parameters.\"/dev/app/p\"]\nvalue = \"v\"\n",
            expect: NoChange,
        },
        Case {
            name: "Intelligent-Tiering, stored as Standard",
            seed: |w| {
                Box::pin(parameter(
                    w,
                    "/dev/app/p",
                    "v",
                    ParameterType::String,
                    Some(ParameterTier::IntelligentTiering),
                ))
            },
            declared: "[parameters.\"/dev/app/p\"]\nvalue = \"v\"\ntier = \"Intelligent-Tiering\"\n",
            expect: NoChange,
        },
        Case {
            name: "Intelligent-Tiering, stored as Advanced",
            seed: |w| Box::pin(big_intelligent(w)),
            declared: "[parameters.\"/dev/app/p\"]\ntype = \"SecureString\"\nvalue_from_env = \"BIG\"\ntier = \"Intelligent-Tiering\"\n",
            expect: NoChange,
        },
        Case {
            name: "tags as declared",
            seed: |w| Box::pin(tagged(w)),
            declared: "[parameters.\"/dev/app/p\"]\nvalue = \"v\"\ntags = { team = \"a\" }\n",
            expect: NoChange,
        },
        Case {
            name: "no description either side",
            seed: |w| string(w, "v"),
            declared: "[parameters.\"/dev/app/p\"]\nvalue = \"v\"\ndescription = \"\"\n",
            expect: Shows("description"),
        },
        Case {
            name: "a trailing newline",
            seed: |w| string(w, "v1\n"),
            declared: "[parameters.\"/dev/app/p\"]\nvalue = \"v1\"\n",
            expect: Shows("-v1↵"),
        },
        Case {
            name: "CRLF against LF",
            seed: |w| string(w, "line one\r\nline two"),
            declared: "[parameters.\"/dev/app/p\"]\nvalue = \"line one\\nline two\"\n",
            expect: Shows("-line one\\u{d}"),
        },
        Case {
            name: "a trailing space",
            seed: |w| string(w, "v1 "),
            declared: "[parameters.\"/dev/app/p\"]\nvalue = \"v1\"\n",
            expect: Shows("\"v1 \" -> \"v1\""),
        },
        Case {
            name: "a changed value",
            seed: |w| string(w, "a"),
            declared: "[parameters.\"/dev/app/p\"]\nvalue = \"b\"\n",
            expect: Shows("\"a\" -> \"b\""),
        },
        Case {
            name: "Advanced down to Standard",
            seed: |w| {
                Box::pin(parameter(
                    w,
                    "/dev/app/p",
                    "v",
                    ParameterType::String,
                    Some(ParameterTier::Advanced),
                ))
            },
            declared: "[parameters.\"/dev/app/p\"]\nvalue = \"v\"\ntier = \"Standard\"\n",
            expect: Shows("cannot move an Advanced parameter down"),
        },
        // IAM policy documents (AWS: IAM JSON policy grammar; documents are URL-encoded)
        Case {
            name: "a single Statement object",
            seed: |w| {
                Box::pin(policy(
                    w,
                    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"*"}}"#,
                ))
            },
            declared: "[policies.p]\ndocument = { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Action = [\"ssm:GetParameter\"], Resource = \"*\" }] }\n",
            expect: NoChange,
        },
        Case {
            name: "keys in another order",
            seed: |w| {
                Box::pin(policy(
                    w,
                    r#"{"Statement":[{"Resource":"*","Action":["ssm:GetParameter"],"Effect":"Allow"}],"Version":"2012-10-17"}"#,
                ))
            },
            declared: "[policies.p]\ndocument = { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Action = \"ssm:GetParameter\", Resource = \"*\" }] }\n",
            expect: NoChange,
        },
        Case {
            name: "actions as a set",
            seed: |w| {
                Box::pin(policy(
                    w,
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["b:X","a:Y","a:Y"],"Resource":"*"}]}"#,
                ))
            },
            declared: "[policies.p]\ndocument = { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Action = [\"a:Y\", \"b:X\"], Resource = \"*\" }] }\n",
            expect: NoChange,
        },
        Case {
            name: "a condition value as one string",
            seed: |w| {
                Box::pin(policy(
                    w,
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}}]}"#,
                ))
            },
            declared: "[policies.p]\ndocument = { Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Action = \"s3:*\", Resource = \"*\", Condition = { StringEquals = { \"aws:RequestedRegion\" = [\"us-east-1\"] } } }] }\n",
            expect: NoChange,
        },
        Case {
            name: "NotAction as a set",
            seed: |w| {
                Box::pin(policy(
                    w,
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":["iam:*","sts:*"],"Resource":"*"}]}"#,
                ))
            },
            declared: "[policies.p]\ndocument = { Version = \"2012-10-17\", Statement = [{ Effect = \"Deny\", NotAction = [\"sts:*\", \"iam:*\"], Resource = \"*\" }] }\n",
            expect: NoChange,
        },
        Case {
            name: "a changed effect",
            seed: |w| Box::pin(policy(w, ALLOW_GET)),
            declared: "[policies.p]\ndocument = { Version = \"2012-10-17\", Statement = [{ Effect = \"Deny\", Action = \"ssm:GetParameter\", Resource = \"*\" }] }\n",
            expect: Shows("\"Deny\""),
        },
        Case {
            name: "attachments in another order",
            seed: |w| {
                Box::pin(group_with(
                    w,
                    &[
                        "arn:aws:iam::aws:policy/ReadOnlyAccess",
                        "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess",
                    ],
                ))
            },
            declared: "[groups.ops]\nmanaged_policies = [\"arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess\", \"arn:aws:iam::aws:policy/ReadOnlyAccess\"]\n",
            expect: NoChange,
        },
        Case {
            name: "an attachment too many",
            seed: |w| Box::pin(group_with(w, &["arn:aws:iam::aws:policy/ReadOnlyAccess"])),
            declared: "[groups.ops]\n",
            expect: Shows("managed_policies"),
        },
        // CloudWatch alarms (AWS: PutMetricAlarm; dimensions and actions are sets)
        Case {
            name: "an alarm as declared, dimensions in another order",
            seed: |w| Box::pin(alarm(w, 80.0, &[])),
            declared: "[alarms.\"app-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\ndimensions = { AutoScalingGroupName = \"asg\", InstanceId = \"i-1\" }\nstatistic = \"Average\"\nperiod = 300\nevaluation_periods = 2\nthreshold = 80\ncomparison = \"GreaterThanThreshold\"\n",
            expect: NoChange,
        },
        Case {
            name: "alarm actions as a set",
            seed: |w| {
                Box::pin(alarm(
                    w,
                    80.0,
                    &[
                        "arn:aws:sns:us-east-1:123456789012:b",
                        "arn:aws:sns:us-east-1:123456789012:a",
                    ],
                ))
            },
            declared: "[alarms.\"app-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\ndimensions = { AutoScalingGroupName = \"asg\", InstanceId = \"i-1\" }\nstatistic = \"Average\"\nperiod = 300\nevaluation_periods = 2\nthreshold = 80.0\ncomparison = \"GreaterThanThreshold\"\nalarm_actions = [\"arn:aws:sns:us-east-1:123456789012:a\", \"arn:aws:sns:us-east-1:123456789012:b\"]\n",
            expect: NoChange,
        },
        Case {
            name: "a changed threshold",
            seed: |w| Box::pin(alarm(w, 80.0, &[])),
            declared: "[alarms.\"app-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\ndimensions = { AutoScalingGroupName = \"asg\", InstanceId = \"i-1\" }\nstatistic = \"Average\"\nperiod = 300\nevaluation_periods = 2\nthreshold = 90.0\ncomparison = \"GreaterThanThreshold\"\n",
            expect: Shows("80.0 -> 90.0"),
        },
        Case {
            name: "a dimension missing",
            seed: |w| Box::pin(alarm(w, 80.0, &[])),
            declared: ALARM_ONE_DIMENSION,
            expect: Shows("dimensions"),
        },
        // CloudWatch dashboards (JSON has one number type: RFC 8259 §6)
        Case {
            name: "80.0 against 80 in a body",
            seed: |w| {
                Box::pin(dashboard(
                    w,
                    r#"{"widgets":[{"type":"text","x":0,"y":0,"width":6.0,"height":2,"properties":{"markdown":"hi","value":80.0}}]}"#,
                ))
            },
            declared: "[dashboards.\"app-main\"]\nbody = { widgets = [{ type = \"text\", x = 0, y = 0, width = 6, height = 2, properties = { markdown = \"hi\", value = 80 } }] }\n",
            expect: NoChange,
        },
        Case {
            name: "body keys in another order",
            seed: |w| {
                Box::pin(dashboard(
                    w,
                    r#"{"widgets":[{"properties":{"markdown":"hi"},"height":2,"width":6,"y":0,"x":0,"type":"text"}]}"#,
                ))
            },
            declared: "[dashboards.\"app-main\"]\nbody = { widgets = [{ type = \"text\", x = 0, y = 0, width = 6, height = 2, properties = { markdown = \"hi\" } }] }\n",
            expect: NoChange,
        },
        Case {
            name: "a changed widget",
            seed: |w| {
                Box::pin(dashboard(
                    w,
                    r#"{"widgets":[{"type":"text","x":0,"y":0,"width":6,"height":2,"properties":{"markdown":"hi"}}]}"#,
                ))
            },
            declared: "[dashboards.\"app-main\"]\nbody = { widgets = [{ type = \"text\", x = 0, y = 0, width = 6, height = 2, properties = { markdown = \"bye\" } }] }\n",
            expect: Shows("\"bye\""),
        },
        // Budgets (AWS: amounts are decimals; large ones come back as `1.53E+7`)
        Case {
            name: "100.0 against 100",
            seed: |w| Box::pin(budget(w, "100.0")),
            declared: BUDGET_100,
            expect: NoChange,
        },
        Case {
            name: "1.53E+7 against 15300000",
            seed: |w| Box::pin(budget(w, "15300000")),
            declared: BUDGET_BIG,
            expect: NoChange,
        },
        Case {
            name: "15300000 declared as 1.53E+7",
            seed: |w| Box::pin(budget(w, "15300000")),
            declared: BUDGET_BIG_SCIENTIFIC,
            expect: NoChange,
        },
        Case {
            name: "a changed amount",
            seed: |w| Box::pin(budget(w, "100")),
            declared: BUDGET_BIG,
            expect: Shows("15300000"),
        },
    ]
}

const ALARM_ONE_DIMENSION: &str = "[alarms.\"app-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\n\
    dimensions = { InstanceId = \"i-1\" }\nstatistic = \"Average\"\nperiod = 300\nevaluation_periods = 2\n\
    threshold = 80.0\ncomparison = \"GreaterThanThreshold\"\n";
const BUDGET_100: &str = "[budgets.\"app-monthly\"]\nbudget_type = \"COST\"\ntime_unit = \"MONTHLY\"\nlimit = { amount = \"100\", unit = \"USD\" }\n";
const BUDGET_BIG: &str = "[budgets.\"app-monthly\"]\nbudget_type = \"COST\"\ntime_unit = \"MONTHLY\"\nlimit = { amount = \"15300000\", unit = \"USD\" }\n";
const BUDGET_BIG_SCIENTIFIC: &str = "[budgets.\"app-monthly\"]\nbudget_type = \"COST\"\ntime_unit = \"MONTHLY\"\nlimit = { amount = \"1.53E+7\", unit = \"USD\" }\n";

fn big() -> String {
    BIG.repeat(50)
}

async fn big_intelligent(world: &World) {
    let value = big();
    parameter(
        world,
        "/dev/app/p",
        &value,
        ParameterType::SecureString,
        Some(ParameterTier::IntelligentTiering),
    )
    .await;
}

#[tokio::test]
async fn equivalent_forms_are_quiet_and_real_differences_show() {
    let _ = (ALARM, BUDGET);
    let cases = corpus();
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let mut world = World::with_dev_env();
        world.set_env("BIG", &big());
        (case.seed)(&world).await;
        world.write("desired/dev/case.toml", case.declared);
        let plan = world.plumb(&["plan", "--detailed-exitcode"]);
        let ok = match case.expect {
            Expect::NoChange => plan.code == 0,
            Expect::Shows(text) => plan.code == 2 && plan.stdout.contains(text),
        };
        if !ok {
            failures.push(format!(
                "{}: exit {}\n{}{}",
                case.name, plan.code, plan.stdout, plan.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_large_budget_is_updated_in_decimals_never_in_scientific_notation() {
    let world = World::with_dev_env();
    budget(&world, "15300000").await;
    world.write("desired/dev/b.toml", &BUDGET_BIG.replace("15300000", "15400000"));
    // The emulator refuses scientific notation on UpdateBudget, as AWS does.
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

#[tokio::test]
async fn intelligent_tiering_is_quiet_straight_after_an_apply() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/p.toml",
        "[parameters.\"/dev/app/p\"]\nvalue = \"v\"\ntier = \"Intelligent-Tiering\"\n",
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let stored = world.ssm().await.describe_parameters().send().await.unwrap();
    let tier = stored.parameters()[0]
        .tier
        .clone()
        .map(|t| t.as_str().to_string());
    assert_eq!(tier.as_deref(), Some("Standard"), "AWS stores the tier it chose");
    world.assert_converged();
}
