//! The executor: carries out a plan's changes against AWS.
//!
//! # Guarantees (SPEC §5)
//! - **Ordered**: deletions first, kinds back to front (users before the groups they belong
//!   to); then replacements, creations and updates, kinds front to back. Within one kind and
//!   phase, changes are independent and run in parallel, at most [`CONCURRENCY`] at a time.
//! - **Patient**: each kind paces its writes and the SDK retries throttling with backoff.
//! - **Nothing lost**: a change that fails is recorded with its AWS error and the others
//!   still run; the caller exits 1. Kinds make each change idempotent enough that running
//!   apply again finishes the job.

use futures::StreamExt;
use indicatif::ProgressBar;

use crate::aws::{AwsError, Session};
use crate::kinds::Kind;
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
}

pub async fn apply_environment(
    session: &Session,
    plan: &EnvPlan,
    kinds: &[&dyn Kind],
    progress: &ProgressBar,
) -> Outcome {
    let mut outcome = Outcome::default();
    for kind in kinds.iter().rev() {
        let deletions = plan
            .changes
            .iter()
            .filter(|c| c.kind == kind.name() && c.action == Action::Delete);
        run_phase(session, plan, *kind, deletions, progress, &mut outcome).await;
    }
    for kind in kinds {
        let others = plan
            .changes
            .iter()
            .filter(|c| c.kind == kind.name() && c.action != Action::Delete);
        run_phase(session, plan, *kind, others, progress, &mut outcome).await;
    }
    outcome
}

async fn run_phase<'a>(
    session: &Session,
    plan: &EnvPlan,
    kind: &dyn Kind,
    changes: impl Iterator<Item = &'a Change>,
    progress: &ProgressBar,
    outcome: &mut Outcome,
) {
    let results: Vec<(&Change, Result<(), AwsError>)> = futures::stream::iter(changes)
        .map(|change| async move { (change, kind.apply(session, change).await) })
        .buffer_unordered(CONCURRENCY)
        .inspect(|_| progress.inc(1))
        .collect()
        .await;
    for (change, result) in results {
        match result {
            Ok(()) => outcome.applied += 1,
            Err(error) => outcome.failures.push(Failure {
                environment: plan.environment.clone(),
                action: change.action,
                kind: change.kind.clone(),
                name: change.name.clone(),
                error,
            }),
        }
    }
}
