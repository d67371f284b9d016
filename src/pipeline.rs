//! The pipeline every AWS-facing command shares: load → fetch → plan, per environment in
//! parallel, and the execution of a plan. Commands decide what to show and what to refuse.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::future::try_join_all;

use crate::apply::{self, Outcome};
use crate::aws::{Session, codes};
use crate::cli::Target;
use crate::config::Environment;
use crate::engine::{self, EnvState, EnvWork, ProtectedDeclaration, Sides};
use crate::git;
use crate::kinds::{self, DynKind};
use crate::load::{self, DesiredEnv, EnvVars, LoadOptions};
use crate::lock::{self, Lock};
use crate::output;
use crate::plan::{EnvPlan, Plan};
use crate::refusal::Refusal;
use crate::resource::{Resource, Secret, Value};
use crate::scope;

/// A plan, the sessions it was computed with, and what apply needs beside each change
/// (per environment, position for position; see [`engine::Sides`]).
pub struct Planned {
    pub plan: Plan,
    pub sessions: Vec<Session>,
    pub sides: Vec<Vec<Sides>>,
    /// The declarations with `protect = true` of the environments planned, all of them (not
    /// only those with a change): a deletion in one must not take an object another protects
    /// (see `engine::protected_elsewhere`).
    pub protected: Vec<ProtectedDeclaration>,
}

impl Planned {
    /// Each environment's plan with its session and the sides of its changes.
    pub fn environments(&self) -> impl Iterator<Item = ((&EnvPlan, &Session), &Vec<Sides>)> {
        self.plan.environments.iter().zip(&self.sessions).zip(&self.sides)
    }
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
            sides: Vec::new(),
            protected: Vec::new(),
        });
    };
    let env_vars = if target.without_secrets {
        EnvVars::Skip
    } else {
        EnvVars::Read
    };
    let options = LoadOptions {
        dir: &target.dir,
        environments: &environments,
        env_vars,
    };
    let desired = load::load(&options, &kinds)?;
    let protected = desired
        .environments
        .iter()
        .flat_map(|e| ProtectedDeclaration::declared(&e.env, &e.resources))
        .collect();
    check_shared_accounts(&desired).await?;
    let base_desired = base
        .as_ref()
        .and_then(|b| load_base(b, &environments, env_vars, &kinds));
    let classify = base_desired.as_ref().is_some_and(|b| b.classify);
    let spinner = output::spinner("Reading live state");
    let environments = with_replicas(desired.environments, &kinds);
    let work = environments.into_iter().map(|env| {
        let base = base_desired.as_ref().map(|b| {
            let home = b.resources.get(&env.env.name).cloned().unwrap_or_default();
            match env.env.replica_of {
                Some(_) => replicated(&home, &env.env, &kinds),
                None => home,
            }
        });
        plan_environment(env, base, classify, target.use_cache, &kinds)
    });
    let planned = try_join_all(work).await;
    spinner.finish_and_clear();
    let mut env_plans = Vec::new();
    let (mut sessions, mut sides) = (Vec::new(), Vec::new());
    for (work, session) in planned? {
        env_plans.push(work.plan);
        sides.push(work.sides);
        sessions.push(session);
    }
    Ok(Planned {
        plan: Plan::new(env_plans),
        sessions,
        sides,
        protected,
    })
}

/// The environments to plan: the ones asked for, narrowed by `--base` to the changed ones.
/// `None` when `--base` found nothing changed.
pub fn environments_to_plan(target: &Target, base: Option<&git::Base>) -> Result<Option<Vec<String>>> {
    let Some(changed) = base.and_then(|b| b.changed.as_ref()) else {
        return Ok(Some(target.envs.clone()));
    };
    let declared = load::environment_names(&target.dir)?;
    // A change under desired/shared/ is a change to every environment that declares it.
    let mut changed = changed.clone();
    if changed.remove(crate::config::SHARED_FOLDER) {
        changed.extend(load::shared_environments(&target.dir)?);
    }
    let selected: Vec<String> = changed
        .iter()
        .filter(|e| declared.contains(e))
        .filter(|e| target.envs.is_empty() || target.envs.contains(e))
        .cloned()
        .collect();
    Ok((!selected.is_empty()).then_some(selected))
}

/// What the base revision declares, per environment.
struct BaseDesired {
    resources: BTreeMap<String, Vec<Resource>>,
    /// Whether the base loaded with the environment's variables, so that its plan can tell
    /// this branch's changes from drift. Without them (a secret not set in this job) it still
    /// says which values are secret.
    classify: bool,
}

/// The base's declared resources per environment; `None` when the base does not load at
/// all, which is said as a warning.
fn load_base(
    base: &git::Base,
    environments: &[String],
    env_vars: EnvVars,
    kinds: &[&dyn DynKind],
) -> Option<BaseDesired> {
    let Some(dir) = base.desired_dir() else {
        return Some(BaseDesired {
            resources: BTreeMap::new(),
            classify: true,
        });
    };
    let existing = load::environment_names(dir).unwrap_or_default();
    let wanted: Vec<String> = environments
        .iter()
        .filter(|e| existing.contains(e))
        .cloned()
        .collect();
    let by_env = |desired: load::Desired| -> BTreeMap<String, Vec<Resource>> {
        desired
            .environments
            .into_iter()
            .map(|e| (e.env.name.clone(), e.resources))
            .collect()
    };
    let load_with = |env_vars| {
        let options = LoadOptions {
            dir,
            environments: &wanted,
            env_vars,
        };
        load::load(&options, kinds)
    };
    if wanted.is_empty() {
        return Some(BaseDesired {
            resources: BTreeMap::new(),
            classify: true,
        });
    }
    let problems = match load_with(env_vars) {
        Ok(desired) => {
            return Some(BaseDesired {
                resources: by_env(desired),
                classify: true,
            });
        }
        Err(problems) => problems,
    };
    let first = problems.0.first().map(|p| p.message.clone()).unwrap_or_default();
    output::stderr(&format!(
        "warning: the base's desired/ (commit {}) does not load ({first}); changes are not split into this branch's and drift\n",
        base.merge_base
    ));
    load_with(EnvVars::Skip).ok().map(|desired| BaseDesired {
        resources: by_env(desired),
        classify: false,
    })
}

async fn plan_environment(
    mut desired: DesiredEnv,
    mut base: Option<Vec<Resource>>,
    classify: bool,
    use_cache: bool,
    kinds: &[&dyn DynKind],
) -> Result<(EnvWork, Session)> {
    let session = Session::connect(&desired.env).await;
    let account_id = settle_account(&session, kinds).await?;
    if let (true, Some(account)) = (use_cache, &account_id) {
        session.enable_cache(account);
    }
    resolve_references(&session, account_id.as_deref(), &mut desired.resources, kinds).await?;
    if let Some(base) = &mut base {
        resolve_references(&session, account_id.as_deref(), base, kinds).await?;
    }
    let env = &desired.env;
    let live = fetch_live(&session, &desired.resources, kinds).await;
    // Checked again, without a call: a parameter of another account listed since stopped
    // the reading, and the environment is refused rather than planned from part of it.
    check_account(&session).await?;
    let mut live = live.with_context(|| cannot_read(&env.name))?;
    if let Some(base) = &base {
        hide_values_secret_in(base, &mut live);
    }
    // Only now is it known which live values are secret (the base may read one from the
    // environment): none of them may stay in a cache file.
    let secret: std::collections::BTreeSet<&str> = live
        .iter()
        .filter(|r| r.fields.iter().any(|(_, f)| f.value.is_sensitive()))
        .map(|r| r.name.as_str())
        .collect();
    session.save_caches(&secret);
    let base_plan = base.filter(|_| classify).map(|base| {
        let state = EnvState {
            env,
            account_id: account_id.clone(),
            desired: base,
            live: live.clone(),
        };
        engine::plan_environment(state, kinds).plan
    });
    let unread = desired
        .resources
        .iter()
        .filter(|r| r.fields.iter().any(|(_, f)| matches!(f.value, Value::Unread)))
        .count();
    let naming = naming_notes(&desired.naming, env, &live, kinds);
    let state = EnvState {
        env,
        account_id,
        desired: desired.resources,
        live,
    };
    let mut work = engine::plan_environment(state, kinds);
    if let Some(base_plan) = &base_plan {
        engine::classify(&mut work.plan, base_plan);
    }
    work.plan.notes.extend(naming);
    if unread > 0 {
        work.plan.notes.push(format!(
            "{unread} value(s) from the environment were not read (plan --without-secrets) and not compared: \
             apply and drift, which hold the secrets, compare them"
        ));
    }
    Ok((work, session))
}

/// Live objects in scope whose names break plumb.toml's naming rules (drift lists them).
fn naming_notes(
    rules: &[crate::config::NamingRule],
    env: &Environment,
    live: &[Resource],
    kinds: &[&dyn DynKind],
) -> Vec<String> {
    let mut notes = Vec::new();
    for kind in kinds {
        for rule in crate::naming::rules_for(rules, kind.table(), env)
            .into_iter()
            .flatten()
        {
            let broken = live
                .iter()
                .filter(|r| r.kind == kind.name() && !rule.allows(&r.name));
            for Resource { name, .. } in broken {
                notes.push(format!(
                    "naming: live {} `{name}` breaks the rule `{}` (`{}` in this environment)",
                    kind.name(),
                    rule.rule.pattern,
                    rule.expected
                ));
            }
        }
    }
    notes
}

/// Each environment, followed by a section per replica region (`replica_regions`): the
/// copies of its replicated parameters there, planned like an environment of their own.
fn with_replicas(environments: Vec<DesiredEnv>, kinds: &[&dyn DynKind]) -> Vec<DesiredEnv> {
    let mut out = Vec::new();
    for env in environments {
        let replicas: Vec<DesiredEnv> = env
            .env
            .replica_regions
            .iter()
            .map(|region| {
                let replica = env.env.replica(region);
                DesiredEnv {
                    resources: replicated(&env.resources, &replica, kinds),
                    env: replica,
                    naming: env.naming.clone(),
                }
            })
            .collect();
        out.push(env);
        out.extend(replicas);
    }
    out
}

/// The declared resources a replica region keeps: those of kinds with replicas, inside the
/// replica's scope, as the kind keeps them there.
fn replicated(resources: &[Resource], replica: &Environment, kinds: &[&dyn DynKind]) -> Vec<Resource> {
    let key_id = replica.replica_key_id.as_deref();
    resources
        .iter()
        .filter_map(|resource| {
            let kind = kinds.iter().find(|k| k.name() == resource.kind)?;
            kind.in_scope(replica, &resource.name)
                .then(|| kind.replica(resource, key_id))
                .flatten()
        })
        .collect()
}

/// Everything live in an environment's scope, read as plan reads it (`plumb compare --live`);
/// `desired` says which optional parts are worth reading (tags where declared, say).
pub async fn live_resources(desired: &DesiredEnv, kinds: &[&dyn DynKind]) -> Result<Vec<Resource>> {
    let session = Session::connect(&desired.env).await;
    settle_account(&session, kinds).await?;
    let live = fetch_live(&session, &desired.resources, kinds).await;
    check_account(&session).await?;
    let mut live = live.with_context(|| cannot_read(&desired.env.name))?;
    // What desired/ reads from the environment stays secret, as in a plan.
    hide_values_secret_in(&desired.resources, &mut live);
    Ok(live)
}

/// Turns references by name (`"topic:alerts"`) into ARNs in the environment's account and
/// region. The account is `account_id`, or STS's answer, asked only when some declaration
/// has a reference.
async fn resolve_references(
    session: &Session,
    account_id: Option<&str>,
    resources: &mut [Resource],
    kinds: &[&dyn DynKind],
) -> Result<()> {
    let kind_of = |r: &Resource| kinds.iter().find(|k| k.name() == r.kind).copied();
    let referring = |r: &Resource| kind_of(r).is_some_and(|k| k.has_references(r));
    if !resources.iter().any(referring) {
        return Ok(());
    }
    let account = match account_id {
        Some(account) => account.to_string(),
        None => session.caller_account().await.with_context(|| {
            format!(
                "cannot learn the account of environment `{}` to resolve `topic:` references",
                session.env.name
            )
        })?,
    };
    for resource in resources.iter_mut() {
        if let Some(kind) = kind_of(resource).filter(|k| k.has_references(resource)) {
            kind.resolve(resource, &session.env.region, &account);
        }
    }
    Ok(())
}

/// A live field whose value the base's declaration reads from the environment is secret,
/// whatever the branch declares now: a PR that drops `value_from_env` must not show it.
fn hide_values_secret_in(base: &[Resource], live: &mut [Resource]) {
    for resource in live.iter_mut() {
        let Some(declared) = base
            .iter()
            .find(|b| b.kind == resource.kind && b.name == resource.name)
        else {
            continue;
        };
        for (field, value) in &declared.fields {
            if !value.value.is_sensitive() {
                continue;
            }
            let text = resource.get(field).and_then(Value::stored_text);
            if let Some(text) = text {
                resource.set(field, Value::Secret(Secret::new(text)));
            }
        }
    }
}

/// Two environments of one account and region must not own the same objects. Where
/// `account_id` settles it, `validate` already refused; otherwise STS says which accounts the
/// environments' credentials reach. An account plumb cannot learn counts as shared: this
/// check fails closed.
async fn check_shared_accounts(desired: &load::Desired) -> Result<()> {
    let mut accounts: BTreeMap<String, Result<String, String>> = BTreeMap::new();
    // Replica regions own their copies as their environment owns its parameters.
    let with_replicas = |env: &Environment| {
        let replicas = env.replica_regions.iter().map(|region| env.replica(region));
        std::iter::once(env.clone()).chain(replicas).collect::<Vec<_>>()
    };
    let all: Vec<Environment> = desired
        .config
        .environments
        .values()
        .flat_map(with_replicas)
        .collect();
    let selected: Vec<Environment> = desired
        .environments
        .iter()
        .flat_map(|d| with_replicas(&d.env))
        .collect();
    for a in &selected {
        for b in all.iter().filter(|b| b.name != a.name) {
            let overlaps = scope::overlaps(&a.scope, &b.scope, a.region == b.region, &kinds::scope_rules());
            if overlaps.is_empty() || (a.account_id.is_some() && b.account_id.is_some()) {
                continue;
            }
            let account_a = account_of(a, &mut accounts).await;
            let account_b = account_of(b, &mut accounts).await;
            match (account_a, account_b) {
                (Ok(x), Ok(y)) if x != y => continue,
                (Ok(_), Ok(_)) => bail!(Refusal::SharedAccount {
                    overlap: scope::overlap_message(a, b, &overlaps)
                }),
                (Err(why), _) | (_, Err(why)) => bail!(Refusal::UnknownAccounts {
                    a: a.label(),
                    b: b.label(),
                    why
                }),
            }
        }
    }
    Ok(())
}

/// An environment's account: its `account_id`, or what STS says for its credentials.
async fn account_of(
    env: &Environment,
    known: &mut BTreeMap<String, Result<String, String>>,
) -> Result<String, String> {
    if let Some(account) = &env.account_id {
        return Ok(account.clone());
    }
    if let Some(answer) = known.get(&env.name) {
        return answer.clone();
    }
    let session = Session::connect(env).await;
    let answer = session
        .caller_account()
        .await
        .map_err(|e| format!("STS for `{}`: {e}", env.name));
    known.insert(env.name.clone(), answer.clone());
    answer
}

/// Every change's preflight check (see [`crate::kinds::Kind::preflight`]), before any write.
pub async fn preflight(planned: &Planned) -> Result<Vec<Refusal>> {
    let kinds = kinds::registry();
    let mut refusals = Vec::new();
    for ((env_plan, session), sides) in planned.environments() {
        for (change, sides) in env_plan.changes.iter().zip(sides) {
            let Some(kind) = kinds.iter().find(|k| k.name() == change.kind) else {
                continue;
            };
            let why = kind
                .preflight(session, change, sides)
                .await
                .with_context(|| format!("cannot check {} `{}` before applying", change.kind, change.name))?;
            if let Some(why) = why {
                refusals.push(Refusal::Preflight {
                    environment: env_plan.label(),
                    reason: why,
                });
            }
        }
    }
    Ok(refusals)
}

/// Takes the apply locks of the environments `target` names (all of them when it names none)
/// into `held`, in name order so that two applies never wait on each other; the caller
/// releases them, however this ends. Each environment's account guard is checked first: a
/// lock is never written into the wrong account.
pub async fn lock_environments(target: &Target, plan: &str, wait: Duration, held: &lock::Held) -> Result<()> {
    let options = LoadOptions {
        dir: &target.dir,
        environments: &target.envs,
        env_vars: EnvVars::Skip,
    };
    let desired = load::load(&options, &kinds::registry())?;
    for env in &desired.environments {
        let session = Session::connect(&env.env).await;
        check_account(&session).await?;
        held.add(lock::acquire(&session, plan, wait).await?);
    }
    Ok(())
}

/// Releases every lock; a lock that cannot be released is said, not fatal.
pub async fn release_all(locks: Vec<Lock>) {
    for lock in locks {
        if let Err(error) = lock.release().await {
            output::stderr(&format!("warning: {error:#}\n"));
        }
    }
}

/// The account guard: with `account_id` set, the credentials must be for that account.
/// Checked before anything is written (a lock, an import's files) and, by plan, drift and
/// compare (and so apply's own plan), before anything of the environment is read but the
/// first listing page of `settle_account`. The owner comes from the ARNs of what the
/// session listed as its own (`Session::note_own_arns`), or from STS when it listed
/// nothing.
pub async fn check_account(session: &Session) -> Result<Option<String>> {
    let Some(expected) = &session.env.account_id else {
        return Ok(None);
    };
    let actual = session
        .guarded_account()
        .await
        .with_context(|| format!("cannot check the account of environment `{}`", session.env.name))?;
    if &actual != expected {
        bail!(Refusal::WrongAccount {
            environment: session.env.name.clone(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(Some(actual))
}

/// The account guard of a command that reads (plan, drift, compare), settled before
/// anything is read but each kind's first listing page (`Kind::list_first_page`: metadata,
/// nothing secret), whose ARNs name the account; STS is asked only when it lists nothing.
/// A refusal is said before a failed listing (other credentials are often denied the
/// listing), and a failed listing before a failed check. An endpoint that did not answer
/// the listing is not asked again.
async fn settle_account(session: &Session, kinds: &[&dyn DynKind]) -> Result<Option<String>> {
    if session.env.account_id.is_none() {
        return Ok(None);
    }
    let listed = try_join_all(kinds.iter().map(|kind| kind.list_first_page(session))).await;
    if let Err(error) = listed {
        let refused = if codes::UNANSWERED.contains(&error.code.as_str()) {
            None // no answer: the endpoint is not asked again
        } else {
            // Other credentials are often denied the listing: STS says whether they are.
            let checked = check_account(session).await;
            checked.err().filter(|e| e.downcast_ref::<Refusal>().is_some())
        };
        return Err(
            refused.unwrap_or_else(|| anyhow::Error::from(error).context(cannot_read(&session.env.name)))
        );
    }
    check_account(session).await
}

/// The context of a failed read of an environment's live state.
pub fn cannot_read(environment: &str) -> String {
    format!("cannot read the live state of environment `{environment}`")
}

async fn fetch_live(
    session: &Session,
    desired: &[Resource],
    kinds: &[&dyn DynKind],
) -> Result<Vec<Resource>> {
    let reads = kinds.iter().map(|kind| {
        let declared: Vec<&Resource> = desired.iter().filter(|r| r.kind == kind.name()).collect();
        async move { kind.fetch(session, &declared).await }
    });
    // Joined onto the longest list rather than collected anew: at 100,000 parameters a
    // second list of every live object would be the plan's peak memory.
    let mut lists = try_join_all(reads).await?;
    lists.sort_by_key(|list| std::cmp::Reverse(list.len()));
    let mut lists = lists.into_iter();
    let mut live = lists.next().unwrap_or_default();
    let rest: Vec<Resource> = lists.flatten().collect();
    live.reserve_exact(rest.len());
    live.extend(rest);
    Ok(live)
}

pub async fn execute(planned: &Planned) -> Outcome {
    let kinds = kinds::registry();
    let total = planned.plan.summary.total() as u64;
    let progress = output::progress_bar(total, "Applying");
    let mut outcome = Outcome::default();
    for ((env_plan, session), sides) in planned.environments() {
        let env_outcome = apply::apply_environment(session, env_plan, sides, &kinds, &progress).await;
        outcome.absorb(env_outcome);
    }
    progress.finish_and_clear();
    outcome
}
