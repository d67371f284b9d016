//! One function per subcommand: turn options into calls of the library and output.
//!
//! Every command that talks to AWS goes through [`plan_all`]: load → fetch → plan. `apply`
//! then checks the guards and hands the plan to [`crate::apply`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use futures::future::try_join_all;

use crate::apply::{self, Outcome};
use crate::aws::Session;
use crate::cli::{Command, Format, Target};
use crate::engine::{self, EnvState};
use crate::error::{Refused, Status};
use crate::kinds::{self, Kind};
use crate::load::{self, DesiredEnv, Diagnostics, EnvVars, LoadOptions};
use crate::output;
use crate::plan::{FORMAT_VERSION, Plan};
use crate::render;
use crate::resource::Resource;

pub async fn run(command: Command) -> Result<Status> {
    match command {
        Command::Validate { target } => validate(&target),
        Command::Plan {
            target,
            format,
            out,
            detailed_exitcode,
        } => plan(&target, format, out.as_deref(), detailed_exitcode).await,
        Command::Apply {
            target,
            plan,
            auto_approve,
            expect_digest,
            allow_deletes,
        } => {
            let options = ApplyOptions {
                plan_file: plan,
                auto_approve,
                expect_digest,
                allow_deletes,
            };
            apply(&target, &options).await
        }
        Command::Drift { target, format } => drift(&target, format).await,
    }
}

/// Prints an error and its cause chain; validation problems one per line.
pub fn report_error(error: &anyhow::Error) {
    if let Some(diagnostics) = error.downcast_ref::<Diagnostics>() {
        for diagnostic in &diagnostics.0 {
            output::stderr(&format!("error: {diagnostic}\n"));
        }
        let count = diagnostics.0.len();
        output::stderr(&format!("error: desired/ has {count} problem(s)\n"));
        return;
    }
    let kind = if error.is::<Refused>() { "refused" } else { "error" };
    output::stderr(&format!("{kind}: {error:#}\n"));
}

fn validate(target: &Target) -> Result<Status> {
    let kinds = kinds::registry();
    let options = LoadOptions {
        dir: &target.dir,
        environments: &target.envs,
        env_vars: EnvVars::Skip,
    };
    let desired = load::load(&options, &kinds)?;
    let count: usize = desired.environments.iter().map(|e| e.resources.len()).sum();
    output::stdout(&format!(
        "{} is valid: {count} resource(s) in {} environment(s).\n",
        target.dir.display(),
        desired.environments.len()
    ));
    Ok(Status::Clean)
}

async fn plan(target: &Target, format: Format, out: Option<&Path>, detailed: bool) -> Result<Status> {
    let planned = plan_all(target).await?;
    output::stdout(&render_plan(&planned.plan, format));
    if let Some(path) = out {
        write_plan_file(path, &planned.plan)?;
    }
    let refusals = protected_refusals(&planned);
    warn_about_deletes(&planned);
    if !refusals.is_empty() {
        bail!(Refused(refusals.join("\n")));
    }
    Ok(if detailed && planned.plan.has_changes() {
        Status::Changes
    } else {
        Status::Clean
    })
}

async fn drift(target: &Target, format: Format) -> Result<Status> {
    let planned = plan_all(target).await?;
    let text = match format {
        Format::Text => render::text::render_drift(&planned.plan, output::stdout_style()),
        other => render_plan(&planned.plan, other),
    };
    output::stdout(&text);
    Ok(if planned.plan.has_changes() {
        Status::Changes
    } else {
        Status::Clean
    })
}

pub struct ApplyOptions {
    pub plan_file: Option<PathBuf>,
    pub auto_approve: bool,
    pub expect_digest: Option<String>,
    pub allow_deletes: Option<usize>,
}

async fn apply(target: &Target, options: &ApplyOptions) -> Result<Status> {
    let saved = options.plan_file.as_deref().map(read_plan_file).transpose()?;
    let target = match &saved {
        // A saved plan names its environments; re-plan exactly those.
        Some(saved) => Target {
            dir: target.dir.clone(),
            envs: saved.environments.iter().map(|e| e.environment.clone()).collect(),
        },
        None => Target {
            dir: target.dir.clone(),
            envs: target.envs.clone(),
        },
    };
    let planned = plan_all(&target).await?;
    if let Some(saved) = &saved {
        check_not_stale(saved, &planned.plan)?;
    }
    if let Some(expected) = &options.expect_digest
        && expected != &planned.plan.digest
    {
        bail!(Refused(format!(
            "the plan's digest is {}, not the expected {expected}: desired/ or live state changed since it was reviewed",
            planned.plan.digest
        )));
    }
    let mut refusals = protected_refusals(&planned);
    refusals.extend(delete_guard_refusals(&planned, options.allow_deletes));
    if !refusals.is_empty() {
        output::stdout(&render_plan(&planned.plan, Format::Text));
        bail!(Refused(refusals.join("\n")));
    }
    if !planned.plan.has_changes() {
        output::stdout("No changes. Live AWS matches desired/.\n");
        return Ok(Status::Clean);
    }
    if saved.is_none() {
        output::stdout(&render_plan(&planned.plan, Format::Text));
        confirm(options.auto_approve)?;
    }
    let outcome = execute(&planned).await;
    report_outcome(&outcome)?;
    Ok(Status::Clean)
}

fn confirm(auto_approve: bool) -> Result<()> {
    if auto_approve {
        return Ok(());
    }
    if !output::stdin_is_terminal() {
        bail!("standard input is not a terminal: pass --auto-approve to apply without asking");
    }
    if !output::confirm("\nApply these changes? Only 'yes' is accepted: ") {
        bail!("apply cancelled: nothing was changed");
    }
    Ok(())
}

fn report_outcome(outcome: &Outcome) -> Result<()> {
    if outcome.failures.is_empty() {
        output::stdout(&format!("Apply complete: {} change(s) made.\n", outcome.applied));
        return Ok(());
    }
    let failures: Vec<String> = outcome.failures.iter().map(|f| format!("  {f}")).collect();
    bail!(
        "{} change(s) failed, {} made; run `plumb apply` again once the cause is fixed:\n{}",
        outcome.failures.len(),
        outcome.applied,
        failures.join("\n")
    )
}

/// A plan and the sessions it was computed with.
pub struct Planned {
    pub plan: Plan,
    pub sessions: Vec<Session>,
}

/// load → fetch → plan, for every selected environment (in parallel).
pub async fn plan_all(target: &Target) -> Result<Planned> {
    let kinds = kinds::registry();
    let options = LoadOptions {
        dir: &target.dir,
        environments: &target.envs,
        env_vars: EnvVars::Read,
    };
    let desired = load::load(&options, &kinds)?;
    let spinner = output::spinner("Reading live state");
    let planned = try_join_all(
        desired
            .environments
            .into_iter()
            .map(|env| plan_environment(env, &kinds)),
    )
    .await;
    spinner.finish_and_clear();
    let (env_plans, sessions) = planned?.into_iter().unzip();
    Ok(Planned {
        plan: Plan::new(env_plans),
        sessions,
    })
}

async fn plan_environment(
    desired: DesiredEnv,
    kinds: &[&dyn Kind],
) -> Result<(crate::plan::EnvPlan, Session)> {
    let env = &desired.env;
    let session = Session::connect(env).await;
    let account_id = check_account(&session).await?;
    let live = fetch_live(&session, &desired.resources, kinds)
        .await
        .with_context(|| format!("cannot read the live state of environment `{}`", env.name))?;
    let state = EnvState {
        env,
        account_id,
        desired: desired.resources,
        live,
    };
    let plan = engine::plan_environment(state, kinds);
    Ok((plan, session))
}

/// The account guard: with `account_id` set, STS must agree before anything is read.
async fn check_account(session: &Session) -> Result<Option<String>> {
    let Some(expected) = &session.env.account_id else {
        return Ok(None);
    };
    let actual = session
        .caller_account()
        .await
        .with_context(|| format!("cannot check the account of environment `{}`", session.env.name))?;
    if &actual != expected {
        bail!(Refused(format!(
            "environment `{}` is account {expected}, but the credentials are for account {actual}",
            session.env.name
        )));
    }
    Ok(Some(actual))
}

async fn fetch_live(session: &Session, desired: &[Resource], kinds: &[&dyn Kind]) -> Result<Vec<Resource>> {
    let reads = kinds.iter().map(|kind| {
        let declared: Vec<&Resource> = desired.iter().filter(|r| r.kind == kind.name()).collect();
        async move { kind.fetch(session, &declared).await }
    });
    let live = try_join_all(reads).await?;
    Ok(live.into_iter().flatten().collect())
}

async fn execute(planned: &Planned) -> Outcome {
    let kinds = kinds::registry();
    let total = planned.plan.summary.total() as u64;
    let progress = output::progress_bar(total, "Applying");
    let mut outcome = Outcome::default();
    for (env_plan, session) in planned.plan.environments.iter().zip(&planned.sessions) {
        let env_outcome = apply::apply_environment(session, env_plan, &kinds, &progress).await;
        outcome.applied += env_outcome.applied;
        outcome.failures.extend(env_outcome.failures);
    }
    progress.finish_and_clear();
    outcome
}

/// Deletions or replacements of protected resources: refused by plan and apply alike.
fn protected_refusals(planned: &Planned) -> Vec<String> {
    let pairs = planned.plan.environments.iter().zip(&planned.sessions);
    pairs
        .flat_map(|(env_plan, session)| engine::protected_changes(env_plan, &session.env))
        .map(|refusal| refusal.to_string())
        .collect()
}

/// The deletion guard (`max_deletes`, `--allow-deletes`): it binds `apply` only.
fn delete_guard_refusals(planned: &Planned, allow_deletes: Option<usize>) -> Vec<String> {
    let pairs = planned.plan.environments.iter().zip(&planned.sessions);
    pairs
        .filter_map(|(env_plan, session)| engine::too_many_deletes(env_plan, &session.env, allow_deletes))
        .map(|refusal| refusal.to_string())
        .collect()
}

/// `plan` shows the deletion guard as a warning, so nobody is surprised at apply time.
fn warn_about_deletes(planned: &Planned) {
    for refusal in delete_guard_refusals(planned, None) {
        output::stderr(&format!("warning: apply will refuse: {refusal}\n"));
    }
}

fn render_plan(plan: &Plan, format: Format) -> String {
    match format {
        Format::Text => render::text::render(plan, output::stdout_style()),
        Format::Markdown => render::markdown::render(plan),
        Format::Json => render::json::render(plan),
    }
}

fn write_plan_file(path: &Path, plan: &Plan) -> Result<()> {
    std::fs::write(path, render::json::render(plan))
        .with_context(|| format!("cannot write the plan to `{}`", path.display()))
}

fn read_plan_file(path: &Path) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan file `{}`", path.display()))?;
    let plan: Plan =
        serde_json::from_str(&text).with_context(|| format!("`{}` is not a plumb plan", path.display()))?;
    if plan.format_version != FORMAT_VERSION {
        bail!(
            "`{}` has plan format {}, this plumb reads format {FORMAT_VERSION}: plan again",
            path.display(),
            plan.format_version
        );
    }
    Ok(plan)
}

/// A saved plan may be applied only if planning now gives exactly the same changes, computed
/// against the same live versions.
fn check_not_stale(saved: &Plan, fresh: &Plan) -> Result<()> {
    if saved.digest == fresh.digest {
        return Ok(());
    }
    let describe = |plan: &Plan| -> BTreeSet<String> {
        plan.environments
            .iter()
            .flat_map(|e| {
                e.changes.iter().map(move |c| {
                    let against = c
                        .computed_against
                        .as_deref()
                        .map(|v| format!(" (against {v})"))
                        .unwrap_or_default();
                    format!(
                        "{}: {} {} `{}`{against}",
                        e.environment,
                        c.action.verb(),
                        c.kind,
                        c.name
                    )
                })
            })
            .collect()
    };
    let (old, new) = (describe(saved), describe(fresh));
    let mut lines = Vec::new();
    lines.extend(
        old.difference(&new)
            .map(|c| format!("  planned, now different or gone: {c}")),
    );
    lines.extend(
        new.difference(&old)
            .map(|c| format!("  needed now, not in the plan: {c}")),
    );
    if lines.is_empty() {
        lines.push("  the same changes, but with different field values".into());
    }
    bail!(Refused(format!(
        "the plan is stale: live state or desired/ changed since it was made; nothing was applied. Plan again.\n{}",
        lines.join("\n")
    )))
}
