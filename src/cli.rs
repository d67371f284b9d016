//! The command line (clap derive only; each subcommand calls one function in `commands`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "plumb",
    version,
    about = "AWS configuration kept in git: plan, apply, drift"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaOf {
    /// The tables of an environment's files (`[parameters."..."]`, `[alarms."..."]`, ...).
    Resources,
    /// plumb.toml.
    Config,
}

#[derive(Debug, clap::Args)]
pub struct Target {
    /// The desired-state folder (the one holding plumb.toml). Default: `desired/` found from
    /// the current folder upwards, as cargo and git find their roots.
    #[arg(long = "dir", value_name = "DIR")]
    pub dir_arg: Option<PathBuf>,
    /// The folder in use, set from `--dir` or found (see [`crate::load::find_desired`]).
    #[arg(skip)]
    pub dir: PathBuf,
    /// Environments to work on (repeatable); default: all in plumb.toml.
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
    /// Only the environments whose files changed since the merge base with REV (all of them
    /// when plumb.toml changed); plan and drift also mark each change as this branch's or as
    /// drift. Needs a git repository.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Show created and deleted documents (dashboard bodies, policies) in full in the terminal;
    /// by default each is one line with its size and a hash. Markdown and JSON always hold them.
    #[arg(long)]
    pub verbose: bool,
    /// Set by `plan --without-secrets`: values from the environment are not read.
    #[arg(skip)]
    pub without_secrets: bool,
    /// Set by plan and drift (unless `--no-cache`): live values may come from the local
    /// cache (`crate::cache`). Apply never uses it.
    #[arg(skip)]
    pub use_cache: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check desired/ offline: syntax, unknown keys, AWS's rules, scope. No AWS call.
    Validate {
        #[command(flatten)]
        target: Target,
    },
    /// Show what apply would change.
    Plan {
        #[command(flatten)]
        target: Target,
        /// How to show the plan: text for a terminal, Markdown for a PR or job summary, JSON
        /// for programs (the same as a plan file).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also save the plan (JSON, no secret values) for `plumb apply PLAN.json`.
        #[arg(long, value_name = "PLAN.json")]
        out: Option<PathBuf>,
        /// Exit 2 when there are changes.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Read no `value_from_env` variable (a pull request's plan job holds no secrets):
        /// those values are not compared, and the plan says so. Apply and drift compare them.
        #[arg(long)]
        without_secrets: bool,
        /// Read every live value from AWS, not from the local cache of values whose version
        /// has not changed (`PLUMB_CACHE_DIR`).
        #[arg(long)]
        no_cache: bool,
    },
    /// Make live AWS match desired/ (or carry out a saved plan, if nothing changed since).
    Apply {
        #[command(flatten)]
        target: Target,
        /// A plan saved by `plumb plan --out`; refused if live state or desired/ changed since.
        #[arg(value_name = "PLAN.json")]
        plan: Option<PathBuf>,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Apply only if the plan's digest is this one.
        #[arg(long, value_name = "sha256:...")]
        expect_digest: Option<String>,
        /// Allow up to N deletions and replacements (overrides max_deletes).
        #[arg(long, value_name = "N")]
        allow_deletes: Option<usize>,
        /// Write what was applied (and what failed) as JSON, for `plumb comment --apply-result`.
        #[arg(long, value_name = "REPORT.json")]
        report: Option<PathBuf>,
        /// Wait up to this many seconds for another apply's lock on an environment (default:
        /// refuse at once, exit 3).
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        lock_timeout: u64,
    },
    /// Write what live AWS holds in scope and desired/ does not declare yet as new TOML files
    /// (`desired/<env>/imported/`), so that the next plan shows no changes. Secrets are never
    /// written: they become `initial_value_from_env`.
    Import {
        #[command(flatten)]
        target: Target,
        /// Only these kinds, by table (`parameters`, `users`, ...); repeatable. Default: all.
        #[arg(long = "kind", value_name = "KIND")]
        kinds: Vec<String>,
        /// Print what would be written, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Line environments up resource by resource: what some have and others lack, and fields
    /// that differ (secrets never shown). Offline from desired/; `--live` compares live AWS.
    /// Exit 2 when anything differs.
    Compare {
        /// The environments to compare (two or more).
        #[arg(value_name = "ENV", num_args = 2.., required = true)]
        environments: Vec<String>,
        /// The desired-state folder (default: found from the current folder upwards).
        #[arg(long = "dir", value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Compare live AWS (read-only) instead of desired/; warns when two environments hold
        /// the same secret value.
        #[arg(long)]
        live: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// List the environments (those a branch changed, with --base) with their account and
    /// region: `--format json` is what a CI workflow builds its job matrix from.
    Environments {
        #[command(flatten)]
        target: Target,
        /// text: one line each; json: an array of `{"name", "account_id", "region"}`.
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
    /// Print a JSON Schema of desired/'s files, for editors (taplo, Even Better TOML): of an
    /// environment's files (`resources`) or of plumb.toml (`config`).
    Schema {
        #[arg(value_enum, default_value = "resources")]
        of: SchemaOf,
    },
    /// Print the completion script for a shell (`plumb completions bash`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print plumb's man page (roff): `plumb manpage > plumb.1`; with --out-dir, write it and
    /// one page per command (`plumb-plan.1`, ...) there.
    Manpage {
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Break an environment's apply lock (left behind by an apply that was killed).
    Unlock {
        /// The desired-state folder (default: found from the current folder upwards).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The environment whose lock to remove.
        #[arg(long = "env", value_name = "NAME")]
        env: String,
    },
    /// Report changes made outside git (exit 2 when there are any).
    Drift {
        #[command(flatten)]
        target: Target,
        /// How to show the plan: text for a terminal, Markdown for a PR or job summary, JSON
        /// for programs (the same as a plan file).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Keep one GitHub issue per drifted environment: open or update it, close it when
        /// the drift is gone (GitHub Actions' environment).
        #[arg(long)]
        issues: bool,
        /// Read every live value from AWS, not from the local value cache.
        #[arg(long)]
        no_cache: bool,
    },
    /// Post or update the plan comment on a pull request (GitHub Actions' environment).
    Comment {
        /// Plan files (`plumb plan --out`) to show in the one comment; repeatable.
        #[arg(long = "plan", value_name = "PLAN.json", required_unless_present_any = ["apply_result", "print_digest"])]
        plans: Vec<PathBuf>,
        /// The pull request; default: the one of `GITHUB_EVENT_PATH`.
        #[arg(long, value_name = "N")]
        pr: Option<u64>,
        /// The commit the plan was made at; default: `GITHUB_SHA`.
        #[arg(long, value_name = "SHA")]
        commit: Option<String>,
        /// Post the outcome of an apply (`plumb apply --report`) instead of a plan.
        #[arg(long, value_name = "REPORT.json", conflicts_with = "plans")]
        apply_result: Option<PathBuf>,
        /// Print the digest of the plan the pull request's comment shows (of one environment
        /// with --env), for `plumb apply --expect-digest`.
        #[arg(long, conflicts_with_all = ["plans", "apply_result"])]
        print_digest: bool,
        /// With --print-digest: the digest of this environment's part of the plan.
        #[arg(long = "env", value_name = "NAME", requires = "print_digest")]
        env: Option<String>,
    },
}
