//! Replicas (SPEC §2a): `replica_regions` keeps a copy of an environment's parameters in other
//! regions, planned as sections of their own, with drift caught and deletions pruned there.

use aws_sdk_ssm::types::ParameterType;
use serde_json::Value as Json;

use crate::support::{REGION, World};

const DR: &str = "us-west-2";

fn with_replica(world: &mut World, replica: &str) {
    world.plumb_toml_with_scope(replica, "parameter_paths = [\"/dev/app/\"]\n");
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/db/host\"]\nvalue = \"db.internal\"\n\
         [parameters.\"/dev/app/db/password\"]\ntype = \"SecureString\"\nvalue_from_env = \"DB_PASSWORD\"\n\
         [parameters.\"/dev/app/local/cache-size\"]\nvalue = \"64\"\n",
    );
    world.set_env("DB_PASSWORD", "replicated-secret-value");
}

/// Name → (value, key id) of the parameters under /dev/app/ in `region`.
fn parameters_in(world: &World, region: &str) -> Vec<(String, String, Option<String>)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ssm = world.ssm_in(region).await;
        let read = ssm
            .get_parameters_by_path()
            .path("/dev/app/")
            .recursive(true)
            .with_decryption(true)
            .send()
            .await
            .unwrap();
        let described = ssm.describe_parameters().send().await.unwrap();
        let mut found: Vec<(String, String, Option<String>)> = read
            .parameters()
            .iter()
            .map(|p| {
                let name = p.name().unwrap().to_string();
                let key = described
                    .parameters()
                    .iter()
                    .find(|d| d.name() == Some(name.as_str()))
                    .and_then(|d| d.key_id().map(str::to_string));
                (name, p.value().unwrap().to_string(), key)
            })
            .collect();
        found.sort();
        found
    })
}

fn sections(world: &World, args: &[&str]) -> Vec<(String, bool, String, usize)> {
    let run = world.plumb(args);
    assert!(run.code == 0 || run.code == 2, "{}{}", run.stdout, run.stderr);
    let plan: Json = serde_json::from_str(&run.stdout).unwrap();
    plan["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["environment"].as_str().unwrap().to_string(),
                e["replica"].as_bool().unwrap_or(false),
                e["region"].as_str().unwrap().to_string(),
                e["changes"].as_array().unwrap().len(),
            )
        })
        .collect()
}

#[test]
fn replicas_are_created_caught_drifting_fixed_and_pruned() {
    let mut world = World::new();
    with_replica(
        &mut world,
        &format!("replica_regions = [\"{DR}\"]\nreplica_key_id = \"alias/dev-dr\""),
    );
    assert_eq!(
        sections(&world, &["plan", "--format", "json"]),
        [
            ("dev".to_string(), false, REGION.to_string(), 3),
            ("dev".to_string(), true, DR.to_string(), 3)
        ]
    );
    let text = world.plumb(&["plan"]);
    assert!(
        text.stdout
            .contains(&format!("Environment dev (replica {DR}) (account ")),
        "{}",
        text.stdout
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let home = parameters_in(&world, REGION);
    let replica = parameters_in(&world, DR);
    let values = |found: &[(String, String, Option<String>)]| -> Vec<(String, String)> {
        found.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect()
    };
    assert_eq!(values(&home), values(&replica));
    let secure_key = |found: &[(String, String, Option<String>)]| found[1].2.clone();
    assert_eq!(
        secure_key(&replica).as_deref(),
        Some("alias/dev-dr"),
        "the replica regions' key"
    );
    assert_ne!(secure_key(&home).as_deref(), Some("alias/dev-dr"));
    world.assert_converged();

    // A hand edit in the replica region is drift, and apply puts it back.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        world
            .ssm_in(DR)
            .await
            .put_parameter()
            .name("/dev/app/db/host")
            .value("edited-by-hand")
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    });
    let drift = world.plumb(&["drift"]);
    drift.expect_code(2);
    assert!(
        drift.stdout.contains(&format!("dev (replica {DR})")),
        "{}",
        drift.stdout
    );
    assert!(
        !drift.stdout.contains("replicated-secret-value"),
        "no secret in drift"
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(values(&parameters_in(&world, DR)), values(&home));

    // Removed from desired/: deleted in both regions.
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/db/host\"]\nvalue = \"db.internal\"\n\
         [parameters.\"/dev/app/db/password\"]\ntype = \"SecureString\"\nvalue_from_env = \"DB_PASSWORD\"\n",
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert_eq!(parameters_in(&world, DR).len(), 2);
    assert_eq!(parameters_in(&world, REGION).len(), 2);
    world.assert_converged();
}

#[test]
fn replica_paths_limit_what_is_copied_and_one_digest_covers_the_environment() {
    let mut world = World::new();
    with_replica(
        &mut world,
        &format!("replica_regions = [\"{DR}\"]\nreplica_paths = [\"/dev/app/db/\"]"),
    );
    let run = world.plumb(&["plan", "--format", "json", "--out", "plan.json"]);
    let plan: Json = serde_json::from_str(&run.stdout).unwrap();
    let replica_names: Vec<&str> = plan["environments"][1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(replica_names, ["/dev/app/db/host", "/dev/app/db/password"]);
    // `apply --env dev --expect-digest` takes the whole environment's digest, replicas in.
    let digest = plan["digest"].as_str().unwrap();
    world
        .plumb(&[
            "apply",
            "--env",
            "dev",
            "--auto-approve",
            "--expect-digest",
            digest,
        ])
        .expect_code(0);
    assert_eq!(parameters_in(&world, DR).len(), 2);
    world.assert_converged();
}

#[test]
fn replica_settings_that_cannot_work_are_validation_errors() {
    let world = World::new();
    world.plumb_toml_with_scope(
        &format!("replica_regions = [\"{REGION}\", \"{DR}\", \"{DR}\"]\nreplica_paths = [\"/prod/\"]"),
        "parameter_paths = [\"/dev/app/\"]\n",
    );
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains(&format!("`{REGION}` is not a replica region")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("`{DR}` is not a replica region")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("`/prod/` is not inside the environment's `parameter_paths`"),
        "{}",
        run.stderr
    );

    // Another environment in the replica region owning the same paths: each would prune the
    // other's copies.
    let account = &world.account;
    world.write(
        "desired/plumb.toml",
        &format!(
            "[environments.dev]\naccount_id = \"{account}\"\nregion = \"{REGION}\"\nreplica_regions = [\"{DR}\"]\n\
             [environments.dev.scope]\nparameter_paths = [\"/dev/app/\"]\n\
             [environments.dr]\naccount_id = \"{account}\"\nregion = \"{DR}\"\n\
             [environments.dr.scope]\nparameter_paths = [\"/dev/\"]\n"
        ),
    );
    std::fs::create_dir_all(world.path("desired/dr")).unwrap();
    let run = world.plumb_offline(&["validate"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "environments `dr` and `dev (replica {DR})` share account and region {DR}"
        )),
        "{}",
        run.stderr
    );
}

/// A SecureString's key copied to a replica region must exist there: a key ARN or a bare
/// key id names one region's key, so a replicated parameter with one needs `replica_key_id`;
/// an alias, or a multi-region key's id, may be in every region.
#[test]
fn a_key_of_one_region_on_a_replicated_parameter_needs_a_replica_key() {
    let world = World::new();
    let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let cases = [
        (arn, ""),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", ""),
        ("alias/app", "ok"),
        ("mrk-1234abcd12ab34cd56ef1234567890ab", "ok"),
        (
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "replica_key_id = \"alias/app-dr\"\n",
        ),
    ];
    for (key, then) in cases {
        let settings = match then {
            "" | "ok" => format!("replica_regions = [\"{DR}\"]"),
            extra => format!("replica_regions = [\"{DR}\"]\n{extra}"),
        };
        world.plumb_toml_with_scope(&settings, "parameter_paths = [\"/dev/app/\"]\n");
        world.write(
            "desired/dev/app.toml",
            &format!(
                "[parameters.\"/dev/app/pw\"]\ntype = \"SecureString\"\nvalue_from_env = \"PW\"\nkey_id = \"{key}\"\n"
            ),
        );
        let run = world.plumb_offline(&["validate"]);
        let refused = then.is_empty();
        run.expect_code(if refused { 1 } else { 0 });
        if refused {
            let expected =
                format!("`{key}` is a key of one region, and this parameter is replicated to {DR}");
            assert!(run.stderr.contains(&expected), "{}", run.stderr);
        }
    }
}

/// `max_deletes` is the environment's, its replica regions' deletions counted in: a replica
/// must not double what one apply may delete.
#[test]
fn the_deletion_guard_counts_the_replica_regions_too() {
    let mut world = World::new();
    with_replica(
        &mut world,
        &format!("replica_regions = [\"{DR}\"]\nmax_deletes = 2"),
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/db/host\"]\nvalue = \"db.internal\"\n",
    );
    let run = world.plumb(&["apply", "--auto-approve"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("4"),
        "two deletions in each region: {}",
        run.stderr
    );
    assert_eq!(parameters_in(&world, DR).len(), 3, "nothing deleted");
    world
        .plumb(&["apply", "--auto-approve", "--allow-deletes", "4"])
        .expect_code(0);
    assert_eq!(parameters_in(&world, DR).len(), 1);
}

/// A replica of a parameter whose value people own (`initial_value_from_env`) is a copy of
/// the home region's value as it is when the replica is created, not the initial value
/// again: a disaster-recovery region must not serve a secret that was rotated since.
#[test]
fn a_new_replica_copies_a_value_people_changed_since() {
    let mut world = World::with_dev_env();
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/api-token\"]\ntype = \"SecureString\"\ninitial_value_from_env = \"API_TOKEN\"\n",
    );
    world.set_env("API_TOKEN", "first-token");
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let ssm = world.ssm().await;
        let rotate = ssm
            .put_parameter()
            .name("/dev/app/api-token")
            .value("rotated-token");
        let rotate = rotate.r#type(ParameterType::SecureString).overwrite(true);
        rotate.send().await.unwrap();
    });

    world.plumb_toml_with_scope(
        &format!("replica_regions = [\"{DR}\"]"),
        "parameter_paths = [\"/dev/app/\"]\n",
    );
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(0);
    assert!(!apply.all_output().contains("rotated-token") && !apply.all_output().contains("first-token"));
    let replicated = parameters_in(&world, DR);
    assert_eq!(replicated.len(), 1);
    assert_eq!(replicated[0].1, "rotated-token", "{replicated:?}");
    world.assert_converged();
}
