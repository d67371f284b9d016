//! `plumb compare`: environments lined up by name with their environment-specific parts taken
//! out; what is missing where, and what differs (SPEC §4).

use crate::support::{REGION, World};

/// dev and prod in one account: `/dev/app/` and `/prod/app/`, alarms `app-dev-*`/`app-prod-*`.
fn two_environments(world: &World, extra: &str) {
    let account = &world.account;
    let mut toml = String::new();
    for (env, threshold) in [("dev", 70), ("prod", 90)] {
        toml.push_str(&format!(
            "[environments.{env}]\naccount_id = \"{account}\"\nregion = \"{REGION}\"\n\
             [environments.{env}.vars]\ncpu = {threshold}\n\
             [environments.{env}.scope]\nparameter_paths = [\"/{env}/app/\"]\nalarm_prefixes = [\"app-{env}-\"]\n\n"
        ));
    }
    toml.push_str(extra);
    world.write("desired/plumb.toml", &toml);
    world.write(
        "desired/shared/alarms.toml",
        "[alarms.\"app-${env}-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\n\
         dimensions = { AutoScalingGroupName = \"app-${env}\" }\nstatistic = \"Average\"\nperiod = 300\n\
         evaluation_periods = 2\nthreshold = \"${vars.cpu}\"\ncomparison = \"GreaterThanThreshold\"\n",
    );
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/db/host\"]\nvalue = \"db.dev.internal\"\n\
         [parameters.\"/dev/app/feature/new-ui\"]\nvalue = \"on\"\n\
         [parameters.\"/dev/app/log-level\"]\nvalue = \"debug\"\n\
         [parameters.\"/dev/app/region\"]\nvalue = \"us-east-1\"\n",
    );
    world.write(
        "desired/prod/app.toml",
        "[parameters.\"/prod/app/db/host\"]\nvalue = \"db.prod.internal\"\n\
         [parameters.\"/prod/app/log-level\"]\nvalue = \"warn\"\n\
         [parameters.\"/prod/app/region\"]\nvalue = \"us-east-1\"\n",
    );
}

#[test]
fn compare_reports_a_key_missing_in_prod_and_differing_values() {
    let world = World::new();
    two_environments(&world, "");
    let text = world.plumb_offline(&["compare", "dev", "prod"]);
    text.expect_code(2);
    insta::assert_snapshot!("compare_text", text.stdout);
    let markdown = world.plumb_offline(&["compare", "dev", "prod", "--format", "markdown"]);
    markdown.expect_code(2);
    insta::assert_snapshot!("compare_markdown", markdown.stdout);

    let json = world.plumb_offline(&["compare", "dev", "prod", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["missing"][0]["name"], "/{env}/app/feature/new-ui");
    assert_eq!(report["missing"][0]["missing"], serde_json::json!(["prod"]));
    let different: Vec<(&str, &str)> = report["different"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["field"].as_str().unwrap()))
        .collect();
    // The dimension `app-dev` / `app-prod` and the host names' `dev`/`prod` segments are the
    // environments' own parts: not differences. Log levels and thresholds are.
    assert_eq!(
        different,
        [("app-{env}-cpu", "threshold"), ("/{env}/app/log-level", "value")]
    );
}

#[test]
fn environments_alike_compare_clean_and_the_order_asked_for_is_kept() {
    let world = World::new();
    two_environments(&world, "");
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/a\"]\nvalue = \"x\"\n",
    );
    world.write(
        "desired/prod/app.toml",
        "[parameters.\"/prod/app/a\"]\nvalue = \"x\"\n",
    );
    world.write(
        "desired/shared/alarms.toml",
        "[alarms.\"app-${env}-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\nstatistic = \"Average\"\n\
         period = 300\nevaluation_periods = 2\nthreshold = 1.0\ncomparison = \"GreaterThanThreshold\"\n",
    );
    let run = world.plumb_offline(&["compare", "prod", "dev"]);
    run.expect_code(0);
    assert_eq!(run.stdout, "Comparing prod, dev (desired/)\n\nNo differences.\n");

    let one = world.plumb_offline(&["compare", "dev"]);
    one.expect_code(64);
    let twice = world.plumb_offline(&["compare", "dev", "dev"]);
    twice.expect_code(1);
    assert!(
        twice.stderr.contains("an environment is named twice"),
        "{}",
        twice.stderr
    );
}

/// Live: what was changed by hand shows, and two environments holding the same secret are
/// warned about without the value appearing anywhere.
#[test]
fn compare_live_warns_about_a_secret_two_environments_share_without_showing_it() {
    let mut world = World::new();
    two_environments(&world, "");
    let secret = "s3cr3t-shared-between-envs";
    world.set_env("DB_PASSWORD", secret);
    for env in ["dev", "prod"] {
        world.write(
            &format!("desired/{env}/secret.toml"),
            &format!(
                "[parameters.\"/{env}/app/db/password\"]\ntype = \"SecureString\"\nvalue_from_env = \"DB_PASSWORD\"\n"
            ),
        );
    }
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    for format in ["text", "markdown", "json"] {
        let run = world.plumb(&["compare", "dev", "prod", "--live", "--format", format]);
        run.expect_code(2);
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "the secret leaked"
        );
        assert!(run.stdout.contains("db/password"), "{}", run.stdout);
    }
    let run = world.plumb(&["compare", "dev", "prod", "--live"]);
    assert!(
        run.stdout.contains("Warning: parameter /{env}/app/db/password has the same secret value in dev, prod (values not shown)."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Comparing dev, prod (live AWS)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("log-level"), "{}", run.stdout);
}

/// Names and values are someone's text: in Markdown they stay code, never links, images or
/// table cells of their own.
#[test]
fn compare_markdown_keeps_values_inert() {
    let world = World::new();
    two_environments(&world, "");
    let hostile = "[click](https://evil.example) ![t](https://evil.example/t.png) | <b>x</b> `tick`";
    world.write(
        "desired/dev/app.toml",
        &format!("[parameters.\"/dev/app/a\"]\nvalue = '{hostile}'\n"),
    );
    world.write(
        "desired/prod/app.toml",
        "[parameters.\"/prod/app/a\"]\nvalue = \"plain\"\n",
    );
    let run = world.plumb_offline(&["compare", "dev", "prod", "--format", "markdown"]);
    run.expect_code(2);
    let line = run.stdout.lines().find(|l| l.contains("evil.example")).unwrap();
    assert!(
        line.contains("`` \"[click](https://evil.example)"),
        "a code span: {line}"
    );
    assert!(line.contains("\\|"), "the pipe cannot end the cell: {line}");
    assert_eq!(line.matches(" | ").count(), 3, "four cells, no more: {line}");
}
