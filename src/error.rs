//! Exit codes, decided in one place.

use std::process::ExitCode;

/// A refusal: plumb could have gone on but must not (stale plan, digest mismatch, deletion
/// guard, protected resource, wrong account). Exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

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
pub const EXIT_REFUSED: u8 = 3;

pub fn exit_code(result: &anyhow::Result<Status>) -> ExitCode {
    match result {
        Ok(Status::Clean) => ExitCode::SUCCESS,
        Ok(Status::Changes) => ExitCode::from(EXIT_CHANGES),
        Err(error) if error.is::<Refused>() => ExitCode::from(EXIT_REFUSED),
        Err(_) => ExitCode::from(EXIT_ERROR),
    }
}
