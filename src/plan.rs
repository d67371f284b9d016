//! A plan is plain data: what would change, per environment, and a digest that names it.
//!
//! The engine ([`crate::engine`]) builds it, the renderers ([`crate::render`]) show it, the
//! executor ([`crate::apply`]) carries it out. What is serialised here is exactly what a plan
//! file (`plumb plan --out`) holds, and never a secret: sensitive fields carry no values.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

/// Bumped when the JSON form changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Delete,
    Replace,
    Create,
    Update,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

/// One field's change. `before`/`after` are `None` where the side does not exist or the value
/// is sensitive (then `sensitive` is true and no renderer shows a value).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Json>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

/// Where a change comes from, when the plan was made against a base revision (`--base`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The change is the pull request's own edit of desired/.
    ThisChange,
    /// Live state already differed from the base's desired/: someone changed AWS by hand.
    Drift,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub action: Action,
    pub kind: String,
    pub name: String,
    /// For create: the fields set; update: the fields that differ; replace: the fields that
    /// differ (the resource is created whole); delete: the fields it had.
    pub fields: Vec<FieldChange>,
    /// Why, for people: why a replace is needed, why a delete happens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The live object's version this change was computed against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_against: Option<String>,
    /// This PR's edit or pre-existing drift (plans made with `--base` only). Not part of the
    /// digest: the plan applied after the merge is the same plan, whatever its base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// Two changes are the same change whatever their source: a plan made with `--base` equals
/// the same plan made without.
impl PartialEq for Change {
    fn eq(&self, other: &Self) -> bool {
        (
            self.action,
            &self.kind,
            &self.name,
            &self.fields,
            &self.reason,
            &self.computed_against,
        ) == (
            other.action,
            &other.kind,
            &other.name,
            &other.fields,
            &other.reason,
            &other.computed_against,
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvPlan {
    pub environment: String,
    /// A replica region's section of the environment (`replica_regions`): its parameters'
    /// copies in `region`. Applied and locked with the environment.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replica: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub region: String,
    /// Deletions first, then replacements, then the rest, in dependency order.
    pub changes: Vec<Change>,
    /// Things a reader should know that are not changes (a resource not created yet, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
}

impl Summary {
    pub fn of<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Summary {
        let mut summary = Summary::default();
        for change in changes {
            match change.action {
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Replace => summary.replace += 1,
                Action::Delete => summary.delete += 1,
            }
        }
        summary
    }

    pub fn total(&self) -> usize {
        self.create + self.update + self.replace + self.delete
    }

    /// `Plan: 3 to create, 1 to update, 0 to replace, 2 to delete.`
    pub fn line(&self) -> String {
        format!(
            "Plan: {} to create, {} to update, {} to replace, {} to delete.",
            self.create, self.update, self.replace, self.delete
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format_version: u32,
    pub plumb_version: String,
    pub digest: String,
    pub summary: Summary,
    pub environments: Vec<EnvPlan>,
}

impl Plan {
    pub fn new(environments: Vec<EnvPlan>) -> Plan {
        let summary = Summary::of(environments.iter().flat_map(|e| &e.changes));
        Plan {
            format_version: FORMAT_VERSION,
            plumb_version: env!("CARGO_PKG_VERSION").to_string(),
            digest: digest(&environments),
            summary,
            environments,
        }
    }

    pub fn has_changes(&self) -> bool {
        self.summary.total() > 0
    }

    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.environments.iter().flat_map(|e| &e.changes)
    }

    /// The environments the plan covers, each once (a replica's section is its environment's).
    pub fn environment_names(&self) -> impl Iterator<Item = &str> {
        self.environments
            .iter()
            .filter(|e| !e.replica)
            .map(|e| e.environment.as_str())
    }
}

/// The digest of one environment's part of a plan, its replica regions' sections included
/// (the PR comment carries one per environment, so environments can be applied one by one:
/// `plumb apply --env dev` plans dev and its replicas, and gets this digest).
pub fn env_digest(plan: &Plan, environment: &str) -> String {
    let part: Vec<EnvPlan> = plan
        .environments
        .iter()
        .filter(|e| e.environment == environment)
        .cloned()
        .collect();
    digest(&part)
}

impl EnvPlan {
    /// The section's name as shown: `dev`, or `dev (replica us-west-2)`.
    pub fn label(&self) -> String {
        match self.replica {
            true => format!("{} (replica {})", self.environment, self.region),
            false => self.environment.clone(),
        }
    }
}

/// `sha256:` of the canonical JSON of every environment's changes (names, regions, accounts,
/// actions, fields, versions computed against). Notes are left out: they explain, they do not
/// change anything. serde_json's maps are sorted, so the encoding is canonical.
pub fn digest(environments: &[EnvPlan]) -> String {
    #[derive(Serialize)]
    struct Canonical<'a> {
        environment: &'a str,
        /// Only when set, so that plans without replicas keep their digests.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        replica: bool,
        account_id: &'a Option<String>,
        region: &'a str,
        changes: &'a [Change],
    }
    let without_source: Vec<Vec<Change>> = environments
        .iter()
        .map(|e| {
            e.changes
                .iter()
                .cloned()
                .map(|c| Change { source: None, ..c })
                .collect()
        })
        .collect();
    let canonical: Vec<Canonical> = environments
        .iter()
        .zip(&without_source)
        .map(|(e, changes)| Canonical {
            environment: &e.environment,
            replica: e.replica,
            account_id: &e.account_id,
            region: &e.region,
            changes,
        })
        .collect();
    let bytes = serde_json::to_vec(&canonical).expect("plan data always serialises");
    format!("sha256:{:x}", Sha256::digest(&bytes))
}

/// The hidden marker that carries a digest in a PR comment: the whole plan's
/// (`<!-- plumb-digest: sha256:… -->`) or one environment's
/// (`<!-- plumb-digest:dev: sha256:… -->`). Environment names are simple identifiers (the
/// loader and the plan-file reader refuse others); anything else is replaced all the same, so
/// no name can close the comment or forge another marker.
pub fn digest_marker(environment: Option<&str>, digest: &str) -> String {
    match environment {
        None => format!("{MARKER_START}: {digest} -->"),
        Some(environment) => {
            let safe: String = environment
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("{MARKER_START}:{safe}: {digest} -->")
        }
    }
}

const MARKER_START: &str = "<!-- plumb-digest";

/// The digest that `body` (a PR comment) carries in its marker for `environment` (the whole
/// plan's with `None`). The footer comes after everything a plan can put in the comment, so
/// the last marker line counts, whatever a value or a name above it may contain; a marker
/// whose digest is not `sha256:` and 64 lowercase hex digits counts as none.
pub fn find_digest_marker<'a>(body: &'a str, environment: Option<&str>) -> Option<&'a str> {
    let start = match environment {
        Some(environment) => format!("{MARKER_START}:{environment}: "),
        None => format!("{MARKER_START}: "),
    };
    body.lines()
        .rev()
        .find_map(|line| line.strip_prefix(start.as_str())?.strip_suffix(" -->"))
        .filter(|d| is_digest(d))
}

/// `sha256:` and 64 lowercase hex digits.
fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Why a plan file cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum PlanFileProblem {
    /// Not JSON, or not shaped like a plan.
    NotAPlan(String),
    /// Written by a plumb with another plan format.
    Format(u32),
    /// An environment name plumb would never have written.
    BadName(String),
    /// The changes do not hash to the digest the file claims: edited after plumb wrote it.
    Tampered { claimed: String, actual: String },
}

/// Reads a plan file's text and checks that it is what plumb wrote: its format, its
/// environment names, and its content against its digest. Never panics, whatever the text.
pub fn parse_plan_file(text: &str) -> Result<Plan, PlanFileProblem> {
    let plan: Plan = serde_json::from_str(text).map_err(|e| PlanFileProblem::NotAPlan(e.to_string()))?;
    if plan.format_version != FORMAT_VERSION {
        return Err(PlanFileProblem::Format(plan.format_version));
    }
    if let Some(env) = plan
        .environments
        .iter()
        .find(|e| !crate::config::is_valid_env_name(&e.environment))
    {
        return Err(PlanFileProblem::BadName(env.environment.clone()));
    }
    let actual = digest(&plan.environments);
    if actual != plan.digest {
        return Err(PlanFileProblem::Tampered {
            claimed: plan.digest,
            actual,
        });
    }
    Ok(plan)
}
