//! Plan files (`plumb plan --out`, `plumb apply PLAN.json`): writing them, reading them back
//! only when they are what plumb wrote, and the staleness check that binds a saved plan to
//! the live state it was computed against.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::output;
use crate::plan::{FORMAT_VERSION, Plan, PlanFileProblem, parse_plan_file};
use crate::refusal::Refusal;
use crate::render;

pub fn write_plan_file(path: &Path, plan: &Plan) -> Result<()> {
    output::write_plan_data(Some(path), &render::json::render(plan))
        .with_context(|| format!("cannot write the plan to `{}`", path.display()))
}

/// A plan file is larger than any plan plumb writes for a real account only if something
/// else wrote it.
const MAX_PLAN_FILE: u64 = 256 * 1024 * 1024;

/// Reads a plan file and checks that it is what plumb wrote: its format, its environment
/// names, and its content against its digest (a value changed or a change added by hand is
/// refused, exit 3).
pub fn read_plan_file(path: &Path) -> Result<Plan> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PLAN_FILE + 1).read_to_string(&mut text))
        .with_context(|| format!("cannot read plan file `{}`", path.display()))?;
    if text.len() as u64 > MAX_PLAN_FILE {
        bail!(
            "`{}` is over {MAX_PLAN_FILE} bytes: not a plan plumb wrote",
            path.display()
        );
    }
    let shown = path.display();
    match parse_plan_file(&text) {
        Ok(plan) => Ok(plan),
        Err(PlanFileProblem::NotAPlan(why)) => bail!("`{shown}` is not a plumb plan: {why}"),
        Err(PlanFileProblem::Format(found)) => {
            bail!("`{shown}` has plan format {found}, this plumb reads format {FORMAT_VERSION}: plan again")
        }
        Err(PlanFileProblem::BadName(name)) => bail!(Refusal::PlanFileName {
            file: shown.to_string(),
            name,
        }),
        Err(PlanFileProblem::Tampered { claimed, actual }) => bail!(Refusal::PlanFileEdited {
            file: shown.to_string(),
            claimed,
            actual,
        }),
    }
}

/// A saved plan may be applied only if planning now gives exactly the same changes, computed
/// against the same live versions.
pub fn check_not_stale(saved: &Plan, fresh: &Plan) -> Result<()> {
    if saved.digest == fresh.digest {
        return Ok(());
    }
    // Each change by what it is about, with its fields: a change in both plans whose fields
    // differ is said as such, not as one gone and one new.
    let describe = |plan: &Plan| -> BTreeMap<String, Vec<crate::plan::FieldChange>> {
        plan.environments
            .iter()
            .flat_map(|e| {
                e.changes.iter().map(move |c| {
                    let against = c
                        .computed_against
                        .as_deref()
                        .map(|v| format!(" (against {v})"))
                        .unwrap_or_default();
                    let key = format!(
                        "{}: {} {} `{}`{against}",
                        e.label(),
                        c.action.verb(),
                        c.kind,
                        c.name
                    );
                    (key, c.fields.clone())
                })
            })
            .collect()
    };
    let (old, new) = (describe(saved), describe(fresh));
    let mut lines = Vec::new();
    for (change, fields) in &old {
        match new.get(change) {
            None => lines.push(format!("  planned, no longer needed or now different: {change}")),
            Some(now) if now != fields => {
                lines.push(format!("  planned with other values than now: {change}"))
            }
            Some(_) => {}
        }
    }
    lines.extend(
        new.keys()
            .filter(|c| !old.contains_key(*c))
            .map(|c| format!("  needed now, not in the plan: {c}")),
    );
    if lines.is_empty() {
        lines.push("  the same changes in another account or region".into());
    }
    bail!(Refusal::StalePlan { differences: lines })
}
