//! What plumb posts on GitHub, composed from plan data (pure: no I/O): the one plan comment
//! per pull request, the apply result, the drift issue of an environment, and the labels.
//!
//! GitHub refuses comments over 65,536 characters. The summary table, the warnings and the
//! digest markers always fit; environment details are added while they fit, the last one cut
//! at a line, and the comment then says where the full plan is (the job summary).

use serde::{Deserialize, Serialize};

use crate::plan::{Action, EnvPlan, Plan};
use crate::render::markdown::{self, code};
use crate::render::text::drift_counts;

/// Marks plumb's plan comment, so each run edits it instead of adding another.
pub const PLAN_MARKER: &str = "<!-- plumb:plan -->";
/// GitHub's limit on a comment or issue body, in characters.
pub const GITHUB_LIMIT: usize = 65_536;
/// Room kept for the truncation notice and the closing of the last block.
const SLACK: usize = 1_000;

/// The labels that say what a plan does; every other `plumb:` label is removed.
pub const LABEL_PREFIX: &str = "plumb:";

pub fn labels(plan: &Plan) -> Vec<String> {
    if !plan.has_changes() {
        return vec!["plumb:no-changes".into()];
    }
    let mut labels = vec!["plumb:changes".to_string()];
    if plan
        .changes()
        .any(|c| matches!(c.action, Action::Delete | Action::Replace))
    {
        labels.push("plumb:destroy".into());
    }
    labels
}

/// The plan comment for a pull request, at most `limit` characters.
pub fn plan_comment(plan: &Plan, commit: Option<&str>, limit: usize) -> String {
    let mut head = format!("{PLAN_MARKER}\n### plumb plan\n\n");
    if let Some(commit) = commit {
        head.push_str(&format!("Planned at commit {}.\n\n", code(commit)));
    }
    head.push_str(&markdown::summary(plan));
    let footer = markdown::digest_footer(plan);
    let mut details = String::new();
    let mut left_out = 0;
    for env in plan
        .environments
        .iter()
        .filter(|e| !e.changes.is_empty() || !e.notes.is_empty())
    {
        let room = limit.saturating_sub(head.len() + footer.len() + details.len() + SLACK);
        if room < 2 * SLACK {
            left_out += 1;
            continue;
        }
        details.push_str(&markdown::env_details(env, room));
    }
    if left_out > 0 {
        details.push_str(&format!(
            "_{left_out} environment(s) not shown: the comment would be over GitHub's limit. The full plan is in the job summary of this run._\n\n"
        ));
    }
    fit(format!("{head}{details}{footer}"), &head, &footer, limit)
}

/// The last guard of the limit: a plan whose summary and markers alone are over it (thousands
/// of environments) keeps the head and as many markers as fit. An environment whose marker
/// is left out has no digest on the PR, so apply refuses it rather than guessing.
fn fit(comment: String, head: &str, footer: &str, limit: usize) -> String {
    if comment.len() <= limit {
        return comment;
    }
    let notice =
        "\n_The plan is too large for a comment: the full plan is in the job summary of this run._\n\n";
    let mut out = String::new();
    for line in head.lines() {
        if out.len() + line.len() + notice.len() + SLACK > limit / 2 {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(notice);
    for line in footer.lines() {
        if out.len() + line.len() + 1 > limit {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// What `plumb apply --report` writes and `plumb comment --apply-result` posts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplyReport {
    pub digest: String,
    pub environments: Vec<String>,
    pub applied: usize,
    pub failures: Vec<String>,
    /// Changes not started because a signal stopped the apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_started: Vec<String>,
    /// Changes in flight when plumb stopped: their state is unknown until the next plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<String>,
}

impl ApplyReport {
    pub fn interrupted(&self) -> bool {
        !self.not_started.is_empty() || !self.in_flight.is_empty()
    }
}

pub fn apply_comment(report: &ApplyReport) -> String {
    let environments: Vec<String> = report.environments.iter().map(|e| code(e)).collect();
    let mut out = if report.interrupted() {
        format!(
            "### plumb apply: interrupted\n\n{} change(s) made, {} failed, {} not started, {} in flight when it stopped, in {}; run the apply again to finish.\n\n",
            report.applied,
            report.failures.len(),
            report.not_started.len(),
            report.in_flight.len(),
            environments.join(", ")
        )
    } else if report.failures.is_empty() {
        format!(
            "### plumb apply: done\n\n{} change(s) made in {}.\n\n",
            report.applied,
            environments.join(", ")
        )
    } else {
        format!(
            "### plumb apply: {} change(s) failed\n\n{} change(s) made in {}; run the apply again once the cause is fixed.\n\n",
            report.failures.len(),
            report.applied,
            environments.join(", ")
        )
    };
    if !report.failures.is_empty() {
        let body = report.failures.join("\n");
        let fence = markdown::fence_for(&body);
        out.push_str(&format!("{fence}\n{body}\n{fence}\n\n"));
    }
    out.push_str(&format!("Plan digest: {}\n", code(&report.digest)));
    truncate(out, GITHUB_LIMIT)
}

/// The title of an environment's drift issue: how plumb finds it again.
pub fn drift_issue_title(environment: &str) -> String {
    format!("plumb: drift in {environment}")
}

pub fn drift_issue_body(env: &EnvPlan) -> String {
    let counts = drift_counts(env);
    let mut out = format!(
        "### Drift in {}\n\nLive AWS no longer matches `desired/`: {} changed, {} missing, {} unmanaged in scope. \
         Either bring `desired/` in line with a pull request, or run `plumb apply` to put AWS back. \
         This issue closes by itself once the drift is gone.\n\n",
        code(&env.label()),
        counts.changed,
        counts.missing,
        counts.unmanaged
    );
    let room = GITHUB_LIMIT.saturating_sub(out.len() + SLACK);
    out.push_str(&markdown::env_details(env, room));
    truncate(out, GITHUB_LIMIT)
}

fn truncate(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut cut = limit - 100;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n\n_(cut at GitHub's limit)_\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{GITHUB_LIMIT, plan_comment};
    use crate::plan::{Action, Change, EnvPlan, Plan};

    fn deletion(name: String) -> Change {
        Change {
            action: Action::Delete,
            kind: "parameter".into(),
            name,
            fields: Vec::new(),
            reason: Some("not declared in desired/".into()),
            computed_against: None,
            source: None,
        }
    }

    fn env(name: String, deletions: usize) -> EnvPlan {
        EnvPlan {
            environment: name,
            replica: false,
            account_id: None,
            region: "us-east-1".into(),
            changes: (0..deletions)
                .map(|i| deletion(format!("/dev/{}/{i}", "x".repeat(1000))))
                .collect(),
            notes: (0..deletions).map(|i| format!("note {i}")).collect(),
        }
    }

    #[test]
    fn an_interrupted_apply_is_not_reported_as_done() {
        let report = super::ApplyReport {
            digest: "sha256:x".into(),
            environments: vec!["dev".into()],
            applied: 16,
            failures: Vec::new(),
            not_started: vec!["dev: create parameter `/dev/app/p20`".into()],
            in_flight: Vec::new(),
        };
        let comment = super::apply_comment(&report);
        assert!(comment.starts_with("### plumb apply: interrupted"), "{comment}");
        assert!(
            comment.contains("16 change(s) made, 0 failed, 1 not started"),
            "{comment}"
        );
    }

    #[test]
    fn any_plan_fits_in_one_comment() {
        let huge = Plan::new(vec![env("dev".into(), 3_000)]);
        let comment = plan_comment(&huge, Some("abc"), GITHUB_LIMIT);
        assert!(comment.len() <= GITHUB_LIMIT, "{}", comment.len());
        assert!(comment.contains("and 2970 more"), "the warning list is capped");
        assert!(comment.contains("<!-- plumb-digest:dev: sha256:"));

        let many: Vec<EnvPlan> = (0..2_000).map(|i| env(format!("env-{i}"), 2)).collect();
        let comment = plan_comment(&Plan::new(many), None, GITHUB_LIMIT);
        assert!(comment.len() <= GITHUB_LIMIT, "{}", comment.len());
        assert!(comment.starts_with("<!-- plumb:plan -->"));
    }
}
