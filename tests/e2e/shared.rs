//! One definition for many environments: desired/shared/ with placeholders and per-environment
//! variables, `[shared] environments`, and `[naming]` rules (SPEC §2a).

use serde_json::Value as Json;

use crate::support::{REGION, World};

/// dev, uat and prod in one account (each owning its own alarm prefix), with an app name and
/// a CPU threshold each; `extra` goes at the end of plumb.toml.
fn three_environments(world: &World, thresholds: [i64; 3], extra: &str) {
    let account = &world.account;
    let mut toml = String::new();
    for (env, threshold) in ["dev", "uat", "prod"].iter().zip(thresholds) {
        toml.push_str(&format!(
            "[environments.{env}]\naccount_id = \"{account}\"\nregion = \"{REGION}\"\n\
             [environments.{env}.vars]\napp = \"shop\"\ncpu_threshold = {threshold}\n\
             [environments.{env}.scope]\nalarm_prefixes = [\"shop-{env}-\"]\n\n"
        ));
        world.write(&format!("desired/{env}/.keep.toml"), "");
    }
    toml.push_str(extra);
    world.write("desired/plumb.toml", &toml);
}

const SHARED_ALARM: &str = r#"[alarms."${vars.app}-${env}-cpu-high"]
description = "CPU of ${vars.app} in ${env} (${region})"
namespace = "AWS/EC2"
metric = "CPUUtilization"
dimensions = { AutoScalingGroupName = "${vars.app}-${env}" }
statistic = "Average"
period = 300
evaluation_periods = 2
threshold = "${vars.cpu_threshold}"
comparison = "GreaterThanThreshold"
"#;

fn thresholds(world: &World) -> Vec<(String, f64)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let alarms = world.cloudwatch().await.describe_alarms().send().await.unwrap();
        alarms
            .metric_alarms()
            .iter()
            .map(|a| (a.alarm_name().unwrap().to_string(), a.threshold().unwrap()))
            .collect()
    })
}

fn plan_json(world: &World) -> Json {
    let run = world.plumb(&["plan", "--format", "json"]);
    assert!(run.code == 0 || run.code == 2, "{}{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

#[test]
fn a_shared_alarm_takes_each_environment_s_threshold_and_one_variable_changes_one_environment() {
    let world = World::new();
    three_environments(&world, [70, 80, 90], "");
    world.write("desired/shared/alarms.toml", SHARED_ALARM);

    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(
        thresholds(&world),
        [
            ("shop-dev-cpu-high".to_string(), 70.0),
            ("shop-prod-cpu-high".to_string(), 90.0),
            ("shop-uat-cpu-high".to_string(), 80.0)
        ]
    );
    world.assert_converged();

    // The plan shows resolved values, never placeholders.
    three_environments(&world, [70, 85, 90], "");
    let plan = plan_json(&world);
    let text = plan.to_string();
    assert!(!text.contains("${"), "placeholders are resolved: {text}");
    let changed: Vec<(&str, usize)> = plan["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["environment"].as_str().unwrap(),
                e["changes"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(changed, [("dev", 0), ("prod", 0), ("uat", 1)]);
    let run = world.plumb(&["plan", "--env", "uat"]);
    assert!(
        run.stdout
            .contains("~ update alarm shop-uat-cpu-high\n      threshold: 80.0 -> 85.0\n"),
        "{}",
        run.stdout
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert!(thresholds(&world).contains(&("shop-uat-cpu-high".to_string(), 85.0)));
    world.assert_converged();
}

#[test]
fn shared_environments_limits_where_shared_files_are_declared() {
    let world = World::new();
    three_environments(&world, [70, 80, 90], "[shared]\nenvironments = [\"prod\"]\n");
    world.write("desired/shared/alarms.toml", SHARED_ALARM);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(thresholds(&world), [("shop-prod-cpu-high".to_string(), 90.0)]);

    three_environments(&world, [70, 80, 90], "[shared]\nenvironments = [\"prd\"]\n");
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("shared.environments: no environment `prd`"),
        "{}",
        run.stderr
    );
}

#[test]
fn placeholder_mistakes_name_the_file_line_and_environment() {
    let world = World::new();
    three_environments(&world, [70, 80, 90], "");
    world.write(
        "desired/shared/alarms.toml",
        &SHARED_ALARM.replace("${vars.cpu_threshold}", "${vars.cpu_treshold}"),
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    for env in ["dev", "uat", "prod"] {
        let expected = format!(
            "shared/alarms.toml:9:13: unknown variable `${{vars.cpu_treshold}}` in environment `{env}` \
             (set it in [environments.{env}.vars]; did you mean `cpu_threshold`?)"
        );
        assert!(run.stderr.contains(&expected), "{}", run.stderr);
    }
    // Only that: no second, confusing error about the field's type.
    assert!(!run.stderr.contains("invalid type"), "{}", run.stderr);

    world.write(
        "desired/shared/alarms.toml",
        &SHARED_ALARM.replace("${region}", "${regoin}").replace(
            "${vars.app}-${env}\"",
            "${vars.app}-${account_id}-${vars.cpu_threshold}\"",
        ),
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("unknown placeholder `${regoin}`"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("sets no `account_id`"),
        "account_id is set: {}",
        run.stderr
    );

    // `$${` is a literal `${`.
    world.write(
        "desired/shared/alarms.toml",
        &SHARED_ALARM.replace("(${region})", "($${HOME})"),
    );
    world.plumb_offline(&["validate"]).expect_code(0);
}

#[test]
fn a_resource_in_shared_and_in_an_environment_folder_names_both_places() {
    let world = World::new();
    three_environments(&world, [70, 80, 90], "");
    world.write("desired/shared/alarms.toml", SHARED_ALARM);
    world.write(
        "desired/uat/alarms.toml",
        "[alarms.\"shop-uat-cpu-high\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\n\
         statistic = \"Average\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1.0\n\
         comparison = \"GreaterThanThreshold\"\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("shared/alarms.toml:1:9: alarm `shop-uat-cpu-high` is declared twice: here and at")
            && run.stderr.contains("uat/alarms.toml:1:9"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("declared twice").count(),
        1,
        "only uat: {}",
        run.stderr
    );
}

#[test]
fn a_name_that_breaks_its_naming_rule_fails_validate_with_both_locations() {
    let world = World::new();
    three_environments(
        &world,
        [70, 80, 90],
        "[naming]\nalarms = \"{vars.app}-{env}-*\"\n",
    );
    world.write("desired/shared/alarms.toml", SHARED_ALARM);
    world.plumb_offline(&["validate"]).expect_code(0);

    world.write(
        "desired/dev/alarms.toml",
        "[alarms.\"shop-dev-disk/full\"]\nnamespace = \"AWS/EC2\"\nmetric = \"Disk\"\n\
         statistic = \"Average\"\nperiod = 60\nevaluation_periods = 1\nthreshold = 1.0\n\
         comparison = \"GreaterThanThreshold\"\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    let config = std::fs::read_to_string(world.path("desired/plumb.toml")).unwrap();
    let rule_line = config.lines().position(|l| l.starts_with("alarms = ")).unwrap() + 1;
    assert!(
        run.stderr.contains(&format!(
            "dev/alarms.toml:1:9: alarms.\"shop-dev-disk/full\": the name breaks the naming rule \
             `{{vars.app}}-{{env}}-*` (desired/plumb.toml:{rule_line}:1), which in environment `dev` is `shop-dev-*`"
        )),
        "{}",
        run.stderr
    );

    three_environments(
        &world,
        [70, 80, 90],
        "[naming]\nalarms = \"{vars.team}-{env}-*\"\nalarm = \"*\"\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("naming.alarms: `{vars.team}`: environment `dev` sets no variable `team`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("naming.alarm: unknown table; did you mean `alarms`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn drift_lists_live_objects_that_break_the_naming_rule() {
    let world = World::new();
    three_environments(
        &world,
        [70, 80, 90],
        "[naming]\nalarms = \"{vars.app}-{env}-*-high\"\n",
    );
    world.write("desired/shared/alarms.toml", SHARED_ALARM);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    // Made by hand, in dev's scope, against the convention.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        world
            .cloudwatch()
            .await
            .put_metric_alarm()
            .alarm_name("shop-dev-adhoc")
            .namespace("AWS/EC2")
            .metric_name("CPUUtilization")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
            .send()
            .await
            .unwrap();
    });
    let run = world.plumb(&["drift", "--env", "dev"]);
    run.expect_code(2);
    assert!(
        run.stdout.contains("naming: live alarm `shop-dev-adhoc` breaks the rule `{vars.app}-{env}-*-high` (`shop-dev-*-high` in this environment)"),
        "{}",
        run.stdout
    );
}

/// Typed variables are placed at their placeholder (a multi-byte comment before it must not
/// shift anything), their values meet the same limits as written ones, keys that collide once
/// filled in are refused, and IAM's own `${aws:...}` variables are left alone.
#[test]
fn variables_are_checked_like_written_values() {
    let world = World::new();
    let account = &world.account;
    world.write(
        "desired/plumb.toml",
        &format!(
            "[environments.dev]\naccount_id = \"{account}\"\nregion = \"{REGION}\"\n\
             [environments.dev.vars]\ndims = {{ A = 5 }}\nnanv = nan\n\
             [environments.dev.scope]\nalarm_prefixes = [\"app-\"]\niam_path = \"/app/\"\n"
        ),
    );
    world.write(
        "desired/dev/a.toml",
        "# ééééééééééééééééééééééééééééééé\n[alarms.\"app-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPU\"\n\
         dimensions = \"${vars.dims}\"\nstatistic = \"Average\"\nperiod = 60\nevaluation_periods = 1\n\
         threshold = \"${vars.nanv}\"\ncomparison = \"GreaterThanThreshold\"\ntags = { \"${env}\" = \"a\", dev = \"b\" }\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("a.toml:9:13: `nan` is not a finite number"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("a.toml:11:26: key `dev` is written twice once placeholders are filled in (also at desired/dev/a.toml:11:10)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);

    world.write(
        "desired/dev/a.toml",
        "[groups.ops.inline_policies.self]\ndocument = { Version = \"2012-10-17\", Statement = [\
         { Effect = \"Allow\", Action = \"iam:GetUser\", Resource = \"arn:aws:iam::${account_id}:user/${aws:username}\" }] }\n",
    );
    world.plumb_offline(&["validate"]).expect_code(0);
}

/// A shared declaration's files live in shared/; an error found in a shared file in every
/// environment is said once, naming them.
#[test]
fn shared_declarations_read_their_files_from_shared_and_errors_are_said_once() {
    let world = World::new();
    three_environments(&world, [70, 80, 90], "");
    world.write(
        "desired/shared/dashboards.toml",
        "[dashboards.\"${vars.app}-${env}-overview\"]\nfile = \"dashboards/overview.json\"\n",
    );
    world.write("desired/shared/dashboards/overview.json", "{\"widgets\": []}");
    let toml = std::fs::read_to_string(world.path("desired/plumb.toml")).unwrap();
    world.write(
        "desired/plumb.toml",
        &toml
            .replace(
                "alarm_prefixes = [\"shop-dev-\"]",
                "alarm_prefixes = [\"shop-dev-\"]\ndashboard_prefixes = [\"shop-dev-\"]",
            )
            .replace(
                "alarm_prefixes = [\"shop-uat-\"]",
                "alarm_prefixes = [\"shop-uat-\"]\ndashboard_prefixes = [\"shop-uat-\"]",
            )
            .replace(
                "alarm_prefixes = [\"shop-prod-\"]",
                "alarm_prefixes = [\"shop-prod-\"]\ndashboard_prefixes = [\"shop-prod-\"]",
            ),
    );
    world.plumb_offline(&["validate"]).expect_code(0);

    // Each environment's own problem names it ...
    world.write(
        "desired/shared/alarms.toml",
        &SHARED_ALARM.replace("period = 300", "period = \"five minutes\""),
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    for env in ["dev", "uat", "prod"] {
        let expected = format!(
            "shared/alarms.toml:7:10: alarms.shop-{env}-cpu-high.period: invalid type: string \"five minutes\", \
             expected a whole number (environment `{env}`)"
        );
        assert!(run.stderr.contains(&expected), "{}", run.stderr);
    }
    // ... and a problem alike in every environment is said once.
    world.write(
        "desired/shared/alarms.toml",
        &SHARED_ALARM.replace("CPU of ${vars.app}", "CPU of ${vars.app"),
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert_eq!(run.stderr.matches("has no closing").count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("(environments `dev`, `prod`, `uat`)"),
        "{}",
        run.stderr
    );
}
