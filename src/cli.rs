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

#[derive(Debug, clap::Args)]
pub struct Target {
    /// The desired-state folder.
    #[arg(long, default_value = "desired")]
    pub dir: PathBuf,
    /// Environments to work on (repeatable); default: all in plumb.toml.
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
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
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also save the plan (JSON, no secret values) for `plumb apply PLAN.json`.
        #[arg(long, value_name = "PLAN.json")]
        out: Option<PathBuf>,
        /// Exit 2 when there are changes.
        #[arg(long)]
        detailed_exitcode: bool,
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
    },
    /// Report changes made outside git (exit 2 when there are any).
    Drift {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}
