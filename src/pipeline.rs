//! The pipeline every AWS-facing command shares: load → fetch → plan, per environment in
//! parallel, and the execution of a plan. Commands decide what to show and what to refuse.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use futures::future::try_join_all;

use crate::apply::{self, Outcome};
use crate::aws::Session;
use crate::cli::Target;
use crate::engine::{self, EnvState};
use crate::error::Refused;
use crate::git;
use crate::kinds::{self, Kind};
use crate::load::{self, DesiredEnv, EnvVars, LoadOptions};
use crate::output;
use crate::plan::{EnvPlan, Plan};
use crate::resource::Resource;

/// A plan and the sessions it was computed with.
pub struct Planned {
    pub plan: Plan,
    pub sessions: Vec<Session>,
}

/// load → fetch → plan, for every selected environment (in parallel).
pub async fn plan_all(target: &Target) -> Result<Planned> {
    let kinds = kinds::registry();
    let base = target
        .base
        .as_deref()
        .map(|rev| git::open(&target.dir, rev))
        .transpose()?;
    let Some(environments) = environments_to_plan(target, base.as_ref())? else {
        let rev = target.base.as_deref().unwrap_or_default();
        output::stderr(&format!(
            "No environment's files changed since `{rev}`: nothing to plan.\n"
        ));
        return Ok(Planned {
            plan: Plan::new(Vec::new()),
            sessions: Vec::new(),
        });
    };
    let options = LoadOptions {
        dir: &target.dir,
        environments: &environments,
        env_vars: EnvVars::Read,
    };
    let desired = load::load(&options, &kinds)?;
    let mut base_desired = base.as_ref().and_then(|b| load_base(b, &environments, &kinds));
    let spinner = output::spinner("Reading live state");
    let work = desired.environments.into_iter().map(|env| {
        let base = base_desired
            .as_mut()
            .map(|b| b.remove(&env.env.name).unwrap_or_default());
        plan_environment(env, base, &kinds)
    });
    let planned = try_join_all(work).await;
    spinner.finish_and_clear();
    let (env_plans, sessions) = planned?.into_iter().unzip();
    Ok(Planned {
        plan: Plan::new(env_plans),
        sessions,
    })
}

/// The environments to plan: the ones asked for, narrowed by `--base` to the changed ones.
/// `None` when `--base` found nothing changed.
fn environments_to_plan(target: &Target, base: Option<&git::Base>) -> Result<Option<Vec<String>>> {
    let Some(changed) = base.and_then(|b| b.changed.as_ref()) else {
        return Ok(Some(target.envs.clone()));
    };
    let declared = load::environment_names(&target.dir)?;
    let selected: Vec<String> = changed
        .iter()
        .filter(|e| declared.contains(e))
        .filter(|e| target.envs.is_empty() || target.envs.contains(e))
        .cloned()
        .collect();
    Ok((!selected.is_empty()).then_some(selected))
}

/// The base's declared resources per environment; `None` (no classification) when the base
/// cannot be loaded, which is said as a warning.
fn load_base(
    base: &git::Base,
    environments: &[String],
    kinds: &[&dyn Kind],
) -> Option<BTreeMap<String, Vec<Resource>>> {
    let Some(dir) = base.desired_dir() else {
        return Some(BTreeMap::new());
    };
    let existing = load::environment_names(dir).unwrap_or_default();
    let wanted: Vec<String> = environments
        .iter()
        .filter(|e| existing.contains(e))
        .cloned()
        .collect();
    if wanted.is_empty() {
        return Some(BTreeMap::new());
    }
    let options = LoadOptions {
        dir,
        environments: &wanted,
        env_vars: EnvVars::Read,
    };
    match load::load(&options, kinds) {
        Ok(desired) => Some(
            desired
                .environments
                .into_iter()
                .map(|e| (e.env.name.clone(), e.resources))
                .collect(),
        ),
        Err(problems) => {
            let first = problems.0.first().map(|p| p.message.clone()).unwrap_or_default();
            output::stderr(&format!(
                "warning: the base's desired/ (commit {}) does not load ({first}); changes are not split into this branch's and drift\n",
                base.merge_base
            ));
            None
        }
    }
}

async fn plan_environment(
    desired: DesiredEnv,
    base: Option<Vec<Resource>>,
    kinds: &[&dyn Kind],
) -> Result<(EnvPlan, Session)> {
    let env = &desired.env;
    let session = Session::connect(env).await;
    let account_id = check_account(&session).await?;
    let live = fetch_live(&session, &desired.resources, kinds)
        .await
        .with_context(|| format!("cannot read the live state of environment `{}`", env.name))?;
    let base_plan = base.map(|base| {
        let state = EnvState {
            env,
            account_id: account_id.clone(),
            desired: base,
            live: live.clone(),
        };
        engine::plan_environment(state, kinds)
    });
    let state = EnvState {
        env,
        account_id,
        desired: desired.resources,
        live,
    };
    let mut plan = engine::plan_environment(state, kinds);
    if let Some(base_plan) = &base_plan {
        engine::classify(&mut plan, base_plan);
    }
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

pub async fn execute(planned: &Planned) -> Outcome {
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
