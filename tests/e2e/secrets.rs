//! Secrets never shown, whatever the history: a value plumb wrote from the environment stays
//! hidden after its declaration is removed or switched to a literal, a StringList from the
//! environment converges, and a secret echoed by an AWS error is masked.

use aws_sdk_ssm::types::ParameterType;
use serde_json::json;

use crate::support::{Run, World};

const CANARY: &str = "canary-FromEnv-5e1f0";

fn assert_hidden(runs: &[Run], world: &World, canary: &str) {
    for run in runs {
        assert!(
            !run.all_output().contains(canary),
            "{canary} leaked in:\n{}",
            run.all_output()
        );
    }
    assert!(
        !world.all_files_text().contains(canary),
        "{canary} leaked into a file"
    );
}

/// Every way a plan is shown, with the JSON plan saved to `plan.json`.
fn every_rendering(world: &World) -> Vec<Run> {
    vec![
        world.plumb(&["plan"]),
        world.plumb(&["plan", "--format", "markdown"]),
        world.plumb(&["plan", "--format", "json", "--out", "plan.json"]),
        world.plumb(&["drift"]),
    ]
}

fn declared_from_env() -> World {
    let mut world = World::with_dev_env();
    world.set_env("API_KEY", CANARY);
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/api-key\"]\nvalue_from_env = \"API_KEY\"\n",
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world
}

#[tokio::test]
async fn a_removed_declaration_does_not_reveal_the_value_it_wrote() {
    let world = declared_from_env();
    world.write("desired/dev/a.toml", "");
    let runs = every_rendering(&world);
    assert!(runs[0].stdout.contains("/dev/app/api-key"), "{}", runs[0].stdout);
    assert!(runs[0].stdout.contains("(sensitive value"), "{}", runs[0].stdout);
    assert_hidden(&runs, &world, CANARY);
}

#[tokio::test]
async fn a_switch_to_a_literal_does_not_reveal_the_old_value() {
    let world = declared_from_env();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/api-key\"]\nvalue = \"now-public\"\n",
    );
    let mut runs = every_rendering(&world);
    assert!(
        runs[0].stdout.contains("value: (sensitive value changed)"),
        "{}",
        runs[0].stdout
    );
    runs.push(world.plumb(&["apply", "--auto-approve"]));
    runs.last().unwrap().expect_code(0);
    assert_hidden(&runs, &world, CANARY);

    // The literal is plain from now on: its changes show again.
    world.assert_converged();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/api-key\"]\nvalue = \"still-public\"\n",
    );
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout.contains("\"now-public\" -> \"still-public\""),
        "{}",
        plan.stdout
    );
}

#[tokio::test]
async fn a_value_written_before_the_marker_gets_it_on_the_next_apply() {
    let mut world = World::with_dev_env();
    world.set_env("API_KEY", CANARY);
    // Written by an older plumb (or by hand): the value is there, the marker is not.
    world
        .ssm()
        .await
        .put_parameter()
        .name("/dev/app/api-key")
        .value(CANARY)
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/api-key\"]\nvalue_from_env = \"API_KEY\"\n",
    );
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout.contains("value_source: (none) -> \"environment\""),
        "{}",
        plan.stdout
    );
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(0);
    world.assert_converged();
    world.write("desired/dev/a.toml", "");
    let mut runs = every_rendering(&world);
    runs.extend([plan, apply]);
    assert_hidden(&runs, &world, CANARY);
}

#[tokio::test]
async fn a_string_list_from_the_environment_converges() {
    let mut world = World::with_dev_env();
    world.set_env("ORIGINS", "https://a.example.com,https://b.example.com");
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/origins\"]\ntype = \"StringList\"\nvalue_from_env = \"ORIGINS\"\n",
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(
        world.calls().get("PutParameter"),
        Some(&1),
        "written once, not on every apply"
    );
}

#[tokio::test]
async fn a_secret_echoed_by_an_aws_error_is_masked() {
    let mut world = World::with_dev_env();
    world.set_env("DB_PASSWORD", CANARY);
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/db/password\"]\ntype = \"SecureString\"\nvalue_from_env = \"DB_PASSWORD\"\n",
    );
    // A hostile or careless service: the error message quotes the request, secret and all.
    world.fault(
        json!({"operation": "PutParameter", "kind": "error", "status": 400,
                       "code": "ValidationException", "echo_request": true, "count": 1}),
    );
    let apply = world.plumb(&["apply", "--auto-approve", "--report", "report.json"]);
    apply.expect_code(1);
    assert!(apply.stderr.contains("ValidationException"), "{}", apply.stderr);
    assert!(
        apply.stderr.contains("***"),
        "the echoed value is masked: {}",
        apply.stderr
    );
    assert_hidden(&[apply], &world, CANARY);
}

#[tokio::test]
async fn a_plan_without_secrets_reads_none_says_so_and_has_the_digest_apply_will_see() {
    let mut world = World::with_dev_env();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/db/password\"]\ntype = \"SecureString\"\nvalue_from_env = \"DB_PASSWORD\"\n\
         [parameters.\"/dev/app/api-key\"]\nvalue_from_env = \"API_KEY\"\n\
         [parameters.\"/dev/app/host\"]\nvalue = \"db.internal\"\n",
    );
    // The pull request's plan job: no secret in its environment.
    let pr_plan = world.plumb(&["plan", "--without-secrets", "--format", "json"]);
    pr_plan.expect_code(0);
    assert!(
        pr_plan
            .stdout
            .contains("2 value(s) from the environment were not read (plan --without-secrets)"),
        "{}",
        pr_plan.stdout
    );
    let pr_digest = serde_json::from_str::<serde_json::Value>(&pr_plan.stdout).unwrap()["digest"].clone();

    // After the merge, apply holds the secrets: the same plan, so the reviewed digest holds.
    world.set_env("DB_PASSWORD", CANARY);
    world.set_env("API_KEY", "canary-Api-0b7e2");
    let merged = world.plumb(&["plan", "--format", "json"]);
    let merged_digest = serde_json::from_str::<serde_json::Value>(&merged.stdout).unwrap()["digest"].clone();
    assert_eq!(pr_digest, merged_digest);
    let digest = merged_digest.as_str().unwrap().to_string();
    world
        .plumb(&["apply", "--auto-approve", "--expect-digest", &digest])
        .expect_code(0);

    // Without the secrets, a later plan compares what it can and nothing else.
    world.env_vars.clear();
    world
        .plumb(&["plan", "--without-secrets", "--detailed-exitcode"])
        .expect_code(0);
    let without = world.plumb(&["plan"]);
    without.expect_code(1);
    assert!(
        without
            .stderr
            .contains("environment variable `DB_PASSWORD` is not set"),
        "{}",
        without.stderr
    );
}

#[tokio::test]
async fn a_secret_with_quotes_and_backslashes_is_masked_in_the_report_too() {
    // Any escaping keeps this prefix, so it is what must appear nowhere.
    const PREFIX: &str = "canary-Esc-7";
    let mut world = World::with_dev_env();
    world.set_env("DB_PASSWORD", &format!("{PREFIX}\"q\\b\t\u{1}x"));
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/db/password\"]\ntype = \"SecureString\"\nvalue_from_env = \"DB_PASSWORD\"\n",
    );
    world.fault(
        json!({"operation": "PutParameter", "kind": "error", "status": 400,
                       "code": "ValidationException", "echo_request": true, "count": 1}),
    );
    let apply = world.plumb(&["apply", "--auto-approve", "--report", "report.json"]);
    apply.expect_code(1);
    let report = std::fs::read_to_string(world.path("report.json")).unwrap();
    assert!(report.contains("ValidationException"), "{report}");
    assert_hidden(&[apply], &world, PREFIX);
}

#[tokio::test]
async fn a_secret_that_reads_like_json_does_not_corrupt_the_plan_file() {
    let mut world = World::with_dev_env();
    world.set_env("FLAG", "true");
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/flag\"]\ntype = \"SecureString\"\nvalue_from_env = \"FLAG\"\n\
         [parameters.\"/dev/app/other\"]\nvalue = \"v\"\n",
    );
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    let json = world.plumb(&["plan", "--format", "json"]);
    serde_json::from_str::<serde_json::Value>(&json.stdout).expect("the JSON plan is JSON");
    world.plumb(&["apply", "plan.json"]).expect_code(0);
}
