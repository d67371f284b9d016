//! Exit codes, decided in one place.

use std::process::ExitCode;

use crate::refusal::Refusal;

/// What a command ended with, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Success, nothing to change.
    Clean,
    /// Success, with changes present (plan/drift with --detailed-exitcode; drift always).
    Changes,
}

pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;
pub const EXIT_REFUSED: u8 = crate::refusal::EXIT_CODE;
/// A command-line usage error (EX_USAGE): no success path uses it, so a mistyped flag in a CI
/// script is never read as "changes present".
pub const EXIT_USAGE: u8 = 64;
/// Interrupted by SIGINT or SIGTERM (128 + 2, the shell's convention).
pub const EXIT_INTERRUPTED: u8 = 130;

/// An apply stopped by a signal: what was done and what was not has been reported.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// Prints clap's message; `--help` and `--version` are successes, anything else exit 64.
pub fn usage_error(error: &clap::Error) -> ExitCode {
    let _ = error.print();
    if error.use_stderr() {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    }
}

pub fn exit_code(result: &anyhow::Result<Status>) -> ExitCode {
    match result {
        Ok(Status::Clean) => ExitCode::SUCCESS,
        Ok(Status::Changes) => ExitCode::from(EXIT_CHANGES),
        Err(error) if error.is::<Refusal>() => ExitCode::from(EXIT_REFUSED),
        Err(error) if error.is::<Interrupted>() => ExitCode::from(EXIT_INTERRUPTED),
        Err(_) => ExitCode::from(EXIT_ERROR),
    }
}
