//! Why plumb refuses to go on (exit 3): one enum, one `Display`, one exit code. A refusal is
//! not an error: plumb could go on, but must not (a protected resource, too many deletions, a
//! stale or edited plan, the wrong account, another apply holding the lock).

use std::fmt;

/// The exit code of every refusal.
pub const EXIT_CODE: u8 = 3;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The plan deletes or replaces a protected resource.
    Protected {
        environment: String,
        action: &'static str,
        kind: String,
        name: String,
        rule: String,
    },
    /// More deletions (and replacements) than `max_deletes` or `--allow-deletes` allow.
    TooManyDeletes {
        environment: String,
        count: usize,
        limit: usize,
    },
    /// A kind's own check before any write (a policy attached outside the scope, say).
    Preflight { environment: String, reason: String },
    /// `--expect-digest` names another plan than the one computed now.
    DigestMismatch { actual: String, expected: String },
    /// A saved plan whose changes differ from planning now (each difference one line).
    StalePlan { differences: Vec<String> },
    /// A plan file that names an environment plumb would never have written.
    PlanFileName { file: String, name: String },
    /// `--env` names other environments than the saved plan covers: a plan is applied whole.
    PlanFileEnvironments {
        file: String,
        covers: Vec<String>,
        named: Vec<String>,
    },
    /// A plan file whose changes do not hash to its digest.
    PlanFileEdited {
        file: String,
        claimed: String,
        actual: String,
    },
    /// `account_id` says one account, STS another.
    WrongAccount {
        environment: String,
        expected: String,
        actual: String,
    },
    /// Two environments whose scopes overlap reach one account (the overlap said in full).
    SharedAccount { overlap: String },
    /// Two environments whose scopes overlap, and plumb cannot tell their accounts apart.
    UnknownAccounts { a: String, b: String, why: String },
    /// Another apply holds the environment's lock.
    Locked { environment: String, holder: String },
    /// Several of the above, one per line.
    Several(Vec<Refusal>),
}

impl Refusal {
    /// The refusals as one, or `None` when there are none.
    pub fn all(refusals: Vec<Refusal>) -> Option<Refusal> {
        match refusals.len() {
            0 => None,
            1 => refusals.into_iter().next(),
            _ => Some(Refusal::Several(refusals)),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Protected {
                environment,
                action,
                kind,
                name,
                rule,
            } => write!(
                f,
                "{environment}: the plan would {action} protected {kind} `{name}` ({rule}); \
                 remove the protection first if this is intended"
            ),
            Refusal::TooManyDeletes {
                environment,
                count,
                limit,
            } => write!(
                f,
                "{environment}: the plan deletes or replaces {count} resources, more than the \
                 {limit} allowed; check the plan, then pass --allow-deletes {count}"
            ),
            Refusal::Preflight { environment, reason } => write!(f, "{environment}: {reason}"),
            Refusal::DigestMismatch { actual, expected } => write!(
                f,
                "the plan's digest is {actual}, not the expected {expected}: desired/ or live state \
                 changed since it was reviewed"
            ),
            Refusal::StalePlan { differences } => write!(
                f,
                "the plan is stale: live state or desired/ changed since it was made; nothing was \
                 applied. Plan again.\n{}",
                differences.join("\n")
            ),
            Refusal::PlanFileName { file, name } => write!(
                f,
                "`{file}` names {name:?}, which is not a valid environment name: not a plan plumb wrote"
            ),
            Refusal::PlanFileEnvironments { file, covers, named } => write!(
                f,
                "`{file}` is a plan of {}, but --env names {}: a saved plan is applied whole, \
                 never in part; nothing was applied. To apply some environments, plan them \
                 (`plumb plan --env NAME --out FILE`) and apply that plan",
                covers.join(", "),
                named.join(", ")
            ),
            Refusal::PlanFileEdited {
                file,
                claimed,
                actual,
            } => write!(
                f,
                "`{file}` does not match its digest (it says {claimed}, its changes hash to {actual}): \
                 it was changed after plumb wrote it; nothing was applied. Plan again."
            ),
            Refusal::WrongAccount {
                environment,
                expected,
                actual,
            } => write!(
                f,
                "environment `{environment}` is account {expected}, but the credentials are for account {actual}"
            ),
            Refusal::SharedAccount { overlap } => write!(
                f,
                "{overlap} (STS says both credentials reach one account; set account_id on both if \
                 they are meant to differ)"
            ),
            Refusal::UnknownAccounts { a, b, why } => write!(
                f,
                "environments `{a}` and `{b}` have overlapping scopes, and plumb cannot tell \
                 whether they share an account ({why}); set account_id on both"
            ),
            Refusal::Locked { environment, holder } => write!(
                f,
                "environment `{environment}` is locked by another apply: {holder}. Wait for it (or \
                 pass --lock-timeout), or run `plumb unlock --env {environment}` if it is stale"
            ),
            Refusal::Several(refusals) => {
                let lines: Vec<String> = refusals.iter().map(ToString::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
        }
    }
}
