//! The executor: carries out a plan's changes against AWS.
//!
//! # Guarantees (SPEC §5)
//! - **Ordered**: deletions first, kinds back to front (users before the groups they belong
//!   to); then replacements, creations and updates, kinds front to back. A kind with tiers
//!   (alarms: metric, then composite) creates and updates tier by tier, deletes its top tier
//!   with the other deletions, and its lower tiers only after its own creates and updates: an
//!   alarm a composite stops naming goes after the composite's new rule (and so, then, after
//!   the topics deleted in the same apply; AWS does not tie an alarm to its topic). Within one
//!   kind, tier and phase, changes are independent and run in parallel, at most
//!   [`CONCURRENCY`] at a time.
//! - **Patient**: each kind paces its writes and the SDK retries throttling with backoff.
//! - **Nothing lost**: a change that fails is recorded with its AWS error and the others
//!   still run; the caller exits 1. Kinds make each change idempotent enough that running
//!   apply again finishes the job.
//! - **Already there is done**: a create that fails because its object exists (a write that
//!   succeeded but answered 500, then was retried by the SDK) is checked against a fresh read:
//!   equal to the declaration, it is done; otherwise the difference is applied as an update.
//! - **Interruptible**: after SIGINT or SIGTERM no new change starts; the ones in flight get
//!   [`interrupt::GRACE`] to finish, and the outcome lists what was done and what was not.

use std::cell::RefCell;
use std::collections::HashSet;

use futures::StreamExt;
use indicatif::ProgressBar;

use crate::aws::{AwsError, Session, codes};
use crate::engine::{self, Sides};
use crate::interrupt;
use crate::kinds::DynKind;
use crate::plan::{Action, Change, EnvPlan};

/// Changes of one kind in flight at once.
pub const CONCURRENCY: usize = 8;

#[derive(Debug)]
pub struct Failure {
    pub environment: String,
    pub action: Action,
    pub kind: String,
    pub name: String,
    pub error: AwsError,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} {} `{}`: {}",
            self.environment,
            self.action.verb(),
            self.kind,
            self.name,
            self.error
        )
    }
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub applied: usize,
    pub failures: Vec<Failure>,
    /// Changes not started because a signal stopped the apply (`env: verb kind `name``).
    pub not_started: Vec<String>,
    /// Changes still in flight when the grace period after a signal ran out: their state is
    /// unknown until the next plan.
    pub abandoned: Vec<String>,
}

impl Outcome {
    pub fn interrupted(&self) -> bool {
        !self.not_started.is_empty() || !self.abandoned.is_empty()
    }

    pub fn absorb(&mut self, other: Outcome) {
        self.applied += other.applied;
        self.failures.extend(other.failures);
        self.not_started.extend(other.not_started);
        self.abandoned.extend(other.abandoned);
    }
}

/// Carries out `plan`, whose changes come with their `sides` position for position.
pub async fn apply_environment(
    session: &Session,
    plan: &EnvPlan,
    sides: &[Sides],
    kinds: &[&dyn DynKind],
    progress: &ProgressBar,
) -> Outcome {
    let mut outcome = Outcome::default();
    let work = || plan.changes.iter().zip(sides);
    for kind in kinds.iter().rev() {
        // A kind's lower tiers are deleted only after its higher tiers changed: a composite
        // alarm's new rule must stop naming an alarm before that alarm can go.
        let top = tiers(*kind, sides).last().copied().unwrap_or(0);
        let first = deletions(plan, sides, *kind, top);
        run_phase(session, plan, *kind, first, progress, &mut outcome).await;
    }
    for kind in kinds {
        let tiers = tiers(*kind, sides);
        for &tier in &tiers {
            let others = work().filter(|(c, s)| {
                c.kind == kind.name() && c.action != Action::Delete && s.tier(*kind) == tier
            });
            run_phase(session, plan, *kind, others, progress, &mut outcome).await;
        }
        for &tier in tiers.iter().rev().skip(1) {
            let last = deletions(plan, sides, *kind, tier);
            run_phase(session, plan, *kind, last, progress, &mut outcome).await;
        }
    }
    outcome
}

/// The deletions of `kind` at `tier`.
fn deletions<'a>(
    plan: &'a EnvPlan,
    sides: &'a [Sides],
    kind: &'a dyn DynKind,
    tier: u8,
) -> impl Iterator<Item = (&'a Change, &'a Sides)> + 'a {
    plan.changes
        .iter()
        .zip(sides)
        .filter(move |(c, s)| c.kind == kind.name() && c.action == Action::Delete && s.tier(kind) == tier)
}

/// The tiers of a kind's changes, lowest first: each tier is one phase (a composite alarm's
/// after the alarms its rule names).
fn tiers(kind: &dyn DynKind, sides: &[Sides]) -> Vec<u8> {
    let mut tiers: Vec<u8> = sides.iter().map(|s| s.tier(kind)).collect();
    tiers.push(0);
    tiers.sort();
    tiers.dedup();
    tiers
}

fn describe(plan: &EnvPlan, change: &Change) -> String {
    format!(
        "{}: {} {} `{}`",
        plan.label(),
        change.action.verb(),
        change.kind,
        change.name
    )
}

/// Runs a phase's changes wave by wave: a change waits for the changes of the phase it comes
/// after (see `Kind::after`), and a deletion for those that come after it.
async fn run_phase<'a>(
    session: &Session,
    plan: &EnvPlan,
    kind: &dyn DynKind,
    changes: impl Iterator<Item = (&'a Change, &'a Sides)>,
    progress: &ProgressBar,
    outcome: &mut Outcome,
) {
    let mut waiting: Vec<Waiting> = changes
        .map(|(change, sides)| {
            let resource = sides.desired.as_deref().or(sides.live.as_deref());
            let after = resource.map(|r| kind.after(r)).unwrap_or_default();
            Waiting { change, sides, after }
        })
        .collect();
    while !waiting.is_empty() && !interrupt::requested() {
        let wave = next_wave(&mut waiting);
        run_wave(session, plan, kind, wave, progress, outcome).await;
    }
    outcome
        .not_started
        .extend(waiting.iter().map(|w| describe(plan, w.change)));
}

/// A change waiting for its wave, and the names of the phase's objects it comes after.
struct Waiting<'a> {
    change: &'a Change,
    sides: &'a Sides,
    after: Vec<String>,
}

/// The changes that wait for none of the others (all of them, should they wait in a circle:
/// AWS then says what it refuses). A phase where nothing comes after anything is one wave.
fn next_wave<'a>(waiting: &mut Vec<Waiting<'a>>) -> Vec<(&'a Change, &'a Sides)> {
    let names: HashSet<&str> = waiting.iter().map(|w| w.change.name.as_str()).collect();
    // The objects some other waiting change comes after: a deletion of one waits.
    let needed: HashSet<&str> = waiting
        .iter()
        .flat_map(|w| {
            w.after
                .iter()
                .filter(|n| **n != w.change.name)
                .map(String::as_str)
        })
        .collect();
    let blocked = |w: &Waiting| match w.change.action {
        Action::Delete => needed.contains(w.change.name.as_str()),
        _ => w
            .after
            .iter()
            .any(|n| *n != w.change.name && names.contains(n.as_str())),
    };
    let blocked: Vec<bool> = waiting.iter().map(blocked).collect();
    let all = blocked.iter().all(|b| *b);
    let (mut wave, mut rest) = (Vec::new(), Vec::new());
    for (w, blocked) in waiting.drain(..).zip(blocked) {
        if blocked && !all {
            rest.push(w);
        } else {
            wave.push((w.change, w.sides));
        }
    }
    *waiting = rest;
    wave
}

async fn run_wave<'a>(
    session: &Session,
    plan: &EnvPlan,
    kind: &dyn DynKind,
    changes: Vec<(&'a Change, &'a Sides)>,
    progress: &ProgressBar,
    outcome: &mut Outcome,
) {
    let started = RefCell::new(vec![false; changes.len()]);
    let mut results: Vec<(usize, Result<(), AwsError>)> = Vec::new();
    let mut out_of_time = false;
    {
        let stream = futures::stream::iter(changes.iter().enumerate())
            .take_while(|_| std::future::ready(!interrupt::requested()))
            .inspect(|(i, _)| started.borrow_mut()[*i] = true)
            .map(|(i, (change, sides))| async move { (i, kind.apply(session, change, sides).await) })
            .buffer_unordered(CONCURRENCY)
            .inspect(|_| progress.inc(1));
        tokio::pin!(stream);
        let grace = interrupt::grace_over();
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = stream.next() => match next {
                    Some(result) => results.push(result),
                    None => break,
                },
                _ = &mut grace => {
                    out_of_time = true;
                    break;
                }
            }
        }
    }
    let finished: Vec<usize> = results.iter().map(|(i, _)| *i).collect();
    let started = started.into_inner();
    for (i, (change, _)) in changes.iter().enumerate() {
        if finished.contains(&i) {
            continue;
        }
        match (started[i], out_of_time) {
            (true, true) => outcome.abandoned.push(describe(plan, change)),
            _ => outcome.not_started.push(describe(plan, change)),
        }
    }
    let mut existing = Vec::new();
    for (i, result) in results {
        let (change, sides) = changes[i];
        match result {
            Ok(()) => outcome.applied += 1,
            // A replacement's create, after its delete, meets "already there" the same way.
            Err(error)
                if matches!(change.action, Action::Create | Action::Replace)
                    && codes::ALREADY_EXISTS.contains(&error.code.as_str()) =>
            {
                existing.push((change, sides, error));
            }
            Err(error) => outcome.failures.push(failure(plan, change, error)),
        }
    }
    if interrupt::requested() {
        // Reading back and updating would be new writes after the signal.
        outcome
            .not_started
            .extend(existing.iter().map(|(c, _, _)| describe(plan, c)));
    } else if !existing.is_empty() {
        finish_existing(session, plan, kind, existing, outcome).await;
    }
}

fn failure(plan: &EnvPlan, change: &Change, error: AwsError) -> Failure {
    Failure {
        environment: plan.label(),
        action: change.action,
        kind: change.kind.clone(),
        name: change.name.clone(),
        error,
    }
}

/// Creates (replacements' too) that found their object already there: read the kind again,
/// and apply whatever still differs from the declaration as an update (nothing, when the first
/// write had in fact succeeded). One read of the kind for all of them.
async fn finish_existing(
    session: &Session,
    plan: &EnvPlan,
    kind: &dyn DynKind,
    existing: Vec<(&Change, &Sides, AwsError)>,
    outcome: &mut Outcome,
) {
    session.invalidate_reads();
    let desired: Vec<_> = existing
        .iter()
        .filter_map(|(_, sides, _)| sides.desired.as_deref())
        .collect();
    let live = match kind.fetch_again(session, &desired).await {
        Ok(live) => live,
        Err(read_error) => {
            for (change, _, error) in existing {
                let mut error = error;
                error.message = format!("{} (and reading it back failed: {read_error})", error.message);
                outcome.failures.push(failure(plan, change, error));
            }
            return;
        }
    };
    for (change, sides, error) in existing {
        let found = live.iter().find(|l| l.name == change.name).cloned();
        let (Some(declared), Some(found)) = (sides.desired.as_deref(), found) else {
            outcome.failures.push(failure(plan, change, error));
            continue;
        };
        match engine::diff(kind, declared.clone(), found) {
            None => outcome.applied += 1,
            Some((update, sides)) if update.action == Action::Update => {
                match kind.apply(session, &update, &sides).await {
                    Ok(()) => outcome.applied += 1,
                    // What the first write had done ("done before: ...") is said too.
                    Err(mut later) => {
                        later.message = format!("{} (after {})", later.message, error);
                        outcome.failures.push(failure(plan, change, later));
                    }
                }
            }
            Some(_) => outcome.failures.push(failure(plan, change, error)),
        }
    }
}
