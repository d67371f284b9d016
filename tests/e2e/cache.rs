//! The value cache (`src/cache.rs`): plan and drift read again only the values whose version
//! stamp changed. Every real change must still appear, nothing secret may be written to it,
//! and apply must never trust it.

use aws_sdk_ssm::types::ParameterType;

use crate::support::{REGION, World};

const APP: &str =
    "[parameters.\"/dev/app/a\"]\nvalue = \"one\"\n[parameters.\"/dev/app/b\"]\nvalue = \"two\"\n";

fn cache_file(world: &World) -> std::path::PathBuf {
    world.path(&format!("cache/ssm-{}-{REGION}.json", world.account))
}

/// An applied world whose cache is warm.
async fn warm(world: &World) {
    world.plumb_toml_with_scope("", "parameter_paths = [\"/dev/app/\"]\n");
    world.write("desired/dev/app.toml", APP);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    assert!(cache_file(world).exists(), "plan wrote the cache");
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
        .unwrap();
}

#[tokio::test]
async fn a_hand_edit_shows_through_a_warm_cache() {
    let world = World::new();
    warm(&world).await;
    put(&world, "/dev/app/a", "edited").await;
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout.contains("value: \"edited\" -> \"one\""),
        "{}",
        plan.stdout
    );
}

/// Deleted and created again by hand, a parameter starts at version 1 again: the
/// last-modified time tells it apart from the cached version 1.
#[tokio::test]
async fn a_parameter_deleted_and_created_again_shows_its_new_value() {
    let world = World::new();
    world.plumb_toml_with_scope("", "parameter_paths = [\"/dev/app/\"]\n");
    world.write("desired/dev/app.toml", APP);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let ssm = world.ssm().await;
    ssm.delete_parameter().name("/dev/app/b").send().await.unwrap();
    ssm.put_parameter()
        .name("/dev/app/b")
        .value("recreated")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout.contains("value: \"recreated\" -> \"two\""),
        "{}",
        plan.stdout
    );
}

#[tokio::test]
async fn a_cache_of_another_account_or_a_truncated_one_is_ignored_with_a_warning() {
    let world = World::new();
    warm(&world).await;
    put(&world, "/dev/app/a", "edited").await;
    let text = std::fs::read_to_string(cache_file(&world)).unwrap();
    // Another account's entries under this account's file name.
    world.write(
        &format!("cache/ssm-{}-{REGION}.json", world.account),
        &text
            .replace(&world.account, "999999999999")
            .replace("\"one\"", "\"edited\""),
    );
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stderr.contains("warning: ignoring the cache"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("not of "), "{}", plan.stderr);
    assert!(
        plan.stdout.contains("value: \"edited\" -> \"one\""),
        "{}",
        plan.stdout
    );

    world.write(
        &format!("cache/ssm-{}-{REGION}.json", world.account),
        &text[..text.len() / 2],
    );
    let plan = world.plumb(&["plan"]);
    assert!(plan.stderr.contains("it does not parse"), "{}", plan.stderr);
    assert!(
        plan.stdout.contains("value: \"edited\" -> \"one\""),
        "{}",
        plan.stdout
    );
}

/// A tampered cache can make a plan wrong; apply reads live state itself and still puts AWS
/// right.
#[tokio::test]
async fn apply_never_uses_the_cache() {
    let world = World::new();
    warm(&world).await;
    put(&world, "/dev/app/a", "edited").await;
    // Someone makes the cache say the edited value is still "one", at the new version.
    let text = std::fs::read_to_string(cache_file(&world)).unwrap();
    let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
    let described = world.ssm().await.describe_parameters().send().await.unwrap();
    let meta = described
        .parameters()
        .iter()
        .find(|p| p.name() == Some("/dev/app/a"))
        .unwrap();
    let modified = meta.last_modified_date().unwrap();
    let stamp = format!(
        "{}@{}.{:09}",
        meta.version(),
        modified.secs(),
        modified.subsec_nanos()
    );
    file["entries"]["/dev/app/a"] = serde_json::json!({ "stamp": stamp, "value": "one" });
    std::fs::write(cache_file(&world), file.to_string()).unwrap();
    world.plumb(&["plan", "--detailed-exitcode"]).expect_code(0);

    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let live = world
        .ssm()
        .await
        .get_parameter()
        .name("/dev/app/a")
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.parameter().unwrap().value(),
        Some("one"),
        "apply read the edit itself"
    );
    world
        .plumb(&["plan", "--detailed-exitcode", "--no-cache"])
        .expect_code(0);
}

/// Neither a SecureString nor a String whose value comes from the environment is written to
/// the cache.
#[tokio::test]
async fn secrets_are_never_cached() {
    let mut world = World::new();
    world.plumb_toml_with_scope("", "parameter_paths = [\"/dev/app/\"]\n");
    world.set_env("SECURE", "cache-canary-secure-0001");
    world.set_env("PLAIN", "cache-canary-plain-0002");
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/secure\"]\ntype = \"SecureString\"\nvalue_from_env = \"SECURE\"\n\
         [parameters.\"/dev/app/plain\"]\nvalue_from_env = \"PLAIN\"\n\
         [parameters.\"/dev/app/shown\"]\nvalue = \"shown\"\n",
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    // Declared otherwise now: the live values are still secret.
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/shown\"]\nvalue = \"shown\"\n",
    );
    world.plumb(&["plan"]).expect_code(0);
    let text = std::fs::read_to_string(cache_file(&world)).unwrap();
    assert!(text.contains("\"shown\""), "plain values are cached: {text}");
    assert!(!text.contains("cache-canary"), "a secret was cached: {text}");
}

/// Dashboards: ListDashboards' last-modified time and size key the cached body; GetDashboard
/// only for a dashboard that changed.
#[tokio::test]
async fn dashboard_bodies_are_read_again_only_when_they_changed() {
    let world = World::new();
    world.plumb_toml_with_scope("", "dashboard_prefixes = [\"app-\"]\n");
    world.write(
        "desired/dev/boards.toml",
        "[dashboards.app-one]\nbody = { widgets = [] }\n[dashboards.app-two]\nbody = { widgets = [] }\n",
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let before = world.calls().get("GetDashboard").copied().unwrap_or(0);
    world.assert_converged();
    assert_eq!(
        world.calls().get("GetDashboard").copied().unwrap_or(0),
        before,
        "warm: no body read"
    );

    let body =
        r#"{"widgets":[{"type":"text","x":0,"y":0,"width":6,"height":2,"properties":{"markdown":"hand"}}]}"#;
    world
        .cloudwatch()
        .await
        .put_dashboard()
        .dashboard_name("app-two")
        .dashboard_body(body)
        .send()
        .await
        .unwrap();
    let plan = world.plumb(&["plan"]);
    assert!(
        plan.stdout.contains("~ update dashboard app-two"),
        "{}",
        plan.stdout
    );
    assert_eq!(world.calls()["GetDashboard"], before + 1, "only the changed one");
}

/// A StringList from the environment, and a value from the environment whose declaration
/// turned into a literal (the live value is still the secret): neither reaches the cache.
#[tokio::test]
async fn values_from_the_environment_stay_out_of_the_cache_whatever_desired_says_now() {
    let mut world = World::new();
    world.plumb_toml_with_scope("", "parameter_paths = [\"/dev/app/\"]\n");
    world.set_env("LIST", "cache-canary-list-0003,second");
    world.set_env("TOKEN", "cache-canary-token-0004");
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/list\"]\ntype = \"StringList\"\nvalue_from_env = \"LIST\"\n\
         [parameters.\"/dev/app/token\"]\nvalue_from_env = \"TOKEN\"\n",
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/list\"]\ntype = \"StringList\"\nvalue = [\"public\"]\n\
         [parameters.\"/dev/app/token\"]\nvalue = \"public\"\n",
    );
    for args in [&["plan"][..], &["plan", "--without-secrets"], &["drift"]] {
        let run = world.plumb(args);
        assert!(!run.all_output().contains("cache-canary"), "{}", run.all_output());
    }
    let text = std::fs::read_to_string(cache_file(&world)).unwrap_or_default();
    assert!(!text.contains("cache-canary"), "a secret was cached: {text}");
}
