//! The Markdown rendering for pull-request comments: a summary table first, deletions and
//! replacements called out, each environment's details in a collapsed `<details>`, the digest
//! in a hidden marker.
//!
//! Values appear only inside fenced code blocks whose fence is longer than any run of
//! backticks in them, so no value can close the block, open HTML or mention anyone.

use std::fmt::Write;

use crate::plan::{Action, Change, EnvPlan, Plan, Summary};
use crate::render::{FieldView, field_view, sensitive_label};

/// The hidden marker that carries the plan digest.
pub fn digest_marker(digest: &str) -> String {
    format!("<!-- plumb-digest: {digest} -->")
}

pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### plumb plan\n");
    if !plan.has_changes() {
        let _ = writeln!(out, "No changes. Live AWS matches `desired/`.\n");
    }
    let _ = writeln!(out, "| Environment | Create | Update | Replace | Delete |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for env in &plan.environments {
        let s = Summary::of(&env.changes);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            code(&env.environment),
            s.create,
            s.update,
            s.replace,
            s.delete
        );
    }
    let _ = writeln!(out, "\n**{}**\n", plan.summary.line());
    render_destructive(&mut out, plan);
    for env in plan
        .environments
        .iter()
        .filter(|e| !e.changes.is_empty() || !e.notes.is_empty())
    {
        render_env(&mut out, env);
    }
    let _ = writeln!(out, "Digest: `{}`\n", plan.digest);
    let _ = writeln!(out, "{}", digest_marker(&plan.digest));
    out
}

fn render_destructive(out: &mut String, plan: &Plan) {
    let destructive: Vec<(&EnvPlan, &Change)> = plan
        .environments
        .iter()
        .flat_map(|e| e.changes.iter().map(move |c| (e, c)))
        .filter(|(_, c)| matches!(c.action, Action::Delete | Action::Replace))
        .collect();
    if destructive.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "> [!WARNING]\n> This plan deletes or replaces {} resource(s):",
        destructive.len()
    );
    for (env, change) in destructive {
        let _ = writeln!(
            out,
            "> - **{}** {} {} in {}",
            change.action.verb(),
            change.kind,
            code(&change.name),
            code(&env.environment)
        );
    }
    let _ = writeln!(out);
}

fn render_env(out: &mut String, env: &EnvPlan) {
    let summary = Summary::of(&env.changes);
    let _ = writeln!(
        out,
        "<details><summary>{}: {} change(s)</summary>\n",
        escape_html(&env.environment),
        summary.total()
    );
    for note in &env.notes {
        let _ = writeln!(out, "- note: {}", escape_html(note));
    }
    let mut body = String::new();
    for change in &env.changes {
        render_change(&mut body, change);
    }
    if !body.is_empty() {
        let fence = fence_for(&body);
        let _ = writeln!(out, "{fence}diff\n{body}{fence}\n");
    }
    let _ = writeln!(out, "</details>\n");
}

fn render_change(out: &mut String, change: &Change) {
    let marker = match change.action {
        Action::Create => "+",
        Action::Update => "!",
        Action::Replace => "-/+",
        Action::Delete => "-",
    };
    let reason = change
        .reason
        .as_deref()
        .map(|r| format!("  ({r})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{marker} {} {} {}{reason}",
        change.action.verb(),
        change.kind,
        change.name
    );
    for field in &change.fields {
        match field_view(field) {
            FieldView::Sensitive => {
                let _ = writeln!(out, "    {}: {}", field.field, sensitive_label(change.action));
            }
            FieldView::Inline { before, after } => {
                let text = match (before, after) {
                    (Some(b), Some(a)) => format!("{b} -> {a}"),
                    (None, Some(a)) => a,
                    (Some(b), None) => b,
                    (None, None) => "(none)".into(),
                };
                let _ = writeln!(out, "    {}: {text}", field.field);
            }
            FieldView::Diff(diff) => {
                let _ = writeln!(out, "    {}:", field.field);
                for line in diff.lines() {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    }
}

/// A fence of backticks longer than the longest run inside `body`.
fn fence_for(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// Inline code that no content can break out of.
fn code(text: &str) -> String {
    let fence = "`".repeat(text.split(|c| c != '`').map(str::len).max().unwrap_or(0) + 1);
    format!("{fence} {} {fence}", text.replace('\n', " "))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('@', "&#64;")
}
