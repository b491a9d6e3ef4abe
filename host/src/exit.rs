//! poof's exit codes, in one place. They are part of the interface: scripts
//! and schedulers act on them, and the man page lists them.

use std::process::ExitCode;

/// How a poof run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Success = 0,
    /// The run went through, but some files or paths failed; details were printed.
    Partial = 1,
    /// The command line or a config file is wrong; nothing was changed.
    Config = 2,
    /// A safety rule refused the run; nothing was changed.
    Refused = 3,
}

impl Exit {
    /// Every exit code with what it means, for the man page's EXIT STATUS.
    pub const ALL: [(Exit, &'static str); 4] = [
        (Exit::Success, "Everything asked for was done."),
        (
            Exit::Partial,
            "The run went through, but some files or paths failed (each is named), or the \
             remote could not be reached; poof check also ends so when a file differs.",
        ),
        (
            Exit::Config,
            "The command line or a config file is wrong (a usage error); nothing was changed.",
        ),
        (
            Exit::Refused,
            "A safety rule refused the run or one of its paths (a guard on deletions or \
             overwrites, an encrypted folder's manifest older than the one this machine knows, \
             another poof run holding the lock, neuter after a partial upload); nothing was \
             changed on what was refused.",
        ),
    ];
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// An error in the user's configuration or command line (exit code 2).
///
/// The message names the file or flag and says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A run refused by a safety rule (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Maps an error to its exit code by looking for the two typed causes.
pub fn classify(err: &anyhow::Error) -> Exit {
    if err.chain().any(|e| e.is::<ConfigError>()) {
        Exit::Config
    } else if err.chain().any(|e| e.is::<Refused>()) {
        Exit::Refused
    } else {
        Exit::Partial
    }
}
