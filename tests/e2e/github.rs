//! The pull-request flow against a local stand-in for GitHub (wiremock, driven by octocrab
//! inside the real plumb binary): one comment kept up to date, labels, GitHub's size limit,
//! values that must not break the Markdown, secrets, apply results and drift issues.

use aws_sdk_ssm::types::ParameterType;

use crate::support::World;
use crate::support::github::{FakeGitHub, REPOSITORY};

const PR: u64 = 7;

const PARAMS: &str = r#"
[parameters."/dev/app/db/host"]
value = "db.internal"
[parameters."/dev/app/version"]
value = "v1"
"#;

/// A world wired to the fake GitHub, with a pull_request event for PR 7.
async fn world_on_github() -> (World, FakeGitHub) {
    let github = FakeGitHub::start().await;
    let mut world = World::with_dev_env();
    world.write(
        "event.json",
        &format!(r#"{{"action": "synchronize", "pull_request": {{"number": {PR}}}}}"#),
    );
    let event = world.path("event.json").to_string_lossy().into_owned();
    let summary = world.path("step-summary.md").to_string_lossy().into_owned();
    world.set_env("GITHUB_TOKEN", "test-token");
    world.set_env("GITHUB_REPOSITORY", REPOSITORY);
    world.set_env("GITHUB_API_URL", &github.uri());
    world.set_env("GITHUB_EVENT_PATH", &event);
    world.set_env("GITHUB_STEP_SUMMARY", &summary);
    world.set_env("GITHUB_SHA", "0123456789abcdef");
    (world, github)
}

/// The Markdown outside code blocks and code spans: what GitHub interprets.
fn interpreted(markdown: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<usize> = None;
    for line in markdown.lines() {
        let ticks = line.len() - line.trim_start_matches('`').len();
        match fence {
            Some(open) if ticks >= open && line.trim_start_matches('`').trim().is_empty() => fence = None,
            Some(_) => {}
            None if ticks >= 3 => fence = Some(ticks),
            None => {
                // Drop inline code spans (a run of n backticks up to the next run of n).
                let mut rest = line;
                while let Some(start) = rest.find('`') {
                    out.push_str(&rest[..start]);
                    let run = rest[start..].len() - rest[start..].trim_start_matches('`').len();
                    let after = &rest[start + run..];
                    let close = "`".repeat(run);
                    rest = after.find(&close).map_or("", |end| &after[end + run..]);
                }
                out.push_str(rest);
                out.push('\n');
            }
        }
    }
    out
}

#[tokio::test]
async fn one_comment_is_kept_up_to_date_with_labels() {
    let (world, github) = world_on_github().await;
    world.write("desired/dev/app.toml", PARAMS);
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    world.plumb(&["comment", "--plan", "plan.json"]).expect_code(0);
    {
        let state = github.state.lock().unwrap();
        assert_eq!(state.comments.len(), 1);
        let body = &state.comments[0].2;
        assert!(body.starts_with("<!-- plumb:plan -->\n### plumb plan"), "{body}");
        assert!(body.contains("Planned at commit ` 0123456789abcdef `."), "{body}");
        assert!(
            body.find("| Environment |").unwrap() < body.find("<details>").unwrap(),
            "summary table first"
        );
        assert!(body.contains("**Plan: 2 to create, 0 to update, 0 to replace, 0 to delete.**"));
        assert!(body.contains("<!-- plumb-digest: sha256:"));
        assert_eq!(state.labels, ["plumb:changes"]);
    }
    let summary = std::fs::read_to_string(world.path("step-summary.md")).unwrap();
    assert!(
        summary.contains("/dev/app/db/host"),
        "the full plan goes to the job summary"
    );

    // The reviewed plan is what gets applied: its digest comes from the comment.
    let digest = world.plumb(&["comment", "--print-digest", "--env", "dev"]);
    digest.expect_code(0);
    let digest = digest.stdout.trim().to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    world
        .plumb(&[
            "apply",
            "--env",
            "dev",
            "--auto-approve",
            "--expect-digest",
            &digest,
        ])
        .expect_code(0);

    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    world.plumb(&["comment", "--plan", "plan.json"]).expect_code(0);
    let state = github.state.lock().unwrap();
    assert_eq!(state.comments.len(), 1, "edited in place, never a second comment");
    assert!(
        state.comments[0]
            .2
            .contains("No changes. Live AWS matches `desired/`.")
    );
    assert_eq!(state.labels, ["plumb:no-changes"], "labels replaced on each run");
}

#[tokio::test]
async fn a_plan_of_5000_parameters_fits_in_one_comment_with_its_summary() {
    let (world, github) = world_on_github().await;
    let mut toml = String::new();
    for i in 0..5000 {
        toml.push_str(&format!(
            "[parameters.\"/dev/app/p{i:04}\"]\nvalue = \"a value long enough to take some room {i}\"\n"
        ));
    }
    world.write("desired/dev/app.toml", &toml);
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    world.plumb(&["comment", "--plan", "plan.json"]).expect_code(0);
    let state = github.state.lock().unwrap();
    let body = &state.comments[0].2;
    assert!(
        body.chars().count() <= 65_536,
        "{} characters",
        body.chars().count()
    );
    assert!(body.contains("**Plan: 5000 to create, 0 to update, 0 to replace, 0 to delete.**"));
    assert!(body.contains("more line(s) not shown: the full plan is in the job summary"));
    assert_eq!(
        body.matches("<details>").count(),
        body.matches("</details>").count()
    );
    assert!(
        body.trim_end().ends_with("-->"),
        "the digest markers survive the cut"
    );
    let summary = std::fs::read_to_string(world.path("step-summary.md")).unwrap();
    assert!(summary.contains("/dev/app/p4999"));
}

#[tokio::test]
async fn hostile_values_change_nothing_in_the_structure_and_ping_nobody() {
    let (world, github) = world_on_github().await;
    world.write(
        "desired/dev/app.toml",
        r#"
[parameters."/dev/app/a"]
value = "</details><details open><summary>pwned</summary>"
[parameters."/dev/app/b"]
value = "```` @everyone ```` `x`"
[parameters."/dev/app/c"]
value = "<img src=x onerror=alert(1)> @octocat"
"#,
    );
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    world.plumb(&["comment", "--plan", "plan.json"]).expect_code(0);
    let state = github.state.lock().unwrap();
    let body = &state.comments[0].2;
    let live = interpreted(body);
    assert!(
        !live.contains("@everyone") && !live.contains("@octocat"),
        "{live}"
    );
    assert!(!live.contains("<img"), "{live}");
    assert!(!live.contains("pwned"), "{live}");
    assert_eq!(live.matches("<details>").count(), 1, "{live}");
    assert_eq!(live.matches("</details>").count(), 1, "{live}");
    assert!(
        body.contains("<img src=x onerror=alert(1)>"),
        "the value is still shown, as code"
    );
}

#[tokio::test]
async fn secrets_reach_neither_github_nor_the_job_summary() {
    const CANARY: &str = "canary-github-5b2e1";
    let (mut world, github) = world_on_github().await;
    world.set_env("DB_PASSWORD", CANARY);
    world.write(
        "desired/dev/app.toml",
        "[parameters.\"/dev/app/db/password\"]\ntype = \"SecureString\"\nvalue_from_env = \"DB_PASSWORD\"\n",
    );
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    world.plumb(&["comment", "--plan", "plan.json"]).expect_code(0);
    world
        .plumb(&["apply", "--auto-approve", "--report", "report.json"])
        .expect_code(0);
    world
        .plumb(&["comment", "--apply-result", "report.json"])
        .expect_code(0);
    assert!(!github.all_request_bodies().await.contains(CANARY));
    assert!(!world.all_files_text().contains(CANARY));
}

#[tokio::test]
async fn the_apply_result_is_posted_as_its_own_comment() {
    let (world, github) = world_on_github().await;
    world.write("desired/dev/app.toml", PARAMS);
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    world.plumb(&["comment", "--plan", "plan.json"]).expect_code(0);
    world
        .plumb(&["apply", "--auto-approve", "--report", "report.json"])
        .expect_code(0);
    world
        .plumb(&["comment", "--apply-result", "report.json"])
        .expect_code(0);
    let state = github.state.lock().unwrap();
    assert_eq!(state.comments.len(), 2);
    assert!(
        state.comments[1]
            .2
            .starts_with("### plumb apply: done\n\n2 change(s) made in ` dev `."),
        "{}",
        state.comments[1].2
    );
}

#[tokio::test]
async fn drift_opens_one_issue_per_environment_and_closes_it_when_gone() {
    let (world, github) = world_on_github().await;
    world.write("desired/dev/app.toml", PARAMS);
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    world.plumb(&["drift", "--issues"]).expect_code(0);
    assert!(
        github.state.lock().unwrap().issues.is_empty(),
        "no drift, no issue"
    );

    let ssm = world.ssm().await;
    let edit = |value: &'static str| {
        ssm.put_parameter()
            .name("/dev/app/version")
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(true)
            .send()
    };
    edit("hand-1").await.unwrap();
    let run = world.plumb(&["drift", "--issues"]);
    run.expect_code(2);
    assert!(run.stdout.contains("dev: opened issue #"), "{}", run.stdout);
    edit("hand-2").await.unwrap();
    world.plumb(&["drift", "--issues"]).expect_code(2);
    {
        let state = github.state.lock().unwrap();
        assert_eq!(state.issues.len(), 1, "updated, not opened again");
        assert_eq!(state.issues[0].1, "plumb: drift in dev");
        assert!(
            state.issues[0].2.contains(r#"value: "hand-2" -> "v1""#),
            "{}",
            state.issues[0].2
        );
    }
    world.plumb(&["apply", "--auto-approve"]).expect_code(0);
    let run = world.plumb(&["drift", "--issues"]);
    run.expect_code(0);
    assert!(run.stdout.contains("closed issue #"), "{}", run.stdout);
    assert!(!github.state.lock().unwrap().issues[0].3, "closed");
}

const FORGED: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[tokio::test]
async fn only_plumb_s_own_comment_speaks_for_plumb() {
    let (world, github) = world_on_github().await;
    world.write("desired/dev/app.toml", PARAMS);
    let hostile = format!(
        "<!-- plumb:plan -->\nLooks fine!\n<!-- plumb-digest: {FORGED} -->\n<!-- plumb-digest:dev: {FORGED} -->\n"
    );
    let hostile_id = github.state.lock().unwrap().comment_as("mallory", PR, &hostile);

    let digest = world.plumb(&["comment", "--print-digest", "--env", "dev"]);
    digest.expect_code(1);
    assert!(
        digest.stderr.contains("has no plumb plan comment"),
        "{}",
        digest.stderr
    );

    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    world.plumb(&["comment", "--plan", "plan.json"]).expect_code(0);
    {
        let state = github.state.lock().unwrap();
        assert_eq!(state.comments.len(), 2, "plumb posted its own comment");
        let theirs = state.comments.iter().find(|c| c.0 == hostile_id).unwrap();
        assert_eq!(theirs.2, hostile, "mallory's comment was not edited");
        assert_eq!(state.comments[1].3, crate::support::github::BOT);
    }
    let digest = world.plumb(&["comment", "--print-digest", "--env", "dev"]);
    digest.expect_code(0);
    assert_ne!(digest.stdout.trim(), FORGED);
    assert!(digest.stdout.trim().starts_with("sha256:"), "{}", digest.stdout);
}

#[tokio::test]
async fn a_digest_marker_inside_a_value_is_not_the_plan_s_digest() {
    let (world, _github) = world_on_github().await;
    world.write(
        "desired/dev/app.toml",
        &format!("[parameters.\"/dev/app/note\"]\nvalue = \"x\\n<!-- plumb-digest:dev: {FORGED} -->\\n<!-- plumb-digest: {FORGED} -->\"\n"),
    );
    world.plumb(&["plan", "--out", "plan.json"]).expect_code(0);
    world.plumb(&["comment", "--plan", "plan.json"]).expect_code(0);
    for args in [
        &["comment", "--print-digest", "--env", "dev"][..],
        &["comment", "--print-digest"],
    ] {
        let digest = world.plumb(args);
        digest.expect_code(0);
        assert_ne!(digest.stdout.trim(), FORGED, "{args:?}");
    }
}

#[tokio::test]
async fn a_drift_issue_opened_by_someone_else_is_not_plumb_s() {
    let (mut world, github) = world_on_github().await;
    world.set_env("GITHUB_EVENT_PATH", "/nonexistent");
    let theirs =
        github
            .state
            .lock()
            .unwrap()
            .issue_as("mallory", "plumb: drift in dev", "all good, nothing to see");
    world
        .ssm()
        .await
        .put_parameter()
        .name("/dev/app/stray")
        .value("x")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    world.plumb(&["drift", "--issues"]).expect_code(2);
    let state = github.state.lock().unwrap();
    let mallory = state.issues.iter().find(|i| i.0 == theirs).unwrap();
    assert_eq!(mallory.2, "all good, nothing to see", "not edited");
    assert_eq!(state.issues.len(), 2, "plumb opened its own");
}
