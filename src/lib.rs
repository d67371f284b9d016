//! plumb keeps part of an AWS account's configuration in git.
//!
//! # The flow
//!
//! ```text
//!  load ──────────► fetch ─────────► plan ──────────► render ─────────► apply
//!  load.rs          kinds/**/*.rs    engine.rs        render/*.rs       apply.rs
//!  desired/ TOML    live AWS,        pure: desired    text, Markdown,   AWS writes in
//!  → typed specs    in scope only    + live → Plan    JSON (no I/O)     dependency order
//! ```
//!
//! - [`cli`] parses arguments (clap derive only); [`commands`] has one function per
//!   subcommand, each a thin wrapper around [`pipeline`] (load → fetch → plan, execute) and
//!   [`output`].
//! - [`kinds`] holds one module per resource kind, grouped by service, behind the typed
//!   [`kinds::Kind`] contract ([`kinds::contract`]: a TOML declaration, one spec for both
//!   sides, typed operations) and the registry whose order is the dependency order. The engine,
//!   renderers and executor see kinds through [`kinds::DynKind`] only.
//! - [`source`] holds a declaration's [`source::Entry`] and the diagnostics that point into
//!   `desired/`; [`scope`] reads each environment's scope by the kinds' rules.
//! - [`resource`] is the kind-neutral shape both sides are compared in; [`plan`] is the plan as
//!   plain data with its digest; [`planfile`] reads and writes plan files; [`refusal`] says
//!   why plumb refuses (exit 3); [`aws`] is the edge to the SDK (sessions, errors, pacing).
//! - [`import`] writes live objects as declarations (`plumb import`).
//! - Secrets live in [`resource::Secret`], which cannot be printed or serialised; the plan
//!   never holds one.
//! - The pull-request flow sits at the edges too: [`git`] (git2) finds what a branch changed
//!   and reads the base's desired/ for `--base`; [`comment`] composes what is posted (pure);
//!   [`github`] (octocrab) posts it.

pub mod apply;
pub mod aws;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod comment;
pub mod compare;
pub mod config;
pub mod engine;
pub mod error;
pub mod git;
pub mod github;
pub mod glob;
pub mod import;
pub mod interrupt;
pub mod kinds;
pub mod load;
pub mod lock;
pub mod naming;
pub mod output;
pub mod pipeline;
pub mod placeholders;
pub mod plan;
pub mod planfile;
pub mod refusal;
pub mod render;
pub mod resource;
pub mod schema;
pub mod scope;
pub mod source;
pub mod suggest;
