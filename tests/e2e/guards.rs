//! The guards that refuse (exit 3) before any write, and secrets that never leak.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::ParameterType;

use crate::support::World;

async fn seed(world: &World, names: &[&str]) {
    let ssm = world.ssm().await;
    for name in names {
        ssm.put_parameter()
            .name(*name)
            .value("x")
            .r#type(ParameterType::String)
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn protected_patterns_refuse_deletion_even_when_the_file_is_gone() {
    let world = World::new();
    world.plumb_toml("protect = [\"/dev/app/database/*\"]");
    seed(&world, &["/dev/app/database/password", "/dev/app/other"]).await;

    let plan = world.plumb(&["plan"]);
    plan.expect_code(3);
    assert!(
        plan.stderr.contains(
            "refused: dev: the plan would delete protected parameter `/dev/app/database/password` \
         (matches protect pattern `/dev/app/database/*` in plumb.toml)"
        ),
        "{}",
        plan.stderr
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(3);
    assert_eq!(world.calls().get("DeleteParameter"), None, "nothing was deleted");
}

#[tokio::test]
async fn protect_true_refuses_a_replacement() {
    let world = World::with_dev_env();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/k\"]\nvalue = \"a\"\nprotect = true\n",
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/k\"]\ntype = \"StringList\"\nvalue = [\"a\"]\nprotect = true\n",
    );
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    assert!(
        apply
            .stderr
            .contains("would replace protected parameter `/dev/app/k` (protect = true)")
    );
}

/// A protected declaration moved to another environment of the same account (an IAM user:
/// one name in the account) would delete the user and its access key in the first and
/// create it anew in the second. Its protection moved with it: refused, whether both
/// environments are planned or only the one that would delete.
#[tokio::test]
async fn a_protected_declaration_moved_to_another_environment_is_not_deleted() {
    let world = World::new();
    let account = &world.account;
    world.write(
        "desired/plumb.toml",
        &format!(
            "[environments.dev]\naccount_id = \"{account}\"\nregion = \"us-east-1\"\n\
             [environments.dev.scope]\niam_path = \"/dev/\"\n\
             [environments.prod]\naccount_id = \"{account}\"\nregion = \"us-east-1\"\n\
             [environments.prod.scope]\niam_path = \"/prod/\"\n"
        ),
    );
    world.write("desired/dev/iam.toml", "[users.deploybot]\nprotect = true\n");
    world.write("desired/prod/.keep.toml", "");
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let iam = world.iam().await;
    iam.create_access_key()
        .user_name("deploybot")
        .send()
        .await
        .unwrap();

    std::fs::rename(
        world.path("desired/dev/iam.toml"),
        world.path("desired/prod/iam.toml"),
    )
    .unwrap();
    for only in [None, Some("dev")] {
        let mut args = vec!["apply", "--auto-approve"];
        args.extend(only.iter().flat_map(|env| ["--env", env]));
        let apply = world.plumb(&args);
        apply.expect_code(3);
        assert!(
            apply.stderr.contains(
                "dev: the plan would delete protected user `deploybot` (protect = true in environment \
                 `prod`, which declares it in the same account; plumb cannot move it to another \
                 environment's path (IAM can, by hand))"
            ),
            "{}",
            apply.stderr
        );
    }
    let user = iam.get_user().user_name("deploybot").send().await.unwrap();
    assert_eq!(user.user.unwrap().path, "/dev/");
    let keys = iam
        .list_access_keys()
        .user_name("deploybot")
        .send()
        .await
        .unwrap();
    assert_eq!(keys.access_key_metadata.len(), 1);

    // prod in another account: its deploybot is another user, and dev's goes.
    let toml = std::fs::read_to_string(world.path("desired/plumb.toml")).unwrap();
    let (dev_part, prod_part) = toml.split_at(toml.find("[environments.prod]").unwrap());
    let prod_part = prod_part.replace(account.as_str(), "999999999999");
    world.write("desired/plumb.toml", &format!("{dev_part}{prod_part}"));
    world
        .plumb(&["apply", "--auto-approve", "--env", "dev"])
        .expect_code(0);
    assert!(iam.get_user().user_name("deploybot").send().await.is_err());
}

/// IAM names are one whatever their case: a protected `deploybot` declared again as
/// `DeployBot` is the same user, and its deletion (with a create IAM would refuse) is refused.
#[tokio::test]
async fn a_protected_iam_name_declared_in_another_case_is_not_deleted() {
    let world = World::with_dev_env();
    world.write("desired/dev/iam.toml", "[users.deploybot]\nprotect = true\n");
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.write("desired/dev/iam.toml", "[users.DeployBot]\nprotect = true\n");
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    assert!(
        apply.stderr.contains(
            "dev: the plan would delete protected user `deploybot` (protect = true in environment `dev`, \
             which declares it as `DeployBot` (one IAM name, whatever its case))"
        ),
        "{}",
        apply.stderr
    );
    let iam = world.iam().await;
    assert!(iam.get_user().user_name("deploybot").send().await.is_ok());
}

/// An environment whose files do not load cannot say what it protects: a plan that deletes
/// says so, rather than passing over it in silence.
#[tokio::test]
async fn an_environment_that_does_not_load_is_named_when_deleting() {
    let world = World::new();
    world.plumb_toml_dev_and_prod();
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/x\"]\nvalue = \"1\"\n",
    );
    world.write(
        "desired/prod/app.toml",
        "[parameters.\"/prod/app/x\"]\nvalue = \"1\"\nvalu = 2\n",
    );
    world
        .plumb(&["apply", "--auto-approve", "--env", "dev"])
        .expect_code(0);
    world.write("desired/dev/app.toml", "");
    let plan = world.plumb(&["plan", "--env", "dev"]);
    plan.expect_code(0);
    assert!(
        plan.stderr.contains(
            "warning: environment `prod` does not load (`plumb validate --env prod` says why), so what \
             it protects was not checked against this plan's deletions"
        ),
        "{}",
        plan.stderr
    );
}

#[tokio::test]
async fn max_deletes_refuses_until_allowed() {
    let world = World::new();
    world.plumb_toml("max_deletes = 1");
    seed(&world, &["/dev/app/a", "/dev/app/b"]).await;

    let plan = world.plumb(&["plan"]);
    plan.expect_code(0);
    assert!(plan.stderr.contains("warning: apply will refuse"));
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    assert!(
        apply
            .stderr
            .contains("deletes or replaces 2 resources, more than the 1 allowed")
    );
    assert_eq!(world.calls().get("DeleteParameter"), None);

    world
        .plumb(&["apply", "--auto-approve", "--allow-deletes", "2"])
        .expect_code(0);
    world.assert_converged();
}

#[tokio::test]
async fn the_account_guard_refuses_other_accounts() {
    let world = World::new();
    dev_in_another_account(&world);
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    assert!(apply.stderr.contains(&format!(
        "environment `dev` is account 999999999999, but the credentials are for account {}",
        world.account
    )));
    assert_eq!(world.calls().get("PutParameter"), None);
}

/// plumb.toml for `dev` naming another account than the credentials', owning `/dev/app/`.
fn dev_in_another_account(world: &World) {
    world.write(
        "desired/plumb.toml",
        "[environments.dev]\naccount_id = \"999999999999\"\nregion = \"us-east-1\"\n\
         [environments.dev.scope]\nparameter_paths = [\"/dev/app/\"]\n",
    );
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/k\"]\nvalue = \"a\"\n",
    );
}

/// plan, drift and compare settle the account from the first page of parameter metadata
/// (their ARNs name it) before anything else is read: in another account they stop there.
/// Nothing is decrypted, no other kind is read, nothing is shown or cached.
#[tokio::test]
async fn reads_in_another_account_stop_at_the_first_page_of_metadata() {
    let world = World::new();
    dev_in_another_account(&world);
    world.write(
        "desired/plumb.toml",
        &format!(
            "{}iam_path = \"/app/\"\nalarm_prefixes = [\"app-\"]\n",
            std::fs::read_to_string(world.path("desired/plumb.toml")).unwrap()
        ),
    );
    world.seed_parameters("/dev/app/p", 120);
    let ssm = world.ssm().await;
    ssm.put_parameter()
        .name("/dev/app/secret")
        .value("canary-other-account-5d1e")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let before = world.calls();
    let commands: [&[&str]; 4] = [
        &["plan"],
        &["plan", "--no-cache"],
        &["plan", "--format", "markdown"],
        &["drift"],
    ];
    for command in commands {
        let run = world.plumb(command);
        run.expect_code(3);
        assert!(
            run.stderr.contains(&format!(
                "environment `dev` is account 999999999999, but the credentials are for account {}",
                world.account
            )),
            "{command:?}: {}",
            run.stderr
        );
        assert!(!run.stdout.contains("/dev/app/"), "{command:?}: {}", run.stdout);
    }
    let made: BTreeMap<String, u64> = world
        .calls()
        .into_iter()
        .map(|(op, n)| (op.clone(), n - before.get(&op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        made,
        BTreeMap::from([("DescribeParameters".to_string(), 4)]),
        "one page of metadata a command (of 3), and nothing else"
    );
    assert!(!world.path("cache").exists(), "nothing is cached");
    assert!(!world.all_files_text().contains("canary-other-account"));
}

/// With nothing of its own listed, the guard asks STS, as apply always does before a write.
#[tokio::test]
async fn a_plan_in_another_account_with_nothing_listed_asks_sts() {
    let world = World::new();
    dev_in_another_account(&world);
    let plan = world.plumb(&["plan"]);
    plan.expect_code(3);
    assert!(
        plan.stderr
            .contains("environment `dev` is account 999999999999, but the credentials are for account"),
        "{}",
        plan.stderr
    );
    assert_eq!(world.calls()["GetCallerIdentity"], 1);
}

#[tokio::test]
async fn secret_values_appear_in_no_output_and_no_file() {
    const SECURE: &str = "canary-Secure-7f3a9";
    const FROM_ENV: &str = "canary-FromEnv-c41d2";
    const ROTATED: &str = "canary-Rotated-88b1e";
    let mut world = World::with_dev_env();
    world.set_env("DB_PASSWORD", SECURE);
    world.set_env("API_KEY", FROM_ENV);
    world.write(
        "desired/dev/secrets.toml",
        "[parameters.\"/dev/app/db/password\"]\ntype = \"SecureString\"\nvalue_from_env = \"DB_PASSWORD\"\n\
         [parameters.\"/dev/app/api-key\"]\nvalue_from_env = \"API_KEY\"\n",
    );

    let mut runs = vec![
        world.plumb(&["validate"]),
        world.plumb(&["plan"]),
        world.plumb(&["plan", "--format", "markdown"]),
        world.plumb(&["plan", "--format", "json", "--out", "plan.json"]),
        world.plumb(&["apply", "plan.json"]),
    ];
    // The secret is really in AWS ...
    let ssm = world.ssm().await;
    let stored = ssm
        .get_parameter()
        .name("/dev/app/db/password")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.parameter.unwrap().value.as_deref(), Some(SECURE));

    // ... and changed by hand, so plans show a sensitive change and a deletion of a secret.
    ssm.put_parameter()
        .name("/dev/app/db/password")
        .value(ROTATED)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    ssm.put_parameter()
        .name("/dev/app/stray-secret")
        .value(ROTATED)
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let changed = world.plumb(&["plan"]);
    assert!(
        changed.stdout.contains("value: (sensitive value changed)"),
        "{}",
        changed.stdout
    );
    runs.push(changed);
    runs.push(world.plumb(&["plan", "--format", "markdown"]));
    runs.push(world.plumb(&["plan", "--format", "json", "--out", "plan2.json"]));
    runs.push(world.plumb(&["drift"]));
    runs.push(world.plumb(&["apply", "--auto-approve"]));

    for run in &runs {
        for canary in [SECURE, FROM_ENV, ROTATED] {
            assert!(
                !run.all_output().contains(canary),
                "{canary} leaked in:\n{}",
                run.all_output()
            );
        }
    }
    let files = world.all_files_text();
    for canary in [SECURE, FROM_ENV, ROTATED] {
        assert!(!files.contains(canary), "{canary} leaked into a file");
    }
}

#[tokio::test]
async fn a_mistyped_flag_is_a_usage_error_never_changes_present() {
    let world = World::with_dev_env();
    for args in [
        &["plan", "--detailed-exitcod"][..],
        &["drift", "--fromat", "json"],
        &["aply"],
    ] {
        let run = world.plumb_offline(args);
        run.expect_code(64);
        assert!(run.stderr.contains("error:"), "{args:?}: {}", run.stderr);
    }
    world.plumb_offline(&["--help"]).expect_code(0);
    world.plumb_offline(&["--version"]).expect_code(0);
}

/// `--env` with a saved plan: naming one environment of a two-environment plan is refused
/// (applying the other would surprise), naming all of them in any order applies the plan.
#[tokio::test]
async fn env_with_a_saved_plan_must_name_the_plan_s_environments() {
    let world = World::new();
    world.plumb_toml_dev_and_prod();
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/k\"]\nvalue = \"d\"\n",
    );
    world.write(
        "desired/prod/a.toml",
        "[parameters.\"/prod/app/k\"]\nvalue = \"p\"\n",
    );
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);

    let part = world.plumb(&["apply", "--env", "prod", "plan.json"]);
    part.expect_code(3);
    assert!(
        part.stderr.contains(
            "`plan.json` is a plan of dev, prod, but --env names prod: a saved plan is applied whole, never in part; nothing was applied."
        ),
        "{}",
        part.stderr
    );
    assert_eq!(
        world.calls().get("PutParameter"),
        None,
        "nothing written, not even a lock"
    );

    world
        .plumb(&["apply", "--env", "prod", "--env", "dev", "plan.json"])
        .expect_code(0);
    world.assert_converged();
}
