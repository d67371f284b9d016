//! The edge to GitHub (octocrab), configured from GitHub Actions' standard environment:
//! `GITHUB_TOKEN`, `GITHUB_REPOSITORY`, `GITHUB_API_URL`, `GITHUB_EVENT_PATH`.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use octocrab::Octocrab;
use octocrab::models::IssueState;
use octocrab::params::State;

use crate::resource::mask;

pub struct GitHub {
    crab: Octocrab,
    owner: String,
    repo: String,
    /// The login whose comments and issues speak for plumb: the identity of the token plumb
    /// runs with. Anyone can write plumb's markers in a comment; only this author counts.
    trusted: String,
}

/// The author of what `GITHUB_TOKEN` writes in GitHub Actions. `GET /user` cannot tell it
/// (an installation token gets 403), so it is a default, overridden by `PLUMB_GITHUB_AUTHOR`
/// for a personal or GitHub App token.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// What happened to an environment's drift issue.
#[derive(Debug, PartialEq, Eq)]
pub enum DriftIssue {
    Opened(u64),
    Updated(u64),
    Closed(u64),
    None,
}

impl GitHub {
    pub fn from_env() -> Result<GitHub> {
        let token = std::env::var("GITHUB_TOKEN").context("`GITHUB_TOKEN` is not set")?;
        let repository =
            std::env::var("GITHUB_REPOSITORY").context("`GITHUB_REPOSITORY` is not set (owner/name)")?;
        let api = std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into());
        let trusted = std::env::var("PLUMB_GITHUB_AUTHOR")
            .ok()
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| ACTIONS_BOT.to_string());
        GitHub::new(&api, &token, &repository, &trusted)
    }

    pub fn new(api: &str, token: &str, repository: &str, trusted: &str) -> Result<GitHub> {
        let (owner, repo) = repository
            .split_once('/')
            .ok_or_else(|| anyhow!("`GITHUB_REPOSITORY` is `{repository}`, expected owner/name"))?;
        let crab = Octocrab::builder()
            .base_uri(api)
            .with_context(|| format!("`{api}` is not a GitHub API URL"))?
            .personal_token(token.to_string())
            .build()
            .context("cannot set up the GitHub client")?;
        Ok(GitHub {
            crab,
            owner: owner.into(),
            repo: repo.into(),
            trusted: trusted.to_string(),
        })
    }

    fn issues(&self) -> octocrab::issues::IssueHandler<'_> {
        self.crab.issues(&self.owner, &self.repo)
    }

    /// plumb's comment on `issue`: written by the trusted author and starting with `marker`
    /// (the oldest, if there are several): (id, body). Anyone else's comment is ignored,
    /// whatever markers it carries.
    pub async fn find_comment(&self, issue: u64, marker: &str) -> Result<Option<(u64, String)>> {
        let first = self
            .issues()
            .list_comments(issue)
            .per_page(100)
            .send()
            .await
            .context("cannot list the pull request's comments")?;
        let comments = self
            .crab
            .all_pages(first)
            .await
            .context("cannot list the pull request's comments")?;
        Ok(comments
            .into_iter()
            .filter(|c| c.user.login == self.trusted)
            .find_map(|c| {
                c.body
                    .filter(|b| b.starts_with(marker))
                    .map(|b| (c.id.into_inner(), b))
            }))
    }

    /// Edits the comment that carries `marker`, or creates it: one comment per pull request.
    pub async fn upsert_comment(&self, issue: u64, marker: &str, body: &str) -> Result<u64> {
        let body = &mask(body);
        match self.find_comment(issue, marker).await? {
            Some((id, _)) => {
                self.issues()
                    .update_comment(id.into(), body)
                    .await
                    .context("cannot update the plan comment")?;
                Ok(id)
            }
            None => {
                let comment = self
                    .issues()
                    .create_comment(issue, body)
                    .await
                    .context("cannot create the plan comment")?;
                Ok(comment.id.into_inner())
            }
        }
    }

    pub async fn post_comment(&self, issue: u64, body: &str) -> Result<u64> {
        let body = mask(body);
        let comment = self
            .issues()
            .create_comment(issue, body)
            .await
            .context("cannot comment on the pull request")?;
        Ok(comment.id.into_inner())
    }

    /// Sets the labels starting with `prefix` to exactly `wanted`, leaving other labels alone.
    pub async fn replace_labels(&self, issue: u64, prefix: &str, wanted: &[String]) -> Result<()> {
        let page = self
            .issues()
            .list_labels_for_issue(issue)
            .per_page(100)
            .send()
            .await
            .context("cannot read labels")?;
        let current: Vec<String> = page.items.into_iter().map(|l| l.name).collect();
        for label in current
            .iter()
            .filter(|l| l.starts_with(prefix) && !wanted.contains(l))
        {
            self.issues()
                .remove_label(issue, label)
                .await
                .with_context(|| format!("cannot remove label `{label}`"))?;
        }
        let missing: Vec<String> = wanted.iter().filter(|l| !current.contains(l)).cloned().collect();
        if !missing.is_empty() {
            self.issues()
                .add_labels(issue, &missing)
                .await
                .context("cannot add labels")?;
        }
        Ok(())
    }

    /// Opens or updates the drift issue titled `title` with `body`, or closes it when `body`
    /// is `None` (no drift any more).
    pub async fn sync_drift_issue(&self, title: &str, body: Option<&str>) -> Result<DriftIssue> {
        let body = body.map(mask);
        let body = body.as_deref();
        let labels = vec!["plumb:drift".to_string()];
        let first = self
            .issues()
            .list()
            .state(State::Open)
            .labels(&labels)
            .per_page(100)
            .send()
            .await
            .context("cannot list drift issues")?;
        let open = self
            .crab
            .all_pages(first)
            .await
            .context("cannot list drift issues")?;
        let existing = open
            .into_iter()
            .find(|i| i.title == title && i.pull_request.is_none() && i.user.login == self.trusted)
            .map(|i| i.number);
        match (existing, body) {
            (Some(number), Some(body)) => {
                self.issues()
                    .update(number)
                    .body(body)
                    .send()
                    .await
                    .context("cannot update the drift issue")?;
                Ok(DriftIssue::Updated(number))
            }
            (None, Some(body)) => {
                let issue = self
                    .issues()
                    .create(title)
                    .body(body)
                    .labels(labels)
                    .send()
                    .await
                    .context("cannot open a drift issue")?;
                Ok(DriftIssue::Opened(issue.number))
            }
            (Some(number), None) => {
                self.issues()
                    .update(number)
                    .state(IssueState::Closed)
                    .send()
                    .await
                    .context("cannot close the drift issue")?;
                Ok(DriftIssue::Closed(number))
            }
            (None, None) => Ok(DriftIssue::None),
        }
    }
}

/// The pull request number of the event that started the workflow (`GITHUB_EVENT_PATH`).
pub fn pr_number_from_event(path: &Path) -> Result<u64> {
    use std::io::Read as _;
    // GitHub's event files are a few kilobytes; anything else is read no further than this.
    const MAX_EVENT_BYTES: u64 = 16 * 1024 * 1024;
    let metadata =
        std::fs::metadata(path).with_context(|| format!("cannot read the event `{}`", path.display()))?;
    if !metadata.is_file() {
        bail!("the event `{}` is not a regular file", path.display());
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_EVENT_BYTES).read_to_string(&mut text))
        .with_context(|| format!("cannot read the event `{}`", path.display()))?;
    let event: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("`{}` is not JSON", path.display()))?;
    let number = event
        .pointer("/pull_request/number")
        .or_else(|| event.pointer("/issue/number"))
        .or_else(|| event.get("number"))
        .and_then(serde_json::Value::as_u64);
    match number {
        Some(number) => Ok(number),
        None => bail!(
            "the event in `{}` is not about a pull request: pass --pr N",
            path.display()
        ),
    }
}

/// The pull request number: `--pr`, else the event's.
pub fn pr_number(given: Option<u64>) -> Result<u64> {
    if let Some(number) = given {
        return Ok(number);
    }
    let path = std::env::var_os("GITHUB_EVENT_PATH")
        .ok_or_else(|| anyhow!("no --pr given and `GITHUB_EVENT_PATH` is not set"))?;
    pr_number_from_event(Path::new(&path))
}
