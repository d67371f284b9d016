//! CloudWatch metric alarms and dashboards end to end.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::ComparisonOperator;
use serde_json::json;

use crate::support::{Transcript, World};

const MONITORING: &str = r#"
[alarms."app-db-cpu-high"]
description = "DB CPU > 80%"
namespace = "AWS/RDS"
metric = "CPUUtilization"
dimensions = { DBInstanceIdentifier = "app-db" }
statistic = "Average"
period = 300
evaluation_periods = 2
threshold = 80.0
comparison = "GreaterThanThreshold"
alarm_actions = ["arn:aws:sns:us-east-1:123456789012:alerts"]
tags = { team = "sre" }

[alarms."app-search-latency-p99"]
namespace = "AWS/ES"
metric = "SearchLatency"
dimensions = { DomainName = "app-search", ClientId = "123456789012" }
extended_statistic = "p99"
period = 60
evaluation_periods = 5
datapoints_to_alarm = 3
threshold = 250
comparison = "GreaterThanOrEqualToThreshold"
treat_missing_data = "notBreaching"
unit = "Milliseconds"
evaluate_low_sample_count_percentile = "ignore"

[alarms."app-storage-used"]
comparison = "GreaterThanThreshold"
threshold = 80.0
evaluation_periods = 3
metrics = [
  { id = "free", return_data = false, metric_stat = { namespace = "AWS/ES", metric = "FreeStorageSpace", dimensions = { DomainName = "app-search" }, period = 300, stat = "Minimum" } },
  { id = "used", return_data = false, metric_stat = { namespace = "AWS/ES", metric = "ClusterUsedSpace", dimensions = { DomainName = "app-search" }, period = 300, stat = "Maximum", unit = "Megabytes" } },
  { id = "percent", expression = "100 * used / (used + free)", label = "Storage used (%)" },
]

[alarms."app-requests-anomaly"]
comparison = "LessThanLowerOrGreaterThanUpperThreshold"
threshold_metric_id = "band"
evaluation_periods = 2
metrics = [
  { id = "requests", return_data = true, metric_stat = { namespace = "AWS/ApplicationELB", metric = "RequestCount", dimensions = { LoadBalancer = "app/web/1" }, period = 300, stat = "Sum" } },
  { id = "band", expression = "ANOMALY_DETECTION_BAND(requests, 2)", label = "expected", return_data = true },
]

[dashboards."app-overview"]
file = "overview.json"
"#;

fn overview(title: &str) -> String {
    let widget = |title: &str, metric: &str| {
        json!({"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6,
               "properties": {"title": title, "region": "us-east-1", "stat": "Average", "period": 300,
                              "metrics": [["AWS/RDS", metric, "DBInstanceIdentifier", "app-db"]]}})
    };
    let body = json!({"widgets": [widget("CPU", "CPUUtilization"), widget(title, "DatabaseConnections"), widget("IOPS", "ReadIOPS")]});
    serde_json::to_string_pretty(&body).unwrap()
}

fn world_with_monitoring() -> World {
    let world = World::with_dev_env();
    world.write("desired/dev/monitoring.toml", MONITORING);
    world.write("desired/dev/overview.json", &overview("Connections"));
    world
}

async fn put_cpu_alarm_by_hand(cloudwatch: &Client, threshold: f64) {
    cloudwatch
        .put_metric_alarm()
        .alarm_name("app-db-cpu-high")
        .alarm_description("DB CPU > 80%")
        .namespace("AWS/RDS")
        .metric_name("CPUUtilization")
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("DBInstanceIdentifier")
                .value("app-db")
                .build(),
        )
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(300)
        .evaluation_periods(2)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .alarm_actions("arn:aws:sns:us-east-1:123456789012:alerts")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn create_then_converge_then_catch_a_threshold_changed_by_hand() {
    let world = world_with_monitoring();
    let mut seen = Transcript::default();
    seen.plumb(&world, &["plan"]).expect_code(0);
    seen.plumb(&world, &["apply", "--auto-approve"]).expect_code(0);
    // Metric math, anomaly bands, percentiles and defaults all round-trip with no diff.
    world.assert_converged();

    seen.note("by hand: the CPU alarm's threshold raised to 95");
    put_cpu_alarm_by_hand(&world.cloudwatch().await, 95.0).await;
    seen.plumb(&world, &["drift"]).expect_code(2);
    seen.plumb(&world, &["apply", "--auto-approve"]).expect_code(0);
    insta::assert_snapshot!(seen.text());
    world.assert_converged();
    let alarms = world
        .cloudwatch()
        .await
        .describe_alarms()
        .alarm_names("app-db-cpu-high")
        .send()
        .await
        .unwrap();
    assert_eq!(alarms.metric_alarms()[0].threshold, Some(80.0));
}

#[tokio::test]
async fn a_changed_widget_title_is_a_few_diff_lines() {
    let world = world_with_monitoring();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write("desired/dev/overview.json", &overview("DB connections"));
    let plan = world.plumb(&["plan"]);
    let out = &plan.stdout;
    assert!(out.contains(r#"-        "title": "Connections""#), "{out}");
    assert!(out.contains(r#"+        "title": "DB connections""#), "{out}");
    let diff_lines = out
        .lines()
        .filter(|l| l.trim_start().starts_with(['-', '+']))
        .count();
    assert!(
        diff_lines <= 4,
        "the diff names the widget's title, not the whole body:\n{out}"
    );
    assert!(
        !out.contains("ReadIOPS"),
        "widgets far from the change are not shown:\n{out}"
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();

    // Reformatting the file changes nothing.
    let compact = serde_json::to_string(
        &serde_json::from_str::<serde_json::Value>(&overview("DB connections")).unwrap(),
    )
    .unwrap();
    world.write("desired/dev/overview.json", &compact);
    world.assert_converged();
}

#[tokio::test]
async fn removed_alarms_are_deleted_and_foreign_ones_untouched() {
    let world = world_with_monitoring();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let cloudwatch = world.cloudwatch().await;
    cloudwatch
        .put_metric_alarm()
        .alarm_name("other-team-alarm")
        .namespace("X")
        .metric_name("Y")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let without_cpu = MONITORING.replace(
        "[alarms.\"app-db-cpu-high\"]",
        "[alarms.\"app-db-cpu-high-renamed\"]",
    );
    world.write("desired/dev/monitoring.toml", &without_cpu);
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout
            .contains("- delete alarm app-db-cpu-high  (not declared in desired/)"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("+ create alarm app-db-cpu-high-renamed"));
    assert!(!plan.stdout.contains("other-team-alarm"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let left = cloudwatch
        .describe_alarms()
        .alarm_names("other-team-alarm")
        .alarm_names("app-db-cpu-high")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = left
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name.as_deref())
        .collect();
    assert_eq!(names, ["other-team-alarm"]);
}

#[tokio::test]
async fn alarm_tags_are_updated_in_place() {
    let world = world_with_monitoring();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write(
        "desired/dev/monitoring.toml",
        &MONITORING.replace("tags = { team = \"sre\" }", "tags = { team = \"dba\" }"),
    );
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout.contains(r#"tags: {"team":"sre"} -> {"team":"dba"}"#),
        "{}",
        plan.stdout
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

#[tokio::test]
async fn alarms_are_read_in_pages() {
    let world = world_with_monitoring();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.fault(json!({ "operation": "DescribeAlarms", "kind": "page_cap", "max": 2 }));
    let before = world.calls()["DescribeAlarms"];
    world.assert_converged();
    assert_eq!(
        world.calls()["DescribeAlarms"] - before,
        2,
        "4 alarms in pages of 2"
    );
}

#[test]
fn alarms_and_dashboards_are_validated_offline() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/bad.toml",
        r#"[alarms."app-a"]
namespace = "AWS/RDS"
metric = "CPUUtilization"
statistic = "Average"
extended_statistic = "p99"
period = 45
evaluation_periods = 2
threshold = 1.0
comparison = "GreaterThan"
alarm_actions = ["sns:alerts"]

[alarms."app-b"]
comparison = "GreaterThanThreshold"
threshold = 1.0
evaluation_periods = 2000
metrics = [
  { id = "m1", metric_stat = { namespace = "N", metric = "M", period = 60, stat = "Sum" } },
  { id = "m1", expression = "m1 * 2" },
]

[alarms."other-c"]
namespace = "N"
metric = "M"
statistic = "Sum"
period = 60
evaluation_periods = 1
threshold = 1.0
comparison = "GreaterThanThreshold"

[dashboards."app-d"]
body = { title = "no widgets" }
"#,
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    insta::assert_snapshot!(world.shown(&run));
}

const COMPOSITE: &str = r#"
[alarms."app-cpu"]
namespace = "AWS/EC2"
metric = "CPUUtilization"
statistic = "Average"
period = 300
evaluation_periods = 2
threshold = 80.0
comparison = "GreaterThanThreshold"

[alarms."app-latency"]
namespace = "App"
metric = "Latency"
statistic = "Average"
period = 60
evaluation_periods = 3
threshold = 500.0
comparison = "GreaterThanThreshold"

[alarms."app-degraded"]
description = "CPU and latency high together"
rule = 'ALARM("app-cpu") AND ALARM("app-latency")'
"#;

#[tokio::test]
async fn a_composite_alarm_is_created_after_its_children_and_deleted_before_them() {
    let world = World::with_dev_env();
    world.write("desired/dev/alarms.toml", COMPOSITE);
    // The emulator, as AWS, refuses a composite alarm whose children do not exist yet.
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();

    let changed = COMPOSITE.replace(r#"AND ALARM("app-latency")"#, r#"OR ALARM("app-latency")"#);
    world.write("desired/dev/alarms.toml", &changed);
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout.contains("~ update alarm app-degraded"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("rule:"), "{}", plan.stdout);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();

    // And refuses to delete an alarm a composite still names: the composite goes first.
    world.write("desired/dev/alarms.toml", "");
    world
        .plumb(&["apply", "--auto-approve", "--allow-deletes", "3"])
        .expect_code(0);
    let cloudwatch = world.cloudwatch().await;
    let left = cloudwatch
        .describe_alarms()
        .alarm_name_prefix("app-")
        .send()
        .await
        .unwrap();
    assert!(left.metric_alarms().is_empty() && left.composite_alarms().is_empty());
}

#[test]
fn composite_rules_are_validated_offline() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/alarms.toml",
        "[alarms.\"app-bad\"]\nrule = 'ALARM(\"app-cpu\") ANDD OK(\"x\")'\n\
         [alarms.\"app-mixed\"]\nrule = 'ALARM(\"app-cpu\")'\nthreshold = 1.0\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    insta::assert_snapshot!(world.shown(&run));
}

#[tokio::test]
async fn a_composite_stops_naming_an_alarm_before_the_alarm_goes_and_its_tags_change() {
    let world = World::with_dev_env();
    let tagged = COMPOSITE.replace(
        "description = \"CPU and latency high together\"",
        "description = \"CPU and latency high together\"\ntags = { team = \"sre\" }",
    );
    world.write("desired/dev/alarms.toml", &tagged);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);

    // One apply: the composite's rule drops app-latency, app-latency is deleted, tags change.
    let without_latency = tagged
        .replace(
            r#"'ALARM("app-cpu") AND ALARM("app-latency")'"#,
            r#"'ALARM("app-cpu")'"#,
        )
        .replace("team = \"sre\"", "team = \"ops\"");
    let start = without_latency.find("[alarms.\"app-latency\"]").unwrap();
    let end = without_latency.find("[alarms.\"app-degraded\"]").unwrap();
    let without_latency = format!("{}{}", &without_latency[..start], &without_latency[end..]);
    world.write("desired/dev/alarms.toml", &without_latency);
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(0);
    world.assert_converged();
}

#[tokio::test]
async fn composites_naming_composites_are_created_and_deleted_in_one_apply() {
    let world = World::with_dev_env();
    let chain = format!(
        "{COMPOSITE}\n[alarms.\"app-page\"]\nrule = 'ALARM(\"app-degraded\") AND NOT ALARM(\"app-quiet\")'\n\
         [alarms.\"app-quiet\"]\nrule = 'OK(\"app-cpu\")'\n"
    );
    world.write("desired/dev/alarms.toml", &chain);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    world.write("desired/dev/alarms.toml", "");
    world
        .plumb(&["apply", "--auto-approve", "--allow-deletes", "5"])
        .expect_code(0);
    world.assert_converged();
}
