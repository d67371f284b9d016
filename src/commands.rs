//! One function per subcommand: turn options into calls of the library and output.
//!
//! Every command that talks to AWS goes through [`plan_all`]: load → fetch → plan. `apply`
//! then checks the guards and hands the plan to [`crate::apply`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::apply::Outcome;
use crate::aws::Session;
use crate::cli::{Cli, Command, Format, ListFormat, Target};
use crate::comment::{self, ApplyReport};
use crate::engine;
use crate::error::{Interrupted, Status};
use crate::github::{self, DriftIssue, GitHub};
use crate::interrupt;
use crate::kinds;
use crate::load::{self, Diagnostics, EnvVars, LoadOptions};
use crate::lock;
use crate::output;
use crate::pipeline::{self, Planned, plan_all};
use crate::plan::{Action, EnvPlan, Plan};
use crate::planfile::{check_not_stale, read_plan_file, write_plan_file};
use crate::refusal::Refusal;
use crate::render;
use crate::resource::mask;
use clap::CommandFactory;

pub async fn run(mut command: Command) -> Result<Status> {
    if !matches!(
        command,
        Command::Validate { .. }
            | Command::Comment { .. }
            | Command::Environments { .. }
            | Command::Schema { .. }
            | Command::Completions { .. }
            | Command::Manpage { .. }
    ) {
        crate::aws::check_settings().map_err(anyhow::Error::msg)?;
    }
    let dir = resolve_dir(&mut command)?;
    run_command(command).await.map_err(|error| match &dir {
        Some(dir) if error.is::<Diagnostics>() => error.context(InDir(dir.clone())),
        _ => error,
    })
}

/// Sets the desired-state folder of commands that read one; returns it.
fn resolve_dir(command: &mut Command) -> Result<Option<PathBuf>> {
    let target = match command {
        Command::Validate { target }
        | Command::Plan { target, .. }
        | Command::Apply { target, .. }
        | Command::Drift { target, .. }
        | Command::Import { target, .. }
        | Command::Environments { target, .. } => target,
        Command::Compare { dir, .. } | Command::Unlock { dir, .. } => {
            let found = load::find_desired(dir.as_deref())?;
            *dir = Some(found.clone());
            return Ok(Some(found));
        }
        Command::Comment { .. }
        | Command::Schema { .. }
        | Command::Completions { .. }
        | Command::Manpage { .. } => {
            return Ok(None);
        }
    };
    target.dir = load::find_desired(target.dir_arg.as_deref())?;
    Ok(Some(target.dir.clone()))
}

/// The folder whose problems a [`Diagnostics`] lists, for the summary line.
#[derive(Debug)]
struct InDir(PathBuf);

impl std::fmt::Display for InDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

async fn run_command(command: Command) -> Result<Status> {
    match command {
        Command::Validate { target } => validate(&target),
        Command::Plan {
            mut target,
            format,
            out,
            detailed_exitcode,
            without_secrets,
            no_cache,
        } => {
            target.without_secrets = without_secrets;
            target.use_cache = !no_cache;
            plan(&target, format, out.as_deref(), detailed_exitcode).await
        }
        Command::Apply {
            target,
            plan,
            auto_approve,
            expect_digest,
            allow_deletes,
            report,
            lock_timeout,
        } => {
            let options = ApplyOptions {
                plan_file: plan,
                auto_approve,
                expect_digest,
                allow_deletes,
                report,
                lock_timeout: Duration::from_secs(lock_timeout),
            };
            apply(&target, &options).await
        }
        Command::Environments { target, format } => environments(&target, format),
        Command::Compare {
            environments,
            dir,
            live,
            format,
        } => compare(&dir.unwrap_or_default(), &environments, live, format).await,
        Command::Schema { of } => {
            output::stdout(&crate::schema::render(of));
            Ok(Status::Clean)
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "plumb", &mut script);
            output::stdout(&String::from_utf8_lossy(&script));
            Ok(Status::Clean)
        }
        Command::Manpage { out_dir } => manpages(out_dir.as_deref()),
        Command::Unlock { dir, env } => unlock(&dir.unwrap_or_default(), &env).await,
        Command::Import {
            target,
            kinds,
            dry_run,
        } => crate::import::import(&target, &kinds, dry_run).await,
        Command::Drift {
            mut target,
            format,
            issues,
            no_cache,
        } => {
            target.use_cache = !no_cache;
            drift(&target, format, issues).await
        }
        Command::Comment {
            plans,
            pr,
            commit,
            apply_result,
            print_digest,
            env,
        } => {
            let github = GitHub::from_env()?;
            let pr = github::pr_number(pr)?;
            match (apply_result, print_digest) {
                (Some(report), _) => comment_apply_result(&github, pr, &report).await,
                (None, true) => print_pr_digest(&github, pr, env.as_deref()).await,
                (None, false) => comment_plan(&github, pr, &plans, commit).await,
            }
        }
    }
}

/// Prints an error and its cause chain; validation problems one per line.
pub fn report_error(error: &anyhow::Error) {
    if let Some(diagnostics) = error.downcast_ref::<Diagnostics>() {
        for diagnostic in &diagnostics.0 {
            output::stderr(&format!("error: {diagnostic}\n"));
        }
        let count = diagnostics.0.len();
        let dir = error.downcast_ref::<InDir>().map_or_else(
            || "desired/".to_string(),
            |d| format!("{}/", d.0.display().to_string().trim_end_matches('/')),
        );
        output::stderr(&format!("error: {dir} has {count} problem(s)\n"));
        return;
    }
    let kind = if error.is::<Refusal>() {
        "refused"
    } else if error.is::<Interrupted>() {
        "interrupted"
    } else {
        "error"
    };
    output::stderr(&format!("{kind}: {error:#}\n"));
}

fn validate(target: &Target) -> Result<Status> {
    let kinds = kinds::registry();
    // With --base, the environments a branch changed, as plan sees them (and an error outside
    // a git repository or for an unknown revision, never a silent "valid").
    let base = target
        .base
        .as_deref()
        .map(|rev| crate::git::open(&target.dir, rev))
        .transpose()?;
    let Some(environments) = pipeline::environments_to_plan(target, base.as_ref())? else {
        output::stdout("No environment's files changed since the base: nothing to validate.\n");
        return Ok(Status::Clean);
    };
    let options = LoadOptions {
        dir: &target.dir,
        environments: &environments,
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

/// plumb's man page on stdout; with `out_dir`, it and one page per command (`plumb-plan.1`),
/// which the main page's SEE ALSO names.
fn manpages(out_dir: Option<&Path>) -> Result<Status> {
    let command = Cli::command();
    let Some(dir) = out_dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command).render(&mut page)?;
        output::stdout(&String::from_utf8_lossy(&page));
        return Ok(Status::Clean);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut pages = vec![("plumb".to_string(), command.clone())];
    for sub in command.get_subcommands() {
        let name = format!("plumb-{}", sub.get_name());
        let page = sub.clone().display_name(name.clone()).bin_name(name.clone());
        pages.push((name, page));
    }
    for (name, page_command) in pages {
        let mut page = Vec::new();
        clap_mangen::Man::new(page_command).render(&mut page)?;
        let path = dir.join(format!("{name}.1"));
        output::write_file(&path, &String::from_utf8_lossy(&page))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Status::Clean)
}

/// `plumb compare`: the environments' desired (or live) resources lined up.
async fn compare(dir: &Path, names: &[String], live: bool, format: Format) -> Result<Status> {
    if names.iter().collect::<std::collections::BTreeSet<_>>().len() < names.len() {
        bail!("an environment is named twice: compare two or more different ones");
    }
    let kinds = kinds::registry();
    let options = LoadOptions {
        dir,
        environments: names,
        env_vars: EnvVars::Skip,
    };
    let desired = load::load(&options, &kinds)?;
    let rules = desired.config.naming.clone();
    let mut sides = Vec::new();
    for env in desired.environments {
        let resources = match live {
            true => pipeline::live_resources(&env, &kinds).await?,
            false => env.resources,
        };
        sides.push((env.env, resources));
    }
    // In the order asked for (the loader sorts by name).
    sides.sort_by_key(|(env, _)| names.iter().position(|n| *n == env.name));
    let sides: Vec<crate::compare::Side> = sides
        .iter()
        .map(|(env, resources)| crate::compare::Side { env, resources })
        .collect();
    let table_of = |kind: &str| kinds.iter().find(|k| k.name() == kind).map_or("", |k| k.table());
    let source = if live { "live" } else { "desired" };
    let comparison = crate::compare::compare(&sides, &rules, source, table_of);
    let text = match format {
        Format::Text => render::compare::text(&comparison),
        Format::Markdown => render::compare::markdown(&comparison),
        Format::Json => serde_json::to_string_pretty(&comparison)? + "\n",
    };
    output::stdout(&text);
    Ok(if comparison.differs() {
        Status::Changes
    } else {
        Status::Clean
    })
}

/// One environment as `plumb environments --format json` lists it.
#[derive(serde::Serialize)]
struct Listed<'a> {
    name: &'a str,
    account_id: Option<&'a str>,
    region: &'a str,
}

fn environments(target: &Target, format: ListFormat) -> Result<Status> {
    let base = target
        .base
        .as_deref()
        .map(|rev| crate::git::open(&target.dir, rev))
        .transpose()?;
    let names = pipeline::environments_to_plan(target, base.as_ref())?;
    let selected = match names {
        Some(names) => load::environments(&target.dir, &names)?,
        None => Vec::new(),
    };
    let listed: Vec<Listed> = selected
        .iter()
        .map(|env| Listed {
            name: &env.name,
            account_id: env.account_id.as_deref(),
            region: &env.region,
        })
        .collect();
    let text = match format {
        ListFormat::Json => serde_json::to_string(&listed)? + "\n",
        ListFormat::Text => listed
            .iter()
            .map(|e| format!("{}\t{}\t{}\n", e.name, e.account_id.unwrap_or("-"), e.region))
            .collect(),
    };
    output::stdout(&text);
    Ok(Status::Clean)
}

async fn plan(target: &Target, format: Format, out: Option<&Path>, detailed: bool) -> Result<Status> {
    let planned = plan_all(target).await?;
    show(&render_plan(&planned.plan, format, target.verbose), format)?;
    if let Some(path) = out {
        write_plan_file(path, &planned.plan)?;
    }
    let refusals = protected_refusals(&planned, &target.dir);
    warn_about_deletes(&planned);
    // What apply's own checks would refuse, said now, so a reviewer does not approve a plan
    // that cannot be applied.
    // A check that cannot run (a role without the permission) is a warning here, never what
    // hides the plan's own refusals; apply runs it again and refuses if it must.
    match pipeline::preflight(&planned).await {
        Ok(found) => {
            for refusal in found {
                output::stderr(&format!("warning: apply will refuse: {refusal}\n"));
            }
        }
        Err(error) => output::stderr(&format!("warning: apply's own checks could not run: {error:#}\n")),
    }
    if let Some(refusal) = Refusal::all(refusals) {
        bail!(refusal);
    }
    Ok(if detailed && planned.plan.has_changes() {
        Status::Changes
    } else {
        Status::Clean
    })
}

async fn drift(target: &Target, format: Format, issues: bool) -> Result<Status> {
    let planned = plan_all(target).await?;
    let text = match format {
        Format::Text => render::text::render_drift(&planned.plan, output::stdout_style(target.verbose)),
        other => render_plan(&planned.plan, other, target.verbose),
    };
    show(&text, format)?;
    if issues {
        sync_drift_issues(&GitHub::from_env()?, &planned.plan).await?;
    }
    Ok(if planned.plan.has_changes() {
        Status::Changes
    } else {
        Status::Clean
    })
}

/// One issue per drifted environment: opened or updated while drift lasts, closed after.
async fn sync_drift_issues(github: &GitHub, plan: &Plan) -> Result<()> {
    // One issue per environment, its replica regions' sections in it.
    for env in plan.environments.iter().filter(|e| !e.replica) {
        let title = comment::drift_issue_title(&env.environment);
        let drifted: Vec<String> = plan
            .environments
            .iter()
            .filter(|e| e.environment == env.environment && !e.changes.is_empty())
            .map(comment::drift_issue_body)
            .collect();
        let body = (!drifted.is_empty()).then(|| drifted.join("\n"));
        let outcome = match github.sync_drift_issue(&title, body.as_deref()).await? {
            DriftIssue::Opened(n) => format!("opened issue #{n}"),
            DriftIssue::Updated(n) => format!("updated issue #{n}"),
            DriftIssue::Closed(n) => format!("closed issue #{n}: the drift is gone"),
            DriftIssue::None => "no drift, no issue".into(),
        };
        output::stdout(&format!("{}: {outcome}\n", env.environment));
    }
    Ok(())
}

async fn comment_plan(github: &GitHub, pr: u64, files: &[PathBuf], commit: Option<String>) -> Result<Status> {
    let mut environments = Vec::new();
    for file in files {
        environments.extend(read_plan_file(file)?.environments);
    }
    let plan = Plan::new(environments);
    let commit = commit.or_else(|| std::env::var("GITHUB_SHA").ok());
    write_step_summary(&render::markdown::render(&plan))?;
    let body = comment::plan_comment(&plan, commit.as_deref(), comment::GITHUB_LIMIT);
    let id = github.upsert_comment(pr, comment::PLAN_MARKER, &body).await?;
    github
        .replace_labels(pr, comment::LABEL_PREFIX, &comment::labels(&plan))
        .await?;
    output::stdout(&format!("Plan posted on pull request #{pr} (comment {id}).\n"));
    Ok(Status::Clean)
}

async fn comment_apply_result(github: &GitHub, pr: u64, path: &Path) -> Result<Status> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let report: ApplyReport = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not an apply report", path.display()))?;
    github.post_comment(pr, &comment::apply_comment(&report)).await?;
    output::stdout(&format!("Apply result posted on pull request #{pr}.\n"));
    Ok(Status::Clean)
}

/// The digest the pull request's plan comment shows (of one environment with `env`).
async fn print_pr_digest(github: &GitHub, pr: u64, env: Option<&str>) -> Result<Status> {
    let Some((_, body)) = github.find_comment(pr, comment::PLAN_MARKER).await? else {
        bail!("pull request #{pr} has no plumb plan comment");
    };
    let Some(digest) = crate::plan::find_digest_marker(&body, env) else {
        let what = env.map(|e| format!(" for `{e}`")).unwrap_or_default();
        bail!("the plan comment of #{pr} has no digest{what}");
    };
    output::stdout(&format!("{digest}\n"));
    Ok(Status::Clean)
}

/// GitHub Actions shows `$GITHUB_STEP_SUMMARY` on the run's page: the full plan goes there.
fn write_step_summary(markdown: &str) -> Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    let path = Path::new(&path);
    output::append_file(path, markdown)
        .with_context(|| format!("cannot write the job summary `{}`", path.display()))
}

pub struct ApplyOptions {
    pub plan_file: Option<PathBuf>,
    pub auto_approve: bool,
    pub expect_digest: Option<String>,
    pub allow_deletes: Option<usize>,
    pub report: Option<PathBuf>,
    pub lock_timeout: Duration,
}

/// Apply under each environment's lock; the locks are released whatever happens (a second
/// signal aside, which exits at once).
async fn apply(target: &Target, options: &ApplyOptions) -> Result<Status> {
    interrupt::install();
    let saved = options.plan_file.as_deref().map(read_plan_file).transpose()?;
    if let (Some(saved), Some(file)) = (&saved, &options.plan_file) {
        check_named_environments(saved, file, &target.envs)?;
        // A plan of no environment (`plan --base` where no environment changed) is applied
        // as what it is, nothing: read as "no environment named", it would be all of them.
        if saved.environments.is_empty() {
            check_digest(options.expect_digest.as_deref(), &saved.digest)?;
            output::stdout("No changes: the plan covers no environment.\n");
            return Ok(Status::Clean);
        }
    }
    let target = match &saved {
        // A saved plan names its environments; re-plan exactly those.
        Some(saved) => Target {
            dir_arg: None,
            dir: target.dir.clone(),
            envs: saved.environment_names().map(str::to_string).collect(),
            base: None,
            without_secrets: false,
            // Apply reads live state fresh: a cache never decides what is written.
            use_cache: false,
            verbose: target.verbose,
        },
        None => Target {
            dir_arg: None,
            dir: target.dir.clone(),
            envs: target.envs.clone(),
            base: target.base.clone(),
            without_secrets: false,
            use_cache: false,
            verbose: target.verbose,
        },
    };
    let plan_label = saved
        .as_ref()
        .map_or_else(|| "computed under the lock".to_string(), |s| s.digest.clone());
    let held = lock::Held::default();
    let result = held
        .hold_while(async {
            pipeline::lock_environments(&target, &plan_label, options.lock_timeout, &held).await?;
            apply_locked(&target, options, saved.as_ref()).await
        })
        .await;
    pipeline::release_all(held.into_locks()).await;
    result
}

/// `--env` with a plan file must name exactly the plan's environments (in any order): a
/// user who names one environment of a two-environment plan expects that one alone, and
/// applying the other would be a surprise in production.
fn check_named_environments(saved: &Plan, file: &Path, named: &[String]) -> Result<()> {
    if named.is_empty() {
        return Ok(());
    }
    let covers: std::collections::BTreeSet<&str> = saved.environment_names().collect();
    let wanted: std::collections::BTreeSet<&str> = named.iter().map(String::as_str).collect();
    if covers == wanted {
        return Ok(());
    }
    bail!(Refusal::PlanFileEnvironments {
        file: file.display().to_string(),
        covers: covers.iter().map(|e| e.to_string()).collect(),
        named: wanted.iter().map(|e| e.to_string()).collect(),
    })
}

/// `--expect-digest`: refused unless the plan about to be applied is the one reviewed.
fn check_digest(expected: Option<&str>, actual: &str) -> Result<()> {
    match expected {
        Some(expected) if expected != actual => bail!(Refusal::DigestMismatch {
            actual: actual.to_string(),
            expected: expected.to_string(),
        }),
        _ => Ok(()),
    }
}

async fn apply_locked(target: &Target, options: &ApplyOptions, saved: Option<&Plan>) -> Result<Status> {
    let planned = tokio::select! {
        planned = plan_all(target) => planned?,
        _ = interrupt::wait() => bail!(Interrupted("interrupted while planning: nothing was changed".into())),
    };
    if let Some(saved) = saved {
        check_not_stale(saved, &planned.plan)?;
    }
    check_digest(options.expect_digest.as_deref(), &planned.plan.digest)?;
    let mut refusals = protected_refusals(&planned, &target.dir);
    refusals.extend(delete_guard_refusals(&planned, options.allow_deletes));
    if refusals.is_empty() && planned.plan.has_changes() {
        refusals.extend(pipeline::preflight(&planned).await?);
    }
    if let Some(refusal) = Refusal::all(refusals) {
        output::stdout(&render_plan(&planned.plan, Format::Text, target.verbose));
        bail!(refusal);
    }
    if !planned.plan.has_changes() {
        output::stdout("No changes. Live AWS matches desired/.\n");
        return Ok(Status::Clean);
    }
    if saved.is_none() {
        output::stdout(&render_plan(&planned.plan, Format::Text, target.verbose));
        confirm(options.auto_approve).await?;
    }
    if interrupt::requested() {
        bail!(Interrupted(
            "interrupted before applying: nothing was changed".into()
        ));
    }
    let outcome = pipeline::execute(&planned).await;
    if let Some(path) = &options.report
        && let Err(error) = write_report(path, &planned.plan, &outcome)
    {
        output::stderr(&format!("warning: {error:#}\n"));
    }
    report_outcome(&outcome)?;
    Ok(Status::Clean)
}

async fn unlock(dir: &Path, name: &str) -> Result<Status> {
    let env = load::environment(dir, name)?;
    let session = Session::connect(&env).await;
    pipeline::check_account(&session).await?;
    match lock::unlock(&session).await? {
        Some(holder) => output::stdout(&format!(
            "Unlocked `{name}`: removed the lock held by {holder}.\n"
        )),
        None => output::stdout(&format!("`{name}` is not locked.\n")),
    }
    Ok(Status::Clean)
}

fn write_report(path: &Path, plan: &Plan, outcome: &Outcome) -> Result<()> {
    let report = ApplyReport {
        digest: plan.digest.clone(),
        environments: plan.environments.iter().map(|e| e.label()).collect(),
        applied: outcome.applied,
        // Masked here, before serialising: JSON escapes a secret's quotes and backslashes
        // again, into a form the mask of the finished text would not recognise.
        failures: outcome.failures.iter().map(|f| mask(&f.to_string())).collect(),
        not_started: outcome.not_started.clone(),
        in_flight: outcome.abandoned.clone(),
    };
    let text = serde_json::to_string_pretty(&report).expect("a report always serialises");
    output::write_file(path, &text)
        .with_context(|| format!("cannot write the apply report `{}`", path.display()))
}

async fn confirm(auto_approve: bool) -> Result<()> {
    if auto_approve {
        return Ok(());
    }
    if !output::stdin_is_terminal() {
        bail!("standard input is not a terminal: pass --auto-approve to apply without asking");
    }
    let question =
        tokio::task::spawn_blocking(|| output::confirm("\nApply these changes? Only 'yes' is accepted: "));
    let yes = tokio::select! {
        answer = question => answer.unwrap_or(false),
        _ = interrupt::wait() => bail!(Interrupted("interrupted at the prompt: nothing was changed".into())),
    };
    if !yes {
        bail!("apply cancelled: nothing was changed");
    }
    Ok(())
}

/// At most this many changes are listed under each heading of an interrupted apply.
const LISTED: usize = 20;

fn listed(heading: &str, items: &[String]) -> String {
    let mut lines: Vec<String> = items
        .iter()
        .take(LISTED)
        .map(|i| format!("  {heading}: {i}"))
        .collect();
    if items.len() > LISTED {
        lines.push(format!("  ... and {} more {heading}", items.len() - LISTED));
    }
    lines.join("\n")
}

fn report_outcome(outcome: &Outcome) -> Result<()> {
    if outcome.interrupted() {
        let failures: Vec<String> = outcome.failures.iter().map(ToString::to_string).collect();
        let sections: Vec<String> = [
            listed("failed", &failures),
            listed("in flight when plumb stopped (state unknown)", &outcome.abandoned),
            listed("not started", &outcome.not_started),
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
        bail!(Interrupted(format!(
            "apply interrupted: {} change(s) made, {} failed, {} not started{}; run `plumb apply` again to finish:\n{}",
            outcome.applied,
            outcome.failures.len(),
            outcome.not_started.len(),
            if outcome.abandoned.is_empty() {
                String::new()
            } else {
                format!(", {} in flight", outcome.abandoned.len())
            },
            sections.join("\n")
        )));
    }
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

/// Deletions or replacements of protected resources: refused by plan and apply alike.
fn protected_refusals(planned: &Planned, dir: &Path) -> Vec<Refusal> {
    let mut refusals: Vec<Refusal> = planned
        .environments()
        .flat_map(|((env_plan, session), sides)| engine::protected_changes(env_plan, sides, &session.env))
        .collect();
    let mut changes = planned.plan.environments.iter().flat_map(|e| &e.changes);
    if !changes.any(|c| matches!(c.action, Action::Delete | Action::Replace)) {
        return refusals;
    }
    // The other environments' protections, read only when something is to be deleted.
    let kinds = kinds::registry();
    let planned_names: Vec<&str> = planned
        .plan
        .environments
        .iter()
        .map(|e| e.environment.as_str())
        .collect();
    let (mut protected, unloaded) = load::protected_declarations(dir, &planned_names, &kinds);
    for name in unloaded {
        output::stderr(&format!(
            "warning: environment `{name}` does not load (`plumb validate --env {name}` says why), so \
             what it protects was not checked against this plan's deletions\n"
        ));
    }
    protected.extend(planned.protected.iter().cloned());
    for ((env_plan, _), sides) in planned.environments() {
        refusals.extend(engine::protected_elsewhere(env_plan, sides, &protected, &kinds));
    }
    refusals
}

/// The deletion guard (`max_deletes`, `--allow-deletes`): it binds `apply` only.
/// The deletion guard per environment, its replica regions' sections counted with it: a
/// replica must not multiply `max_deletes`.
fn delete_guard_refusals(planned: &Planned, allow_deletes: Option<usize>) -> Vec<Refusal> {
    let pairs: Vec<_> = planned.plan.environments.iter().zip(&planned.sessions).collect();
    pairs
        .iter()
        .filter(|(env_plan, _)| !env_plan.replica)
        .filter_map(|(home, session)| {
            let sections: Vec<&EnvPlan> = pairs
                .iter()
                .filter(|(e, _)| e.environment == home.environment)
                .map(|(e, _)| *e)
                .collect();
            engine::too_many_deletes(&sections, &session.env, allow_deletes)
        })
        .collect()
}

/// `plan` shows the deletion guard as a warning, so nobody is surprised at apply time.
fn warn_about_deletes(planned: &Planned) {
    for refusal in delete_guard_refusals(planned, None) {
        output::stderr(&format!("warning: apply will refuse: {refusal}\n"));
    }
}

/// Prints a rendered plan: JSON is plan data and is written as it is (see
/// [`output::write_plan_data`]); text and Markdown go through the secret mask.
fn show(text: &str, format: Format) -> Result<()> {
    match format {
        Format::Json => output::write_plan_data(None, text).context("cannot write to standard output"),
        _ => {
            output::stdout(text);
            Ok(())
        }
    }
}

fn render_plan(plan: &Plan, format: Format, verbose: bool) -> String {
    match format {
        Format::Text => render::text::render(plan, output::stdout_style(verbose)),
        Format::Markdown => render::markdown::render(plan),
        Format::Json => render::json::render(plan),
    }
}
