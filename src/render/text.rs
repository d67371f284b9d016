//! The terminal rendering: Terraform's `+ ~ -/+ -` markers, deletions first and called out,
//! field-level changes, a summary line and the digest.

use std::fmt::Write;

use crate::plan::FieldChange;
use crate::plan::{Action, Change, EnvPlan, Plan, Summary};
use crate::render::{FieldView, document_summary, field_view, sensitive_label};

/// A field of a created or deleted resource: all of it is new or gone, so a diff would be the
/// whole document.
fn is_whole_document(change: &Change, field: &FieldChange) -> bool {
    let one_side = match (&field.before, &field.after) {
        (Some(value), None) | (None, Some(value)) => Some(value),
        _ => None,
    };
    matches!(change.action, Action::Create | Action::Delete)
        && one_side.is_some_and(serde_json::Value::is_object)
}

/// ANSI colours, or none (not a terminal, or `NO_COLOR`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    pub color: bool,
    /// Show created and deleted documents in full (`--verbose`); by default they are one line
    /// (their size and a hash), so a first plan is not hundreds of lines of JSON.
    pub verbose: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
    fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
}

pub fn render(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    for env in &plan.environments {
        render_env(&mut out, env, style);
    }
    if plan.has_changes() {
        let _ = writeln!(out, "{}", style.bold(&plan.summary.line()));
    } else {
        let _ = writeln!(out, "{}", style.bold("No changes. Live AWS matches desired/."));
    }
    let _ = writeln!(out, "Digest: {}", plan.digest);
    out
}

/// The plan framed as a drift report: what changed outside git.
pub fn render_drift(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    for env in &plan.environments {
        let counts = drift_counts(env);
        if env.changes.is_empty() {
            let _ = writeln!(out, "{}: no drift.", style.bold(&env.label()));
            continue;
        }
        let _ = writeln!(
            out,
            "{}: drift found: {} changed, {} missing, {} unmanaged in scope.",
            style.bold(&env.label()),
            counts.changed,
            counts.missing,
            counts.unmanaged
        );
        let _ = writeln!(out, "  `plumb apply` would make these changes to match desired/:");
        render_env(&mut out, env, style);
    }
    if !plan.has_changes() {
        let _ = writeln!(out, "No drift. Live AWS matches desired/.");
    }
    out
}

/// How drift reads: declared but changed by hand, declared but missing, in scope but not declared.
pub struct DriftCounts {
    pub changed: usize,
    pub missing: usize,
    pub unmanaged: usize,
}

pub fn drift_counts(env: &EnvPlan) -> DriftCounts {
    let count = |wanted: &[Action]| env.changes.iter().filter(|c| wanted.contains(&c.action)).count();
    DriftCounts {
        changed: count(&[Action::Update, Action::Replace]),
        missing: count(&[Action::Create]),
        unmanaged: count(&[Action::Delete]),
    }
}

fn render_env(out: &mut String, env: &EnvPlan, style: Style) {
    let account = env
        .account_id
        .as_deref()
        .map(|a| format!("account {a}, "))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} ({account}{})",
        style.bold(&format!("Environment {}", env.label())),
        env.region
    );
    for note in &env.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    if env.changes.is_empty() {
        let _ = writeln!(out, "  No changes.\n");
        return;
    }
    let summary = Summary::of(&env.changes);
    if summary.delete + summary.replace > 0 {
        let warning = format!(
            "  ! This plan deletes {} and replaces {} resource(s):",
            summary.delete, summary.replace
        );
        let _ = writeln!(out, "{}", style.red(&warning));
    }
    let _ = writeln!(out);
    for change in &env.changes {
        render_change(out, change, style);
    }
}

fn marker(action: Action, style: Style) -> String {
    match action {
        Action::Create => style.green("+"),
        Action::Update => style.yellow("~"),
        Action::Replace => style.red("-/+"),
        Action::Delete => style.red("-"),
    }
}

fn render_change(out: &mut String, change: &Change, style: Style) {
    let reason = change
        .reason
        .as_deref()
        .map(|r| format!("  ({r})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {} {} {} {}{reason}",
        marker(change.action, style),
        change.action.verb(),
        change.kind,
        style.bold(&crate::render::name_shown(&change.name))
    );
    let width = change.fields.iter().map(|f| f.field.len()).max().unwrap_or(0);
    for field in &change.fields {
        let label = format!("{:width$}", format!("{}:", field.field), width = width + 1);
        match field_view(field) {
            FieldView::Sensitive => {
                let _ = writeln!(out, "      {label} {}", sensitive_label(change.action));
            }
            FieldView::Inline { before, after } => {
                let text = match (before, after) {
                    (Some(b), Some(a)) => format!("{} -> {}", style.red(&b), style.green(&a)),
                    (None, Some(a)) if change.action == Action::Create => a,
                    (None, Some(a)) => format!("(none) -> {}", style.green(&a)),
                    (Some(b), None) if change.action == Action::Delete => b,
                    (Some(b), None) => format!("{} -> (none)", style.red(&b)),
                    (None, None) => "(none)".to_string(),
                };
                let _ = writeln!(out, "      {label} {text}");
            }
            FieldView::Diff(_) if is_whole_document(change, field) && !style.verbose => {
                let value = field.after.as_ref().or(field.before.as_ref());
                let summary = value.map(document_summary).unwrap_or_default();
                let _ = writeln!(out, "      {label} {summary} (--verbose shows it)");
            }
            FieldView::Diff(diff) => {
                let _ = writeln!(out, "      {}", label.trim_end());
                for line in diff.lines() {
                    let painted = match line.chars().next() {
                        Some('+') if !line.starts_with("+++") => style.green(line),
                        Some('-') if !line.starts_with("---") => style.red(line),
                        _ => line.to_string(),
                    };
                    let _ = writeln!(out, "        {painted}");
                }
            }
        }
    }
    let _ = writeln!(out);
}
