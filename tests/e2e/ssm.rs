//! SSM parameters end to end: the real plumb binary and the real AWS SDK against the emulator.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::ParameterType;
use serde_json::json;

use crate::support::{Transcript, World};

const APP: &str = r#"
[parameters."/dev/app/db/host"]
value = "db.internal"
description = "Primary database"

[parameters."/dev/app/origins"]
type = "StringList"
value = ["https://a.example.com", "https://b.example.com"]

[parameters."/dev/app/version"]
value = "v1"
tags = { team = "backend" }
"#;

async fn value_of(world: &World, name: &str) -> Option<String> {
    let output = world
        .ssm()
        .await
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .ok()?;
    output.parameter?.value
}

async fn put(world: &World, name: &str, value: &str) {
    world
        .ssm()
        .await
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .expect("put");
}

#[tokio::test]
async fn create_then_converge_then_catch_drift_then_converge_again() {
    let world = World::with_dev_env();
    world.write("desired/dev/app.toml", APP);
    let mut seen = Transcript::default();

    seen.plumb(&world, &["plan", "--detailed-exitcode"])
        .expect_code(2);
    seen.plumb(&world, &["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(
        value_of(&world, "/dev/app/db/host").await.as_deref(),
        Some("db.internal")
    );
    assert_eq!(
        value_of(&world, "/dev/app/origins").await.as_deref(),
        Some("https://a.example.com,https://b.example.com")
    );
    seen.plumb(&world, &["plan", "--detailed-exitcode"])
        .expect_code(0);

    seen.note("by hand: a changed value, a stray parameter in scope, one outside the scope");
    put(&world, "/dev/app/db/host", "db.hand-edited").await;
    put(&world, "/dev/app/stray", "left behind").await;
    put(&world, "/dev/other/not-ours", "keep me").await;

    seen.plumb(&world, &["drift"]).expect_code(2);
    let plan = seen.plumb(&world, &["plan"]);
    assert!(
        !plan.stdout.contains("not-ours"),
        "nothing outside the scope is read for deletion"
    );
    seen.plumb(&world, &["apply", "--auto-approve"]).expect_code(0);
    insta::assert_snapshot!(seen.text());

    world.assert_converged();
    assert_eq!(
        value_of(&world, "/dev/app/db/host").await.as_deref(),
        Some("db.internal")
    );
    assert_eq!(value_of(&world, "/dev/app/stray").await, None);
    assert_eq!(
        value_of(&world, "/dev/other/not-ours").await.as_deref(),
        Some("keep me")
    );
}

#[tokio::test]
async fn tags_are_managed_when_declared() {
    let world = World::with_dev_env();
    world.write("desired/dev/app.toml", APP);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);

    let ssm = world.ssm().await;
    let tag = aws_sdk_ssm::types::Tag::builder()
        .key("owner")
        .value("bob")
        .build()
        .unwrap();
    ssm.add_tags_to_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
        .resource_id("/dev/app/version")
        .tags(tag)
        .send()
        .await
        .unwrap();

    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout
            .contains(r#"tags: {"owner":"bob","team":"backend"} -> {"team":"backend"}"#),
        "{}",
        plan.stdout
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

#[tokio::test]
async fn a_type_change_is_a_replace_and_applies() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/list\"]\nvalue = \"a\"\n",
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);

    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/list\"]\ntype = \"StringList\"\nvalue = [\"a\", \"b\"]\n",
    );
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout
            .contains("-/+ replace parameter /dev/app/list  (AWS cannot change a parameter's type in place)")
    );
    assert!(
        plan.stdout
            .contains("Plan: 0 to create, 0 to update, 1 to replace, 0 to delete.")
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    assert_eq!(value_of(&world, "/dev/app/list").await.as_deref(), Some("a,b"));
}

#[tokio::test]
async fn a_saved_plan_is_refused_when_live_state_changed_since() {
    let world = World::with_dev_env();
    world.write("desired/dev/app.toml", APP);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write("desired/dev/app.toml", &APP.replace("\"v1\"", "\"v2\""));
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);

    put(&world, "/dev/app/db/host", "changed-after-review").await;

    let apply = world.plumb(&["apply", "plan.json"]);
    apply.expect_code(3);
    insta::assert_snapshot!(world.shown(&apply));
    // Nothing was applied, not even the reviewed change.
    assert_eq!(value_of(&world, "/dev/app/version").await.as_deref(), Some("v1"));
}

#[tokio::test]
async fn a_saved_plan_applies_when_nothing_changed() {
    let world = World::with_dev_env();
    world.write("desired/dev/app.toml", APP);
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    let apply = world.plumb(&["apply", "plan.json"]);
    apply.expect_code(0);
    assert!(apply.stdout.contains("Apply complete: 3 change(s) made."));
    world.assert_converged();
}

#[tokio::test]
async fn expect_digest_mismatch_is_refused_and_applies_nothing() {
    let world = World::with_dev_env();
    world.write("desired/dev/app.toml", APP);
    let apply = world.plumb(&["apply", "--auto-approve", "--expect-digest", "sha256:0000"]);
    apply.expect_code(3);
    assert!(apply.stderr.contains("not the expected sha256:0000"));
    assert_eq!(world.calls().get("PutParameter"), None);
}

#[tokio::test]
async fn initial_value_is_set_once_and_then_left_alone() {
    let mut world = World::with_dev_env();
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/token\"]\ntype = \"SecureString\"\ninitial_value_from_env = \"FIRST_TOKEN\"\n",
    );
    let plan = world.plumb(&["plan", "--detailed-exitcode"]);
    plan.expect_code(0);
    insta::assert_snapshot!(world.shown(&plan));

    world.set_env("FIRST_TOKEN", "first-value");
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(
        value_of(&world, "/dev/app/token").await.as_deref(),
        Some("first-value")
    );

    // People rotate it by hand; plumb does not fight them.
    world
        .ssm()
        .await
        .put_parameter()
        .name("/dev/app/token")
        .value("rotated")
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    world.assert_converged();
}

/// A replacement (here: `allowed_pattern` removed, which AWS cannot do in place) of a
/// parameter whose value people own since its creation writes back the live value: not the
/// initial value again, and not nothing when the variable is unset, as it is in most applies.
#[tokio::test]
async fn a_replaced_parameter_keeps_the_value_people_gave_it() {
    const TOKEN: &str = "[parameters.\"/dev/app/token\"]\ntype = \"TYPE\"\n\
                         initial_value_from_env = \"FIRST_TOKEN\"\nallowed_pattern = \"^[A-Za-z0-9]+$\"\n";
    for (type_, variable_set) in [("SecureString", false), ("SecureString", true), ("String", false)] {
        let mut world = World::with_dev_env();
        let declared = TOKEN.replace("TYPE", type_);
        world.write("desired/dev/app.toml", &declared);
        world.set_env("FIRST_TOKEN", "FirstValue");
        world.plumb(&["apply", "--auto-approve"]).expect_code(0);
        let ssm = world.ssm().await;
        let rotate = ssm.put_parameter().name("/dev/app/token").value("RotatedByHand");
        let rotate = rotate
            .r#type(ParameterType::from(type_))
            .allowed_pattern("^[A-Za-z0-9]+$");
        rotate.overwrite(true).send().await.unwrap();
        if !variable_set {
            world.env_vars.remove("FIRST_TOKEN");
        }

        world.write(
            "desired/dev/app.toml",
            &declared.replace("allowed_pattern = \"^[A-Za-z0-9]+$\"\n", ""),
        );
        let apply = world.plumb(&["apply", "--auto-approve"]);
        apply.expect_code(0);
        assert!(
            apply.stdout.contains("-/+ replace parameter /dev/app/token"),
            "{}",
            apply.stdout
        );
        let case = format!("{type_}, FIRST_TOKEN set: {variable_set}");
        assert_eq!(
            value_of(&world, "/dev/app/token").await.as_deref(),
            Some("RotatedByHand"),
            "{case}"
        );
        assert!(!apply.all_output().contains("RotatedByHand") && !apply.all_output().contains("FirstValue"));
        world.assert_converged();

        // Still a secret once its declaration is gone: a String keeps its from-environment
        // marker through the replacement, so the deletion shows no value.
        world.write("desired/dev/app.toml", "");
        let plan = world.plumb(&["plan"]);
        assert!(
            plan.stdout.contains("- delete parameter /dev/app/token"),
            "{}",
            plan.stdout
        );
        assert!(
            !plan.all_output().contains("RotatedByHand"),
            "{case}: {}",
            plan.stdout
        );
    }
}

/// The value people gave a parameter was never checked against the declaration's new rules:
/// a replacement whose new pattern it does not match is refused before the delete, which
/// would otherwise lose the value for good.
#[tokio::test]
async fn a_replacement_that_could_not_write_the_value_back_deletes_nothing() {
    let mut world = World::with_dev_env();
    let declared =
        "[parameters.\"/dev/app/pat\"]\ninitial_value_from_env = \"PAT\"\nallowed_pattern = \"^.*$\"\n";
    world.write("desired/dev/app.toml", declared);
    world.set_env("PAT", "init");
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let ssm = world.ssm().await;
    let rotate = ssm
        .put_parameter()
        .name("/dev/app/pat")
        .value("ROTATED-1")
        .overwrite(true);
    rotate
        .r#type(ParameterType::String)
        .allowed_pattern("^.*$")
        .send()
        .await
        .unwrap();
    world.env_vars.remove("PAT");

    let stricter = declared.replace(
        "allowed_pattern = \"^.*$\"",
        "type = \"SecureString\"\nallowed_pattern = \"^[a-z]+$\"",
    );
    world.write("desired/dev/app.toml", &stricter);
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    assert!(
        apply.stderr.contains(
            "PutParameter `/dev/app/pat`: ValueNotWritable: the replacement could not write the parameter \
             again: its value does not match the new allowed_pattern; nothing was deleted"
        ),
        "{}",
        apply.stderr
    );
    assert!(!apply.all_output().contains("ROTATED-1"));
    assert_eq!(
        value_of(&world, "/dev/app/pat").await.as_deref(),
        Some("ROTATED-1")
    );
}

#[tokio::test]
async fn throttling_and_server_errors_during_apply_still_converge() {
    let world = World::with_dev_env();
    world.write("desired/dev/app.toml", APP);
    world.fault(json!({ "operation": "PutParameter", "kind": "throttle", "count": 3 }));
    world.fault(json!({ "operation": "GetParametersByPath", "kind": "error", "status": 503, "code": "ServiceUnavailable", "count": 1 }));

    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let calls = world.calls();
    assert_eq!(
        calls["PutParameter"],
        3 + 3,
        "three creates, three throttled attempts retried"
    );
}

#[tokio::test]
async fn a_change_that_fails_for_good_is_reported_and_the_others_complete() {
    let world = World::with_dev_env();
    world.write("desired/dev/app.toml", APP);
    // AccessDenied is not retried: exactly one of the three creates fails.
    world.fault(json!({ "operation": "PutParameter", "kind": "error", "status": 400, "code": "AccessDeniedException", "count": 1 }));

    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(1);
    assert!(
        apply.stderr.contains("1 change(s) failed, 2 made"),
        "{}",
        apply.stderr
    );
    assert!(apply.stderr.contains("PutParameter"));
    assert!(apply.stderr.contains("AccessDeniedException"));

    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout
            .contains("Plan: 1 to create, 0 to update, 0 to replace, 0 to delete.")
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
}

#[tokio::test]
async fn reading_n_parameters_costs_n_over_10_plus_n_over_50_calls() {
    let world = World::new();
    world.plumb_toml_with_scope("", "parameter_paths = [\"/dev/app/\"]\n");
    const N: usize = 125;
    world.seed_parameters("/dev/app/p", N);
    let mut toml = String::new();
    for i in 0..N {
        toml.push_str(&format!(
            "[parameters.\"/dev/app/p{i}\"]\nvalue = \"value-{i}\"\n"
        ));
    }
    for i in 0..5 {
        toml = toml.replacen(
            &format!("value = \"value-{i}\"\n"),
            &format!("value = \"value-{i}\"\ntags = {{}}\n"),
            1,
        );
    }
    world.write("desired/dev/app.toml", &toml);
    world
        .plumb(&["plan", "--detailed-exitcode", "--no-cache"])
        .expect_code(0);

    let calls = world.calls();
    assert_eq!(calls["GetParametersByPath"], N.div_ceil(10) as u64);
    assert_eq!(calls["DescribeParameters"], N.div_ceil(50) as u64);
    assert_eq!(calls["ListTagsForResource"], 5, "tags read only where declared");
    assert_eq!(
        calls.get("GetCallerIdentity"),
        None,
        "the account guard reads the account from the parameters' ARNs"
    );
    assert_eq!(calls.values().sum::<u64>(), 13 + 3 + 5, "nothing else is read");
}

/// With the value cache (plan's default): a cold plan reads as without it (by path) and fills
/// the cache; a warm one reads only the metadata, 50 a call.
#[tokio::test]
async fn a_warm_cache_reads_only_the_metadata() {
    let world = World::new();
    world.plumb_toml_with_scope("", "parameter_paths = [\"/dev/app/\"]\n");
    const N: usize = 125;
    world.seed_parameters("/dev/app/p", N);
    let toml: String = (0..N)
        .map(|i| format!("[parameters.\"/dev/app/p{i}\"]\nvalue = \"value-{i}\"\n"))
        .collect();
    world.write("desired/dev/app.toml", &toml);

    world.assert_converged();
    let cold = world.calls();
    assert_eq!(cold["DescribeParameters"], N.div_ceil(50) as u64);
    assert_eq!(
        cold["GetParametersByPath"],
        N.div_ceil(10) as u64,
        "every value, by path"
    );
    assert!(!cold.contains_key("GetParameters"));

    world.assert_converged();
    let warm: BTreeMap<String, u64> = world
        .calls()
        .into_iter()
        .map(|(op, n)| (op.clone(), n - cold.get(&op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(warm["DescribeParameters"], N.div_ceil(50) as u64);
    assert!(!warm.contains_key("GetParameters"), "no value read: {warm:?}");
    assert_eq!(
        warm.values().sum::<u64>(),
        3,
        "the metadata, whose ARNs name the account for the guard: nothing else"
    );
}

#[tokio::test]
async fn apply_without_a_terminal_asks_for_auto_approve_and_changes_nothing() {
    let world = World::with_dev_env();
    world.write("desired/dev/app.toml", APP);
    let apply = world.plumb(&["apply"]);
    apply.expect_code(1);
    assert!(
        apply
            .stderr
            .contains("standard input is not a terminal: pass --auto-approve to apply without asking")
    );
    assert!(
        apply.stdout.contains("Plan: 3 to create"),
        "the plan is shown first"
    );
    assert_eq!(world.calls().get("PutParameter"), None);
}

/// Without `ssm_put_rate`, apply finds the account's PutParameter quota by itself (the SDK's
/// adaptive retry mode slows down on throttling): every change is made under a quota of 5 a
/// second and none fails. How close to the quota it keeps is a benchmark figure
/// (BENCHMARKS.md, `bench/run pacing`), not a timed test.
#[tokio::test]
async fn without_ssm_put_rate_apply_finds_the_quota_and_fails_no_change() {
    let world = World::with_dev_env();
    let text: String = (0..40)
        .map(|i| format!("[parameters.\"/dev/app/p{i}\"]\nvalue = \"v{i}\"\n"))
        .collect();
    world.write("desired/dev/app.toml", &text);
    world.fault(json!({"operation": "PutParameter", "kind": "quota", "rate": 5, "burst": 5}));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert!(
        world.throttled_calls() > 0,
        "the apply pushed against the quota (else this test proves nothing)"
    );
    world.clear_faults();
    world.assert_converged();
}
