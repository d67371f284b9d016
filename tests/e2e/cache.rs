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
    // A body modified in the last two seconds is never cached (AWS's last-modified time may
    // be whole seconds, see `dashboard::settled`).
    std::thread::sleep(std::time::Duration::from_millis(2_100));
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

/// An applied world with a cold cache (no file), ready for a race.
async fn applied_cold(world: &World) {
    world.plumb_toml_with_scope("", "parameter_paths = [\"/dev/app/\"]\n");
    world.write("desired/dev/app.toml", APP);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert!(!cache_file(world).exists(), "apply uses no cache");
}

/// A hand edit (`put_parameter` of the emulator's `after` rule) once the first metadata page
/// is answered, and the values read only after it.
fn edit_between_the_reads(world: &World, put_parameter: serde_json::Value) {
    world.fault(serde_json::json!({
        "operation": "GetParametersByPath", "kind": "hold", "until": "DescribeParameters"
    }));
    world.fault(serde_json::json!({
        "operation": "DescribeParameters", "kind": "after", "put_parameter": put_parameter
    }));
}

/// A cold read lists metadata and values in two calls. A hand edit between them (metadata
/// listed while `/dev/app/a` was a String, its value read once it had become a
/// SecureString) must not show the secret as a String's value, nor cache it.
#[tokio::test]
async fn a_string_made_secret_between_two_reads_stays_secret() {
    let world = World::new();
    applied_cold(&world).await;
    edit_between_the_reads(
        &world,
        serde_json::json!({"name": "/dev/app/a", "value": "raced-canary-7731", "type": "SecureString", "region": REGION}),
    );
    let plan = world.plumb(&["plan"]);
    world.clear_faults();
    assert!(
        !plan.all_output().contains("raced-canary"),
        "{}",
        plan.all_output()
    );
    assert!(
        !world.all_files_text().contains("raced-canary"),
        "the secret reached a file"
    );
    let again = world.plumb(&["plan"]);
    assert!(
        again.stdout.contains("SecureString"),
        "the type change is planned: {}",
        again.stdout
    );
    assert!(!again.all_output().contains("raced-canary"));
}

/// The other order: values read first, metadata after the edit. The old value must not be
/// cached under the new version's stamp (every later plan would miss the edit). The first
/// metadata page is read before any value (the account guard's), so pages of one
/// parameter put `/dev/app/a` on the second, read alongside the values.
#[tokio::test]
async fn a_value_read_before_a_hand_edit_is_not_cached_under_the_new_version() {
    let world = World::new();
    world.write(
        "desired/dev/first.toml",
        "[parameters.\"/dev/app/0-first\"]\nvalue = \"zero\"\n",
    );
    applied_cold(&world).await;
    world.fault(serde_json::json!({
        "operation": "DescribeParameters", "kind": "page_cap", "max": 1
    }));
    // The second metadata page waits for the by-path read beside it (and the edit after it),
    // however loaded the machine.
    world.fault(serde_json::json!({
        "operation": "DescribeParameters", "kind": "hold", "until": "GetParametersByPath", "skip": 1
    }));
    world.fault(serde_json::json!({
        "operation": "GetParametersByPath", "kind": "after",
        "put_parameter": {"name": "/dev/app/a", "value": "edited", "type": "String", "region": REGION}
    }));
    let before = world.calls().get("GetParameters").copied().unwrap_or(0);
    let plan = world.plumb(&["plan"]);
    world.clear_faults();
    assert!(
        plan.stdout.contains("value: \"edited\" -> \"one\""),
        "{}",
        plan.stdout
    );
    assert_eq!(
        world.calls()["GetParameters"] - before,
        1,
        "the edit fell between the reads: the value, of the old version, is read again by name"
    );
    let warm = world.plumb(&["plan"]);
    assert!(
        warm.stdout.contains("value: \"edited\" -> \"one\""),
        "{}",
        warm.stdout
    );
}

/// plumb.toml's table for environment `name` in the world's account, owning `/{name}/app/`,
/// with `extra` lines.
fn environment_in_world_account(world: &World, name: &str, extra: &str) -> String {
    format!(
        "[environments.{name}]\naccount_id = \"{}\"\nregion = \"{REGION}\"\n{extra}\
         [environments.{name}.scope]\nparameter_paths = [\"/{name}/app/\"]\n",
        world.account
    )
}

/// Two environments in one account and region share one cache file: both fill it in one
/// run (each saving a copy of its own, the last would win), and the next plan reads no value.
#[tokio::test]
async fn environments_sharing_an_account_and_region_share_one_cache() {
    let world = World::new();
    let env = |name: &str| environment_in_world_account(&world, name, "");
    world.write("desired/plumb.toml", &format!("{}{}", env("dev"), env("uat")));
    world.write("desired/dev/app.toml", APP);
    world.write("desired/uat/app.toml", &APP.replace("/dev/", "/uat/"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.assert_converged();
    let text = std::fs::read_to_string(cache_file(&world)).unwrap();
    assert!(
        text.contains("/dev/app/a") && text.contains("/uat/app/a"),
        "{text}"
    );
    let before = world.calls();
    world.assert_converged();
    let after = world.calls();
    for read in ["GetParametersByPath", "GetParameters"] {
        assert_eq!(
            before.get(read),
            after.get(read),
            "{read}: a warm plan reads no value"
        );
    }
}

/// A cache file that is no file (a symlink to /dev/zero would be read forever) is ignored
/// with a warning.
#[cfg(unix)]
#[tokio::test]
async fn a_cache_file_that_is_a_symlink_is_ignored() {
    let world = World::new();
    warm(&world).await;
    std::fs::remove_file(cache_file(&world)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", cache_file(&world)).unwrap();
    let plan = world.plumb(&["plan"]);
    plan.expect_code(0);
    assert!(
        plan.stderr.contains("it is not a regular file"),
        "{}",
        plan.stderr
    );
}

/// Two environments of one account share its cache file. One whose credentials turn out to
/// be another account's is refused before it reads its scope (the first metadata page
/// settles the account), so the other's save cannot write back anything it did: the file
/// keeps the refused environment's entries, byte for byte.
#[tokio::test]
async fn an_environment_refused_for_its_account_leaves_the_shared_cache_alone() {
    let world = World::new();
    let env = |name: &str, extra: &str| environment_in_world_account(&world, name, extra);
    world.write(
        "desired/plumb.toml",
        &format!("{}{}", env("dev", ""), env("uat", "")),
    );
    world.write("desired/dev/app.toml", APP);
    world.write("desired/uat/app.toml", &APP.replace("/dev/", "/uat/"));
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.plumb(&["plan", "--detailed-exitcode"]).expect_code(0);
    let cached = std::fs::read_to_string(cache_file(&world)).unwrap();
    assert!(cached.contains("/uat/app/a"));

    // uat's credentials become another account's (a role there); it has nothing under
    // /uat/app/, so its reads there would find every entry of uat's gone. STS answers
    // there slowly, and dev's reads take a while: dev saves after uat's reads, before
    // uat's refusal.
    let role = format!(
        "assume_role = \"arn:aws:iam::{}:role/plumb\"\n",
        world.other_account()
    );
    world.write(
        "desired/plumb.toml",
        &format!("{}{}", env("dev", ""), env("uat", &role)),
    );
    world.fault_in_other_account(serde_json::json!({
        "operation": "GetCallerIdentity", "kind": "latency", "delay_ms": 1500
    }));
    world.fault(serde_json::json!({
        "operation": "DescribeParameters", "kind": "latency", "delay_ms": 500
    }));
    let plan = world.plumb(&["plan"]);
    world.clear_faults();
    plan.expect_code(3);
    assert!(
        plan.stderr.contains("environment `uat` is account"),
        "{}",
        plan.stderr
    );
    assert_eq!(std::fs::read_to_string(cache_file(&world)).unwrap(), cached);
}

/// A parameter deleted by hand after the metadata listed it but before its value was read
/// is gone: the plan creates it (it planned an update of a value AWS no longer has).
#[tokio::test]
async fn a_parameter_deleted_between_the_reads_is_planned_as_a_create() {
    let world = World::new();
    applied_cold(&world).await;
    edit_between_the_reads(
        &world,
        serde_json::json!({"name": "/dev/app/a", "delete": true, "region": REGION}),
    );
    let plan = world.plumb(&["plan", "--no-cache"]);
    world.clear_faults();
    assert!(
        plan.stdout.contains("+ create parameter /dev/app/a"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("~ update"), "{}", plan.stdout);
}
