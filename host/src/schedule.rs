//! Unattended runs: a line in the user's crontab, a systemd user timer, or a
//! launchd agent, each running `poof backup` every so often and appending
//! its output to poof's log file (`CONFDIR/poof.log`).
//!
//! Invariants:
//! - only what poof wrote is touched: the crontab block between poof's two
//!   marker comments, the units `poof.service` and `poof.timer` (and the
//!   `timers.target.wants` link to the timer), the plist `org.pypi.poof.plist`;
//! - installing twice replaces, never duplicates; removing what is not there
//!   succeeds;
//! - the files are written even when the scheduler cannot be told (no user
//!   systemd session, say), and the run says what the user must do.
//!
//! Each scheduler lives in its own module (`cron`, `systemd`, `launchd`)
//! behind the `Scheduler` trait; this module keeps what they share and
//! dispatches `install`, `status` and `remove` to the one `Kind` names.
//!
//! Test hook: the crontab program is `$POOF_CRONTAB` when set (tests point
//! it to a fake that keeps the table in a file), else `crontab`.

mod cron;
mod launchd;
mod systemd;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

pub use cron::{CRON_BEGIN, CRON_END, cron_block, cron_fields, strip_cron_block};
pub use launchd::{LAUNCHD_LABEL, launchd_path, launchd_plist};
pub use systemd::{systemd_dir, systemd_units};

/// Which scheduler holds the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A line in the current user's crontab.
    Cron,
    /// A systemd user timer (~/.config/systemd/user/poof.timer).
    Systemd,
    /// A launchd agent (~/Library/LaunchAgents/org.pypi.poof.plist), macOS only.
    Launchd,
}

impl Kind {
    /// Every kind, for `status`, `remove` and `neuter`.
    pub const ALL: [Kind; 3] = [Kind::Cron, Kind::Systemd, Kind::Launchd];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cron => "cron",
            Kind::Systemd => "systemd",
            Kind::Launchd => "launchd",
        }
    }

    /// The scheduler this machine uses: launchd on macOS, a systemd user
    /// timer where systemd runs, cron elsewhere.
    pub fn default_here() -> Kind {
        if cfg!(target_os = "macos") {
            Kind::Launchd
        } else if Path::new("/run/systemd/system").is_dir() {
            Kind::Systemd
        } else {
            Kind::Cron
        }
    }
}

/// How often a scheduled run happens, in seconds (at least a minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every(pub u64);

impl Every {
    /// poof 1.x's interval: every 6 hours.
    pub const DEFAULT: Every = Every(6 * 3600);
}

/// Parses `--every`: a number with `m`, `h` or `d` (e.g. `30m`, `6h`, `1d`).
pub fn parse_every(s: &str) -> Result<Every, String> {
    let bad =
        || format!("{s:?} is not an interval; write minutes, hours or days, like 30m, 6h or 1d");
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "m" | "min" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    if !(60..=30 * 86_400).contains(&secs) {
        return Err(format!("{s:?}: choose an interval from 1m to 30d"));
    }
    Ok(Every(secs))
}

/// What a scheduled run executes.
#[derive(Debug, Clone)]
pub struct Job {
    /// The poof binary.
    pub bin: PathBuf,
    /// Its arguments (global flags, `log_flags`, then `backup`).
    pub args: Vec<String>,
    /// How often.
    pub every: Every,
}

/// The size at which a scheduled run's log file is rotated.
pub const LOG_MAX_SIZE: &str = "5M";

/// How many rotated log files scheduled runs keep (`poof.log.1` the newest).
pub const LOG_MAX_BACKUPS: usize = 3;

/// The flags that make a scheduled run log to `log` (with time stamps,
/// rotated at `LOG_MAX_SIZE`, `LOG_MAX_BACKUPS` old files kept) and keep
/// its terminal output, which no one reads, to warnings and errors. The
/// schedulers discard stdout; stderr goes where each sends it (cron's
/// mail, systemd's journal).
pub fn log_flags(log: &std::path::Path) -> Vec<String> {
    vec![
        "-q".into(),
        "--log-file".into(),
        log.display().to_string(),
        "--log-file-max-size".into(),
        LOG_MAX_SIZE.into(),
        "--log-file-max-backups".into(),
        LOG_MAX_BACKUPS.to_string(),
    ]
}

/// An interval in words: `30m`, `6h`, `1d`.
pub fn human_every(e: Every) -> String {
    match e.0 {
        s if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}

/// What an install or a removal did, and what the user should know.
#[derive(Debug, Default)]
pub struct Done {
    /// What was done, one line each.
    pub did: Vec<String>,
    /// What did not work but is no failure of the entry itself.
    pub warnings: Vec<String>,
}

/// One scheduler: where its entry lives and how it is installed, looked at
/// and removed.
trait Scheduler {
    /// The files the entry consists of (empty when it lives elsewhere, as a
    /// crontab line does).
    fn files(&self) -> Vec<PathBuf>;
    /// Installs (or replaces) the entry for `job`.
    fn install(&self, job: &Job, dry_run: bool) -> Result<Done>;
    /// Whether the entry is installed, in words when it is: by default,
    /// which of its files exist.
    fn status(&self) -> Result<Option<String>> {
        Ok(present_files(self.files()))
    }
    /// Removes the entry, if there is one.
    fn remove(&self, dry_run: bool) -> Result<Done>;
}

/// The scheduler of `kind`.
fn scheduler(kind: Kind) -> &'static dyn Scheduler {
    match kind {
        Kind::Cron => &cron::Cron,
        Kind::Systemd => &systemd::Systemd,
        Kind::Launchd => &launchd::Launchd,
    }
}

/// The files a kind of entry consists of (empty for cron, which lives in
/// the crontab).
pub fn files_of(kind: Kind) -> Vec<PathBuf> {
    scheduler(kind).files()
}

/// Runs a helper program; returns its error output when it failed.
fn try_run(prog: &str, args: &[&str]) -> Result<(), String> {
    match Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Err(format!("cannot run {prog}: {e}")),
    }
}

/// Writes `text` to `path`, creating its folder first.
fn write_file(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().expect("a unit file has a folder");
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Those of `files` that exist (a dangling link counts), comma-separated;
/// `None` when none does.
fn present_files(files: Vec<PathBuf>) -> Option<String> {
    let present: Vec<String> = files
        .into_iter()
        .filter(|p| fs::symlink_metadata(p).is_ok())
        .map(|p| p.display().to_string())
        .collect();
    (!present.is_empty()).then(|| present.join(", "))
}

/// Removes those of `files` that exist, or only says it would when
/// `dry_run`; one line in `done` each.
fn remove_files(files: &[PathBuf], dry_run: bool, done: &mut Done) -> Result<()> {
    let did = if dry_run { "would remove" } else { "removed" };
    for f in files {
        if fs::symlink_metadata(f).is_ok() {
            if !dry_run {
                fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
            }
            done.did.push(format!("{did} {}", f.display()));
        }
    }
    Ok(())
}

/// Installs (or replaces) the entry of `kind` for `job`.
pub fn install(kind: Kind, job: &Job, dry_run: bool) -> Result<Done> {
    scheduler(kind).install(job, dry_run)
}

/// Whether an entry of `kind` is installed, in words when it is.
pub fn status(kind: Kind) -> Result<Option<String>> {
    scheduler(kind).status()
}

/// Removes the entry of `kind`, if there is one.
pub fn remove(kind: Kind, dry_run: bool) -> Result<Done> {
    scheduler(kind).remove(dry_run)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job with a space in the binary's path, as the schedulers' tests use.
    pub(super) fn job() -> Job {
        Job {
            bin: "/opt/po of/poof".into(),
            args: vec![
                "--confdir".into(),
                "/home/j/.config/poof".into(),
                "backup".into(),
            ],
            every: Every::DEFAULT,
        }
    }

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_every("6h"), Ok(Every(21_600)));
        assert_eq!(parse_every("30m"), Ok(Every(1800)));
        assert_eq!(parse_every("1d"), Ok(Every(86_400)));
        for bad in ["", "6", "h", "6x", "0m", "31d", "-1h"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }
}
