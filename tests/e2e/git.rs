//! `--base`: environments changed by a branch, and its own edits told apart from drift, on
//! real git repositories made with git2 in temporary folders.

use aws_sdk_ssm::types::ParameterType;
use git2::{IndexAddOption, Repository, RepositoryInitOptions, Signature};
use serde_json::Value as Json;

use crate::support::{REGION, World};

fn two_environments(world: &World) {
    world.plumb_toml_dev_and_prod();
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/a\"]\nvalue = \"1\"\n[parameters.\"/dev/app/b\"]\nvalue = \"1\"\n",
    );
    world.write(
        "desired/prod/app.toml",
        "[parameters.\"/prod/app/a\"]\nvalue = \"1\"\n",
    );
}

fn init(world: &World) -> Repository {
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main");
    Repository::init_opts(world.dir.path(), &options).expect("git init")
}

fn commit_all(repo: &Repository, message: &str) {
    let mut index = repo.index().unwrap();
    index.add_all(["desired"], IndexAddOption::DEFAULT, None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = Signature::now("Test", "test@example.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents)
        .unwrap();
}

fn branch(repo: &Repository, name: &str) {
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    repo.branch(name, &head, false).unwrap();
    repo.set_head(&format!("refs/heads/{name}")).unwrap();
}

fn planned(world: &World, args: &[&str]) -> Json {
    let run = world.plumb(args);
    assert!(run.code == 0 || run.code == 2, "{}{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn environments(plan: &Json) -> Vec<&str> {
    plan["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environment"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn only_the_environments_a_branch_changed_are_planned() {
    let world = World::new();
    two_environments(&world);
    let repo = init(&world);
    commit_all(&repo, "desired state");
    branch(&repo, "feature");
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/a\"]\nvalue = \"2\"\n",
    );
    commit_all(&repo, "change dev");

    let plan = planned(&world, &["plan", "--base", "main", "--format", "json"]);
    assert_eq!(environments(&plan), ["dev"]);

    // A change to plumb.toml affects every environment.
    let toml = std::fs::read_to_string(world.path("desired/plumb.toml")).unwrap();
    world.write(
        "desired/plumb.toml",
        &toml.replace("[environments.prod]\n", "[environments.prod]\nmax_deletes = 5\n"),
    );
    commit_all(&repo, "guard prod");
    let plan = planned(&world, &["plan", "--base", "main", "--format", "json"]);
    assert_eq!(environments(&plan), ["dev", "prod"]);
}

#[tokio::test]
async fn nothing_changed_means_nothing_planned() {
    let world = World::new();
    two_environments(&world);
    let repo = init(&world);
    commit_all(&repo, "desired state");
    branch(&repo, "feature");
    let run = world.plumb(&["plan", "--base", "main", "--detailed-exitcode"]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("No environment's files changed since `main`: nothing to plan.")
    );
    assert_eq!(world.calls().values().sum::<u64>(), 0, "no AWS call");
}

/// The plan of a branch that changed no environment covers none; applied, it is nothing: no
/// lock, no call (read as "no environment named" it would have been all of them).
#[tokio::test]
async fn a_plan_of_no_environment_applies_nothing() {
    let world = World::new();
    two_environments(&world);
    let repo = init(&world);
    commit_all(&repo, "desired state");
    branch(&repo, "feature");
    world
        .plumb(&["plan", "--base", "main", "--out", "plan.json"])
        .expect_code(0);
    let apply = world.plumb(&["apply", "plan.json"]);
    apply.expect_code(0);
    assert!(
        apply
            .stdout
            .contains("No changes: the plan covers no environment."),
        "{}",
        apply.stdout
    );
    assert_eq!(world.calls().values().sum::<u64>(), 0, "no AWS call, no lock");
    // Its digest is still checked.
    let wrong = world.plumb(&["apply", "plan.json", "--expect-digest", "sha256:0000"]);
    wrong.expect_code(3);
    assert!(
        wrong.stderr.contains("not the expected sha256:0000"),
        "{}",
        wrong.stderr
    );
}

#[tokio::test]
async fn the_branch_s_own_edit_is_told_apart_from_drift() {
    let world = World::new();
    two_environments(&world);
    let repo = init(&world);
    commit_all(&repo, "desired state");
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);

    // Someone edits b by hand; the branch edits a.
    let ssm = world.ssm().await;
    ssm.put_parameter()
        .name("/dev/app/b")
        .value("by hand")
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    branch(&repo, "feature");
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/a\"]\nvalue = \"2\"\n[parameters.\"/dev/app/b\"]\nvalue = \"1\"\n",
    );
    commit_all(&repo, "raise a");

    let plan = planned(&world, &["plan", "--base", "main", "--format", "json"]);
    let changes = plan["environments"][0]["changes"].as_array().unwrap();
    let source_of = |name: &str| {
        changes
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["source"].as_str().unwrap().to_string())
    };
    assert_eq!(source_of("/dev/app/a").as_deref(), Some("this_change"));
    assert_eq!(source_of("/dev/app/b").as_deref(), Some("drift"));

    let markdown = world
        .plumb(&["plan", "--base", "main", "--format", "markdown"])
        .stdout;
    let ours = markdown
        .find("**From this pull request**")
        .expect("the branch's group");
    let drift = markdown.find("**Pre-existing drift").expect("the drift group");
    assert!(ours < markdown.find("! update parameter /dev/app/a").unwrap());
    assert!(drift < markdown.find("! update parameter /dev/app/b").unwrap());
    assert!(markdown.find("! update parameter /dev/app/a").unwrap() < drift);

    // The digest does not depend on the base: the plan applied after the merge is the same.
    let with_base = plan["digest"].as_str().unwrap().to_string();
    let without = planned(&world, &["plan", "--env", "dev", "--format", "json"]);
    assert_eq!(without["digest"].as_str().unwrap(), with_base);
}

#[tokio::test]
async fn a_value_the_base_reads_from_the_environment_stays_hidden_when_a_branch_drops_it() {
    const CANARY: &str = "canary-Base-61c3d";
    let world = World::with_dev_env();
    // Written by hand (no marker): only the base's declaration says it is secret. The plan
    // job has no value for API_KEY, as plan jobs hold no secrets.
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
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/api-key\"]\nvalue_from_env = \"API_KEY\"\n",
    );
    let repo = init(&world);
    commit_all(&repo, "declared from the environment");
    branch(&repo, "feature");
    for toml in ["", "[parameters.\"/dev/app/api-key\"]\nvalue = \"public\"\n"] {
        world.write("desired/dev/app.toml", toml);
        commit_all(&repo, "drop it");
        let runs = [
            world.plumb(&["plan", "--base", "main"]),
            world.plumb(&["plan", "--base", "main", "--format", "markdown"]),
            world.plumb(&["plan", "--base", "main", "--format", "json", "--out", "plan.json"]),
        ];
        assert!(runs[0].stdout.contains("/dev/app/api-key"), "{}", runs[0].stdout);
        for run in &runs {
            assert!(
                !run.all_output().contains(CANARY),
                "leaked:\n{}",
                run.all_output()
            );
        }
        assert!(!world.all_files_text().contains(CANARY));
    }
}

#[tokio::test]
async fn validate_with_a_base_outside_git_is_an_error() {
    let world = World::with_dev_env();
    let run = world.plumb_offline(&["validate", "--base", "main"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("is not inside a git repository"),
        "{}",
        run.stderr
    );
}

/// What `plumb environments --format json` lists, as (name, account, region).
fn listed(world: &World, args: &[&str]) -> Vec<(String, String, String)> {
    let run = world.plumb_offline(args);
    run.expect_code(0);
    let list: Vec<Json> = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    list.iter()
        .map(|e| {
            let text = |key: &str| e[key].as_str().unwrap_or_default().to_string();
            (text("name"), text("account_id"), text("region"))
        })
        .collect()
}

/// The workflows build their job matrix from `plumb environments`: it must list exactly what
/// plan would plan, offline (the job that builds the matrix holds no credentials).
#[test]
fn environments_lists_what_plan_would_plan_for_a_workflow_matrix() {
    let world = World::new();
    two_environments(&world);
    let account = world.account.clone();
    let both = listed(&world, &["environments", "--format", "json"]);
    assert_eq!(
        both,
        [
            ("dev".to_string(), account.clone(), REGION.to_string()),
            ("prod".to_string(), account.clone(), REGION.to_string())
        ]
    );
    let text = world.plumb_offline(&["environments"]);
    assert_eq!(
        text.stdout,
        format!("dev\t{account}\t{REGION}\nprod\t{account}\t{REGION}\n")
    );

    let repo = init(&world);
    commit_all(&repo, "desired state");
    branch(&repo, "feature");
    let none = world.plumb_offline(&["environments", "--base", "main", "--format", "json"]);
    assert_eq!(none.stdout, "[]\n", "nothing changed: an empty matrix");

    world.write(
        "desired/prod/app.toml",
        "[parameters.\"/prod/app/a\"]\nvalue = \"2\"\n",
    );
    commit_all(&repo, "change prod");
    let changed = listed(&world, &["environments", "--base", "main", "--format", "json"]);
    assert_eq!(changed, [("prod".to_string(), account, REGION.to_string())]);
    assert_eq!(world.calls().values().sum::<u64>(), 0, "no AWS call");

    let unknown = world.plumb_offline(&["environments", "--env", "prdo"]);
    unknown.expect_code(1);
    assert!(
        unknown.stderr.contains("no environment `prdo`"),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown.stderr.contains("did you mean `prod`?"),
        "{}",
        unknown.stderr
    );
}

/// A name `plumb environments` prints becomes a CI job's environment and artifact name: a
/// malformed one (a pull request's plumb.toml is untrusted) is refused as validate refuses it.
#[test]
fn environments_refuses_malformed_names() {
    let world = World::new();
    world.write(
        "desired/plumb.toml",
        "[environments.\"x\\nlist=[]\"]\nregion = \"us-east-1\"\n[environments.\"${{ secrets.X }}\"]\nregion = \"us-east-1\"\n",
    );
    let run = world.plumb_offline(&["environments", "--format", "json"]);
    run.expect_code(1);
    assert_eq!(run.stdout, "", "nothing listed");
    assert!(
        run.stderr.contains("an environment name is letters, digits"),
        "{}",
        run.stderr
    );
}

/// A change under desired/shared/ is a change to every environment that declares it.
#[test]
fn a_change_under_shared_counts_for_the_environments_it_reaches() {
    let world = World::new();
    two_environments(&world);
    let toml = std::fs::read_to_string(world.path("desired/plumb.toml")).unwrap();
    world.write(
        "desired/plumb.toml",
        &format!("{toml}[shared]\nenvironments = [\"prod\"]\n"),
    );
    world.write(
        "desired/shared/app.toml",
        "[parameters.\"/${env}/app/shared\"]\nvalue = \"1\"\n",
    );
    let repo = init(&world);
    commit_all(&repo, "desired state");
    branch(&repo, "feature");
    world.write(
        "desired/shared/app.toml",
        "[parameters.\"/${env}/app/shared\"]\nvalue = \"2\"\n",
    );
    commit_all(&repo, "change what is shared");
    let changed = listed(&world, &["environments", "--base", "main", "--format", "json"]);
    assert_eq!(
        changed,
        [("prod".to_string(), world.account.clone(), REGION.to_string())]
    );
}
