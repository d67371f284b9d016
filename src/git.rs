//! The edge to git (git2): what a pull request changed in `desired/`, and the base's
//! `desired/` read from git objects (no checkout, the work tree is left alone).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use git2::{ObjectType, Repository, Tree};
use tempfile::TempDir;

/// What `--base REV` found.
pub struct Base {
    /// Environments whose files changed between the merge base and HEAD; `None` when
    /// `plumb.toml` changed (then every environment is affected).
    pub changed: Option<BTreeSet<String>>,
    /// The merge base's `desired/`, written out of git objects (absent if it had none).
    pub desired: Option<TempDir>,
    /// The merge base's commit id, for messages.
    pub merge_base: String,
}

impl Base {
    pub fn desired_dir(&self) -> Option<&Path> {
        self.desired.as_ref().map(TempDir::path)
    }
}

pub fn open(dir: &Path, base: &str) -> Result<Base> {
    let repo = Repository::discover(dir)
        .with_context(|| format!("`{}` is not inside a git repository", dir.display()))?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| anyhow!("the repository has no work tree"))?;
    let relative = relative_to(dir, workdir)?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .context("cannot read HEAD")?;
    let base_commit = repo
        .revparse_single(base)
        .and_then(|o| o.peel_to_commit())
        .with_context(|| format!("cannot find the base revision `{base}`"))?;
    let merge_base = repo
        .merge_base(head.id(), base_commit.id())
        .with_context(|| format!("HEAD and `{base}` have no common ancestor"))?;
    let old_tree = repo.find_commit(merge_base)?.tree()?;
    let new_tree = head.tree()?;
    let changed = changed_environments(&repo, &old_tree, &new_tree, &relative)?;
    let desired = match old_tree.get_path(&relative) {
        Ok(entry) => {
            let tree = entry
                .to_object(&repo)?
                .peel_to_tree()
                .context("the base's desired/ is not a folder")?;
            let out = tempfile::tempdir().context("cannot make a temporary folder")?;
            write_tree(&repo, &tree, out.path())?;
            Some(out)
        }
        Err(_) => None,
    };
    Ok(Base {
        changed,
        desired,
        merge_base: merge_base.to_string(),
    })
}

/// `dir` relative to the repository's work tree.
fn relative_to(dir: &Path, workdir: &Path) -> Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot find `{}`", dir.display()))?;
    let workdir = workdir.canonicalize()?;
    dir.strip_prefix(&workdir)
        .map(Path::to_path_buf)
        .map_err(|_| anyhow!("`{}` is outside the repository", dir.display()))
}

fn changed_environments(
    repo: &Repository,
    old: &Tree,
    new: &Tree,
    desired: &Path,
) -> Result<Option<BTreeSet<String>>> {
    let diff = repo
        .diff_tree_to_tree(Some(old), Some(new), None)
        .context("cannot diff the base and HEAD")?;
    let mut environments = BTreeSet::new();
    for delta in diff.deltas() {
        for path in [delta.old_file().path(), delta.new_file().path()]
            .into_iter()
            .flatten()
        {
            let Ok(inside) = path.strip_prefix(desired) else {
                continue;
            };
            let mut parts = inside.components();
            match (parts.next(), parts.next()) {
                (Some(Component::Normal(file)), None) if file == "plumb.toml" => return Ok(None),
                (Some(Component::Normal(env)), Some(_)) => {
                    environments.insert(env.to_string_lossy().into_owned());
                }
                _ => {}
            }
        }
    }
    Ok(Some(environments))
}

fn write_tree(repo: &Repository, tree: &Tree, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    for entry in tree.iter() {
        let name = entry
            .name()
            .ok_or_else(|| anyhow!("a file name in git is not UTF-8"))?;
        let target = out.join(name);
        match entry.kind() {
            Some(ObjectType::Tree) => write_tree(repo, &entry.to_object(repo)?.peel_to_tree()?, &target)?,
            Some(ObjectType::Blob) => {
                let blob = entry.to_object(repo)?.peel_to_blob()?;
                std::fs::write(&target, blob.content())
                    .with_context(|| format!("cannot write `{}`", target.display()))?;
            }
            _ => {}
        }
    }
    Ok(())
}
