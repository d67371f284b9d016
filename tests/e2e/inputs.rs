//! Hostile files: what a declaration points at stays inside desired/ and is read with a cap,
//! numbers are finite, nesting is bounded, AWS's limits hold, and a plan file is what plumb
//! wrote. Every refusal names file:line and the rule.

use serde_json::{Value as Json, json};

use crate::support::World;

const ENV: &str = "[environments.dev]\nregion = \"us-east-1\"\n[environments.dev.scope]\nparameter_paths = [\"/dev/app/\"]\n\
                   iam_path = \"/app/\"\ndashboard_prefixes = [\"app-\"]\nalarm_prefixes = [\"app-\"]\n";

fn world_with(content: &str) -> World {
    let world = World::new();
    world.write("desired/plumb.toml", ENV);
    world.write("desired/dev/a.toml", content);
    world
}

fn refused(world: &World) -> String {
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    run.stderr
}

fn policy_from(file: &str) -> String {
    format!("[policies.p]\nfile = {file:?}\n")
}

#[test]
fn a_referenced_file_must_lie_inside_desired() {
    let world = world_with(&policy_from("../../secret.json"));
    world.write("secret.json", r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}], "stolen": "canary-Outside-19a"}"#);
    let stderr = refused(&world);
    assert!(
        stderr.contains("desired/dev/a.toml:2:1: policies.p.file: `../../secret.json` resolves to"),
        "{stderr}"
    );
    assert!(stderr.contains("outside `desired/dev`"), "{stderr}");
    assert!(!stderr.contains("canary-Outside-19a"));

    let world = world_with(&policy_from("/proc/self/environ"));
    assert!(refused(&world).contains("`/proc/self/environ` must be a path relative to the TOML file"));

    // Another environment's folder is inside desired/, but --base would not see a change there
    // as a change to this one.
    let world = world_with(&policy_from("../prod/p.json"));
    world.write("desired/prod/p.json", "{}");
    assert!(refused(&world).contains("only files in the environment's own folder can be referenced"));

    #[cfg(unix)]
    {
        let world = world_with(&policy_from("link.json"));
        world.write("outside.json", "{}");
        std::os::unix::fs::symlink(world.path("outside.json"), world.path("desired/dev/link.json")).unwrap();
        assert!(refused(&world).contains("`link.json` is a symlink: plumb follows no symlinks in desired/"));

        let world = world_with(&policy_from("zero.json"));
        std::os::unix::fs::symlink("/dev/zero", world.path("desired/dev/zero.json")).unwrap();
        assert!(refused(&world).contains("`zero.json` is a symlink"));

        // A FIFO inside desired/ would block a reader for ever.
        let world = world_with(&policy_from("fifo.json"));
        let status = std::process::Command::new("mkfifo")
            .arg(world.path("desired/dev/fifo.json"))
            .status()
            .unwrap();
        assert!(status.success());
        assert!(refused(&world).contains("`fifo.json` is not a regular file"));
    }
}

#[test]
fn referenced_files_are_read_with_a_cap() {
    let world = world_with("[dashboards.\"app-big\"]\nfile = \"big.json\"\n");
    let padding = " ".repeat(2_100_000);
    world.write("desired/dev/big.json", &format!("{{\"widgets\": []{padding}}}"));
    assert!(refused(&world).contains("`big.json` is 2100015 bytes; at most 2000000 are accepted here"));
}

#[test]
fn non_finite_numbers_are_refused_everywhere() {
    for (value, shown) in [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("+nan", "+nan")] {
        let world = world_with(&format!(
            "[alarms.\"app-cpu\"]\nnamespace = \"AWS/EC2\"\nmetric = \"CPUUtilization\"\nstatistic = \"Average\"\n\
             period = 60\nevaluation_periods = 1\nthreshold = {value}\ncomparison = \"GreaterThanThreshold\"\n\
             [dashboards.\"app-d\"]\nbody = {{ widgets = [{{ x = {value} }}] }}\n"
        ));
        let stderr = refused(&world);
        assert!(
            stderr.contains(&format!(
                "desired/dev/a.toml:7:13: `{shown}` is not a finite number"
            )),
            "{value}: {stderr}"
        );
        assert!(
            stderr.contains("desired/dev/a.toml:10:"),
            "the dashboard's too: {stderr}"
        );
    }
}

fn nested(depth: usize) -> Json {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

#[test]
fn absurd_nesting_is_refused_with_the_rule() {
    let world = world_with("[dashboards.\"app-deep\"]\nfile = \"deep.json\"\n");
    world.write(
        "desired/dev/deep.json",
        &json!({"widgets": [nested(120)]}).to_string(),
    );
    assert!(refused(&world).contains("`desired/dev/deep.json` nests more than 32 levels deep"));

    let inline = format!(
        "[dashboards.\"app-deep\"]\nbody = {{ widgets = {} }}\n",
        nested(40)
    );
    let world = world_with(&inline);
    assert!(refused(&world).contains("values nest more than 32 levels deep"));
}

#[tokio::test]
async fn what_plan_writes_apply_reads_back() {
    // As deep as validation allows: the plan file must still read back.
    let world = World::with_dev_env();
    world.write(
        "desired/dev/a.toml",
        &format!("[dashboards.\"app-deep\"]\nbody = {{ widgets = [{{ type = \"text\", x = 0, y = 0, width = 1, height = 1, properties = {{ markdown = \"m\", deep = {} }} }}] }}\n", nested(24)),
    );
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    world.plumb(&["apply", "plan.json"]).expect_code(0);
}

#[test]
fn aws_limits_are_checked_offline() {
    let widgets: Vec<Json> = (0..520)
        .map(|i| json!({"type": "text", "x": 0, "y": i, "width": 1, "height": 1}))
        .collect();
    let world = world_with("[dashboards.\"app-many\"]\nfile = \"many.json\"\n");
    world.write("desired/dev/many.json", &json!({"widgets": widgets}).to_string());
    assert!(refused(&world).contains("520 widgets; AWS allows at most 500 on a dashboard"));

    let actions: Vec<String> = (0..400).map(|i| format!("ssm:GetParameter{i:04}")).collect();
    let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]});
    let world = world_with(&policy_from("big.json"));
    world.write("desired/dev/big.json", &document.to_string());
    let stderr = refused(&world);
    assert!(
        stderr.contains("characters without whitespace; AWS allows 6144 for policies"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_tampered_plan_file_is_refused() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/k\"]\nvalue = \"reviewed\"\n",
    );
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    let original: Json =
        serde_json::from_str(&std::fs::read_to_string(world.path("plan.json")).unwrap()).unwrap();

    let mut changed_value = original.clone();
    changed_value["environments"][0]["changes"][0]["fields"][0]["after"] = json!("evil");
    let mut extra_delete = original.clone();
    extra_delete["environments"][0]["changes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"action": "delete", "kind": "parameter", "name": "/prod/other", "fields": []}));
    let mut bad_name = original.clone();
    bad_name["environments"][0]["environment"] = json!("dev -->\n<!-- plumb-digest:prod: sha256:x");
    for (what, plan) in [
        ("a value", changed_value),
        ("a delete", extra_delete),
        ("a name", bad_name),
    ] {
        world.write("tampered.json", &plan.to_string());
        let apply = world.plumb(&["apply", "tampered.json"]);
        apply.expect_code(3);
        assert!(
            apply.stderr.contains("does not match its digest")
                || apply.stderr.contains("is not a valid environment name"),
            "{what}: {}",
            apply.stderr
        );
        assert_eq!(world.calls().get("PutParameter"), None, "{what}: nothing applied");
    }
}

#[cfg(unix)]
#[test]
fn desired_s_own_files_and_folders_are_never_followed_through_symlinks() {
    use std::os::unix::fs::symlink;
    // A TOML file, a folder, the environment's folder and plumb.toml, each a symlink: none is
    // read, whatever it points at (outside files, /dev/zero, a loop).
    let world = world_with("");
    world.write(
        "outside/x.toml",
        "[parameters.\"/dev/app/leak\"]\nvalue = \"canary-Outside-44\"\n",
    );
    symlink(world.path("outside/x.toml"), world.path("desired/dev/link.toml")).unwrap();
    symlink(world.path("outside"), world.path("desired/dev/ext")).unwrap();
    symlink("/dev/zero", world.path("desired/dev/zero.toml")).unwrap();
    symlink(world.path("desired"), world.path("desired/dev/loop")).unwrap();
    let stderr = refused(&world);
    for name in ["link.toml", "ext", "zero.toml", "loop"] {
        assert!(
            stderr.contains(&format!("desired/dev/{name}:1:1: is a symlink")),
            "{name}: {stderr}"
        );
    }
    assert!(!stderr.contains("canary-Outside-44"));

    let world = world_with("");
    std::fs::remove_dir_all(world.path("desired/dev")).unwrap();
    std::fs::create_dir_all(world.path("elsewhere")).unwrap();
    symlink(world.path("elsewhere"), world.path("desired/dev")).unwrap();
    assert!(refused(&world).contains("`desired/dev` is a symlink"));

    let world = world_with("");
    std::fs::rename(world.path("desired/plumb.toml"), world.path("real.toml")).unwrap();
    symlink(world.path("real.toml"), world.path("desired/plumb.toml")).unwrap();
    assert!(refused(&world).contains("desired/plumb.toml:1:1: is a symlink"));

    let world = world_with("");
    let status = std::process::Command::new("mkfifo")
        .arg(world.path("desired/dev/f.toml"))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(refused(&world).contains("desired/dev/f.toml:1:1: is not a regular file"));
}

#[test]
fn a_toml_file_is_read_with_a_cap() {
    let world = world_with("");
    let padding = "#".repeat(17 * 1024 * 1024);
    world.write("desired/dev/huge.toml", &padding);
    assert!(
        refused(&world)
            .contains("desired/dev/huge.toml:1:1: is 17825792 bytes; plumb reads at most 16777216")
    );
}
