//! Only what is ours: scope prefixes are paths, environments of one account never overlap, a
//! whole-service scope needs an opt-in, deletions have a default limit, and environment names
//! cannot reach outside desired/. Each test is an attack that worked before the fix.

use aws_sdk_ssm::types::ParameterType;

use crate::support::{REGION, World};

async fn put(world: &World, name: &str) {
    world
        .ssm()
        .await
        .put_parameter()
        .name(name)
        .value("x")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
}

async fn exists(world: &World, name: &str) -> bool {
    world.ssm().await.get_parameter().name(name).send().await.is_ok()
}

#[tokio::test]
async fn an_iam_path_without_its_trailing_slash_is_refused() {
    let world = World::new();
    world.plumb_toml_with_scope("", "iam_path = \"/mono\"\n");
    let validate = world.plumb_offline(&["validate"]);
    validate.expect_code(1);
    assert!(
        validate
            .stderr
            .contains("environments.dev.scope.iam_path: `/mono` must start and end with `/`"),
        "{}",
        validate.stderr
    );
}

#[tokio::test]
async fn users_at_a_longer_path_are_not_ours() {
    let world = World::new();
    world.plumb_toml_with_scope("", "iam_path = \"/mono/\"\n");
    let iam = world.iam().await;
    for (user, path) in [("ours", "/mono/"), ("theirs", "/monolith/")] {
        iam.create_user().user_name(user).path(path).send().await.unwrap();
    }
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert!(
        iam.get_user().user_name("ours").send().await.is_err(),
        "ours is pruned"
    );
    assert!(
        iam.get_user().user_name("theirs").send().await.is_ok(),
        "/monolith/ is not /mono/"
    );
}

#[tokio::test]
async fn a_parameter_path_matches_whole_segments_only() {
    let world = World::new();
    world.plumb_toml_with_scope("", "parameter_paths = [\"/a\"]\n");
    for name in ["/a/x", "/ab/y", "/abc"] {
        put(&world, name).await;
    }
    let plan = world.plumb(&["plan"]);
    assert!(plan.stdout.contains("/a/x"), "{}", plan.stdout);
    assert!(
        !plan.stdout.contains("/ab/y") && !plan.stdout.contains("/abc"),
        "{}",
        plan.stdout
    );
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    assert!(!exists(&world, "/a/x").await);
    assert!(exists(&world, "/ab/y").await && exists(&world, "/abc").await);
}

fn two_environments(world: &World, dev_account: Option<&str>, prod_account: Option<&str>) {
    let account = |a: Option<&str>| a.map(|a| format!("account_id = \"{a}\"\n")).unwrap_or_default();
    world.write(
        "desired/plumb.toml",
        &format!(
            "[environments.dev]\n{}region = \"{REGION}\"\n[environments.dev.scope]\nparameter_paths = [\"/app/\"]\n\
             [environments.prod]\n{}region = \"{REGION}\"\n[environments.prod.scope]\nparameter_paths = [\"/app/b/\"]\n",
            account(dev_account),
            account(prod_account)
        ),
    );
    for env in ["dev", "prod"] {
        std::fs::create_dir_all(world.path(&format!("desired/{env}"))).unwrap();
    }
}

#[tokio::test]
async fn overlapping_scopes_in_one_named_account_are_refused_offline() {
    let world = World::new();
    two_environments(&world, Some(&world.account), Some(&world.account));
    let validate = world.plumb_offline(&["validate"]);
    validate.expect_code(1);
    assert!(
        validate.stderr.contains(
            "environments `dev` and `prod` share account and region us-east-1 but their scopes \
             overlap (parameter_paths `/app/` and `/app/b/`)"
        ),
        "{}",
        validate.stderr
    );
}

#[tokio::test]
async fn overlapping_scopes_are_checked_with_sts_when_no_account_is_named() {
    let world = World::new();
    two_environments(&world, None, None);
    put(&world, "/app/b/theirs").await;
    let plan = world.plumb(&["plan", "--env", "dev"]);
    plan.expect_code(3);
    assert!(
        plan.stderr
            .contains("environments `dev` and `prod` share account"),
        "{}",
        plan.stderr
    );
    world
        .plumb(&["apply", "--auto-approve", "--env", "dev"])
        .expect_code(3);
    assert!(exists(&world, "/app/b/theirs").await, "nothing was deleted");
}

#[tokio::test]
async fn overlapping_scopes_in_different_accounts_are_fine() {
    let world = World::new();
    two_environments(&world, Some(&world.account), Some("999999999999"));
    world.plumb_offline(&["validate"]).expect_code(0);
}

#[tokio::test]
async fn a_whole_service_scope_needs_an_explicit_opt_in() {
    let world = World::new();
    world.plumb_toml_with_scope(
        "",
        "parameter_paths = [\"/\"]\niam_path = \"/\"\nalarm_prefixes = [\"\"]\n",
    );
    let validate = world.plumb_offline(&["validate"]);
    validate.expect_code(1);
    for setting in ["parameter_paths `/`", "iam_path `/`", "alarm_prefixes ``"] {
        assert!(
            validate
                .stderr
                .contains(&format!("{setting} covers every object of its kind")),
            "{setting}: {}",
            validate.stderr
        );
    }
    assert!(validate.stderr.contains("whole_service = [\"parameter_paths\"]"));
    world.plumb_toml_with_scope(
        "",
        "parameter_paths = [\"/\"]\nwhole_service = [\"parameter_paths\"]\n",
    );
    world.plumb_offline(&["validate"]).expect_code(0);
}

#[tokio::test]
async fn an_emptied_folder_deletes_at_most_ten_without_allow_deletes() {
    let world = World::new();
    world.plumb_toml_with_scope(
        "",
        "parameter_paths = [\"/\"]\nwhole_service = [\"parameter_paths\"]\n",
    );
    world.seed_parameters("/team/p", 30);
    let apply = world.plumb(&["apply", "--auto-approve"]);
    apply.expect_code(3);
    assert!(
        apply
            .stderr
            .contains("deletes or replaces 30 resources, more than the 10 allowed"),
        "{}",
        apply.stderr
    );
    assert_eq!(world.calls().get("DeleteParameter"), None, "nothing was deleted");
}

#[tokio::test]
async fn environment_names_cannot_climb_out_of_desired() {
    for name in ["../ext", ".", "a/b", "dev\n-->", ""] {
        let world = World::new();
        world.write(
            "desired/plumb.toml",
            &format!("[environments.{name:?}]\nregion = \"{REGION}\"\n"),
        );
        // What `../ext` would load: a file outside desired/ that must never be read.
        world.write("ext/stolen.toml", "this is not toml =");
        let validate = world.plumb_offline(&["validate"]);
        validate.expect_code(1);
        assert!(
            validate
                .stderr
                .contains("an environment name is letters, digits, `-` and `_`"),
            "{name:?}: {}",
            validate.stderr
        );
        assert!(
            !validate.stderr.contains("stolen.toml"),
            "{name:?}: {}",
            validate.stderr
        );
    }
}

#[tokio::test]
async fn account_wide_kinds_overlap_across_regions() {
    let world = World::new();
    let env = |name: &str, region: &str, account: &str| {
        format!(
            "[environments.{name}]\n{account}region = \"{region}\"\n[environments.{name}.scope]\n\
             parameter_paths = [\"/app/\"]\niam_path = \"/team/\"\nbudget_prefixes = [\"team-\"]\n"
        )
    };
    let named = format!("account_id = \"{}\"\n", world.account);
    world.write(
        "desired/plumb.toml",
        &(env("dev", "us-east-1", &named) + &env("prod", "us-west-2", &named)),
    );
    for name in ["dev", "prod"] {
        std::fs::create_dir_all(world.path(&format!("desired/{name}"))).unwrap();
    }
    let validate = world.plumb_offline(&["validate"]);
    validate.expect_code(1);
    assert!(
        validate.stderr.contains(
            "environments `dev` and `prod` share an account (IAM, Budgets and dashboards are \
             account-wide) but their scopes overlap (iam_path `/team/` and `/team/`; budget_prefixes `team-` and `team-`)"
        ),
        "parameters are regional, so `/app/` is not an overlap: {}",
        validate.stderr
    );

    // Without account_id, STS says they are one account.
    world.write(
        "desired/plumb.toml",
        &(env("dev", "us-east-1", "") + &env("prod", "us-west-2", "")),
    );
    world
        .iam()
        .await
        .create_user()
        .user_name("bob")
        .path("/team/")
        .send()
        .await
        .unwrap();
    world
        .plumb(&["apply", "--auto-approve", "--env", "dev"])
        .expect_code(3);
    assert!(world.iam().await.get_user().user_name("bob").send().await.is_ok());
}

#[tokio::test]
async fn scope_values_with_characters_aws_never_allows_are_refused() {
    for (scope, expected) in [
        (
            "parameter_paths = [\"/dev/*\"]\n",
            "scope.parameter_paths: `/dev/*` has '*'",
        ),
        (
            "parameter_paths = [\"/dev/app \"]\n",
            "scope.parameter_paths: `/dev/app ` has ' '",
        ),
        ("iam_path = \"/a b/\"\n", "scope.iam_path: `/a b/` has ' '"),
        (
            "dashboard_prefixes = [\"app.\"]\n",
            "scope.dashboard_prefixes: `app.` has '.'",
        ),
    ] {
        let world = World::new();
        world.plumb_toml_with_scope("", scope);
        let validate = world.plumb_offline(&["validate"]);
        validate.expect_code(1);
        assert!(
            validate.stderr.contains(expected),
            "{expected}: {}",
            validate.stderr
        );
    }
}

#[tokio::test]
async fn a_misspelt_scope_setting_is_one_problem_and_unlock_refuses() {
    let world = World::new();
    world.plumb_toml_with_scope("", "parameter_path = [\"/dev/app/\"]\n");
    world.write(
        "desired/dev/a.toml",
        "[parameters.\"/dev/app/x\"]\nvalue = \"1\"\n",
    );
    let validate = world.plumb_offline(&["validate"]);
    validate.expect_code(1);
    assert!(
        validate.stderr.contains(
            "environments.dev.scope: unknown setting `parameter_path`; did you mean `parameter_paths`?"
        ),
        "{}",
        validate.stderr
    );
    assert!(
        !validate.stderr.contains("outside environment"),
        "{}",
        validate.stderr
    );
    let unlock = world.plumb_offline(&["unlock", "--env", "dev"]);
    unlock.expect_code(1);
    assert!(
        unlock.stderr.contains("unknown setting `parameter_path`"),
        "{}",
        unlock.stderr
    );
}
