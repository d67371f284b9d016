//! The Markdown rendering, for pull-request comments, job summaries and drift issues: a
//! summary table first, deletions and replacements called out, each environment's details in
//! a collapsed `<details>`, the digests in hidden markers.
//!
//! Nothing from a plan can break the structure, ping anyone or inject HTML: values appear only
//! inside fenced code blocks whose fence is longer than any run of backticks in them (GitHub
//! renders their content literally), names only in code spans built the same way, and free
//! text (notes) HTML-escaped with `@` neutralised.

use std::fmt::Write;

use crate::plan::{Action, Change, EnvPlan, Plan, Source, Summary, digest_marker, env_digest};
use crate::render::{FieldView, field_view, sensitive_label};

/// Lists in the summary stop here, with "and N more": the comment must fit GitHub's limit
/// whatever the plan (the full plan is in the job summary).
pub const LISTED: usize = 30;

/// A name shown in a list, cut to a length that keeps the summary small.
fn shortened(name: &str) -> String {
    const MAX: usize = 200;
    if name.chars().count() <= MAX {
        return name.to_string();
    }
    let cut: String = name.chars().take(MAX).collect();
    format!("{cut}…")
}

/// Inline code inside a table cell: `|` would end the cell, even inside code.
pub(crate) fn cell(text: &str) -> String {
    code(&shortened(text)).replace('|', "\\|")
}

pub fn render(plan: &Plan) -> String {
    let mut out = String::from("### plumb plan\n\n");
    out.push_str(&summary(plan));
    for env in plan
        .environments
        .iter()
        .filter(|e| !e.changes.is_empty() || !e.notes.is_empty())
    {
        out.push_str(&env_details(env, usize::MAX));
    }
    out.push_str(&digest_footer(plan));
    out
}

/// The summary table, the summary line and the call-out of destructive changes.
pub fn summary(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.has_changes() {
        let _ = writeln!(out, "No changes. Live AWS matches `desired/`.\n");
    }
    if plan.environments.is_empty() {
        let _ = writeln!(out, "No environment was planned.\n");
    } else {
        let _ = writeln!(out, "| Environment | Create | Update | Replace | Delete |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for env in plan.environments.iter().take(LISTED) {
            let s = Summary::of(&env.changes);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                cell(&env.label()),
                s.create,
                s.update,
                s.replace,
                s.delete
            );
        }
        if plan.environments.len() > LISTED {
            let _ = writeln!(out, "| _and {} more_ | | | | |", plan.environments.len() - LISTED);
        }
    }
    let _ = writeln!(out, "\n**{}**\n", plan.summary.line());
    out.push_str(&destructive(plan));
    out
}

/// The digest line and the hidden markers (whole plan and per environment).
pub fn digest_footer(plan: &Plan) -> String {
    let mut out = format!(
        "Digest: `{}`\n\n{}\n",
        plan.digest,
        digest_marker(None, &plan.digest)
    );
    let mut seen: Vec<&str> = Vec::new();
    for env in plan.environments.iter().filter(|e| !e.replica) {
        if seen.contains(&env.environment.as_str()) {
            continue;
        }
        seen.push(&env.environment);
        let marker = digest_marker(Some(&env.environment), &env_digest(plan, &env.environment));
        let _ = writeln!(out, "{marker}");
    }
    out
}

fn destructive(plan: &Plan) -> String {
    let destructive: Vec<(&EnvPlan, &Change)> = plan
        .environments
        .iter()
        .flat_map(|e| e.changes.iter().map(move |c| (e, c)))
        .filter(|(_, c)| matches!(c.action, Action::Delete | Action::Replace))
        .collect();
    if destructive.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "> [!WARNING]\n> This plan deletes or replaces {} resource(s):\n",
        destructive.len()
    );
    for (env, change) in destructive.iter().take(LISTED) {
        let _ = writeln!(
            out,
            "> - **{}** {} {} in {}",
            change.action.verb(),
            change.kind,
            code(&shortened(&change.name)),
            code(&env.label())
        );
    }
    if destructive.len() > LISTED {
        let _ = writeln!(
            out,
            "> - and {} more (the full plan is in the job summary)",
            destructive.len() - LISTED
        );
    }
    out.push('\n');
    out
}

/// One environment's collapsed details, at most about `budget` bytes: past it, the changes
/// are cut at a line, the code block and `<details>` are closed properly, and the cut is said.
pub fn env_details(env: &EnvPlan, budget: usize) -> String {
    let summary = Summary::of(&env.changes);
    let mut out = format!(
        "<details><summary>{}: {} change(s)</summary>\n\n",
        escape_html(&env.label()),
        summary.total()
    );
    for note in &env.notes {
        let _ = writeln!(out, "- note: {}", escape_html(note));
    }
    let classified = env.changes.iter().any(|c| c.source.is_some());
    let groups: Vec<(Option<&str>, Vec<&Change>)> = if classified {
        vec![
            (
                Some("From this pull request"),
                env.changes
                    .iter()
                    .filter(|c| c.source == Some(Source::ThisChange))
                    .collect(),
            ),
            (
                Some("Pre-existing drift (live AWS already differed from the base branch)"),
                env.changes
                    .iter()
                    .filter(|c| c.source == Some(Source::Drift))
                    .collect(),
            ),
        ]
    } else {
        vec![(None, env.changes.iter().collect())]
    };
    let closing = "</details>\n\n";
    for (title, changes) in groups.into_iter().filter(|(_, c)| !c.is_empty()) {
        if let Some(title) = title {
            let _ = writeln!(out, "**{title}**\n");
        }
        let body: String = changes.iter().map(|c| render_change(c)).collect();
        let room = budget.saturating_sub(out.len() + closing.len() + 200);
        out.push_str(&fenced_diff(&body, room));
    }
    out.push_str(closing);
    out
}

/// `body` in a diff code block, cut at a line boundary to fit `room` bytes.
fn fenced_diff(body: &str, room: usize) -> String {
    let fence = fence_for(body);
    let overhead = 2 * fence.len() + 16;
    if body.len() + overhead <= room {
        return format!("{fence}diff\n{body}{fence}\n\n");
    }
    let mut kept = String::new();
    for line in body.lines() {
        if kept.len() + line.len() + 1 + overhead > room {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    let left_out = body.lines().count() - kept.lines().count();
    format!(
        "{fence}diff\n{kept}{fence}\n\n_… {left_out} more line(s) not shown: the full plan is in the job summary._\n\n"
    )
}

fn render_change(change: &Change) -> String {
    let mut out = String::new();
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
        crate::render::name_shown(&change.name)
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
    out
}

/// A code-block fence of backticks longer than the longest run inside `body`, so nothing in
/// it can close the block.
pub fn fence_for(body: &str) -> String {
    "`".repeat(longest_backtick_run(body).max(2) + 1)
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Inline code that no content can break out of.
pub fn code(text: &str) -> String {
    let text = crate::render::visible(&text.replace(['\n', '\r'], " "));
    let fence = "`".repeat(longest_backtick_run(&text) + 1);
    format!("{fence} {text} {fence}")
}

/// Free text made inert: no HTML, no mentions.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('@', "&#64;")
        .replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod escaping {
    use super::cell;
    use crate::plan::{digest_marker, find_digest_marker};

    #[test]
    fn no_name_closes_a_marker_or_a_table_cell() {
        let marker = digest_marker(Some("dev -->\n<!-- plumb-digest:prod"), "sha256:ab");
        assert_eq!(
            marker,
            "<!-- plumb-digest:dev_--____--_plumb-digest_prod: sha256:ab -->"
        );
        assert_eq!(marker.matches("-->").count(), 1);
        assert_eq!(cell("a|b"), "` a\\|b `");
    }

    #[test]
    fn the_marker_written_is_the_marker_read() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let body = format!(
            "{}\n{}\n",
            digest_marker(None, &digest),
            digest_marker(Some("dev"), &digest)
        );
        assert_eq!(find_digest_marker(&body, None), Some(digest.as_str()));
        assert_eq!(find_digest_marker(&body, Some("dev")), Some(digest.as_str()));
        assert_eq!(find_digest_marker(&body, Some("prod")), None);
        let forged = digest_marker(None, "sha256:not-hex");
        assert_eq!(find_digest_marker(&forged, None), None);
    }
}
