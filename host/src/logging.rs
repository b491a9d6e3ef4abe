//! poof's logger: one `log` backend for the terminal and the `--log-file`.
//!
//! Everything poof tells in words goes through the `log` facade: the results
//! (`Output::line`, level Info), each action (`-v`, Debug), detail such as
//! requests and plan internals (`-vv`, Trace), warnings and errors. On the
//! terminal, results and actions go to stdout as plain lines (never with
//! `--json`), warnings and errors to stderr as `poof: warning: ...`, and
//! detail to stderr as `poof: debug: ...`. The log file gets every record at
//! its level (at least the results, even with `-q`), each line stamped with
//! the time in RFC 3339 (UTC, milliseconds) and the level, and is rotated by
//! size when asked (`--log-file-max-size`, `--log-file-max-backups`, as
//! rclone's flags of the same names).
//!
//! Invariants: with `--json`, nothing of the logger reaches stdout; only
//! poof's own records are written (the dependencies' `log` records are
//! dropped); a line is written whole, under one lock, so threads never
//! interleave within a line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{Context as _, Result};
use log::{Level, LevelFilter, Log, Metadata, Record};

/// The target of poof's records; other targets (the dependencies') are dropped.
const TARGET: &str = "poof";

/// How much the terminal shows: `-q` (warnings and errors), default
/// (results), `-v` (each action), `-vv` (detail).
pub fn terminal_level(quiet: bool, verbose: u8) -> LevelFilter {
    match (quiet, verbose) {
        (true, _) => LevelFilter::Warn,
        (false, 0) => LevelFilter::Info,
        (false, 1) => LevelFilter::Debug,
        (false, _) => LevelFilter::Trace,
    }
}

/// Where and how much poof logs.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `-q`: the terminal shows only warnings and errors.
    pub quiet: bool,
    /// `-v` given this many times.
    pub verbose: u8,
    /// `--json`: results are JSON events, so no text reaches stdout.
    pub json: bool,
    /// `--log-file`.
    pub file: Option<PathBuf>,
    /// `--log-file-max-size`: rotate the file before it grows past this many bytes.
    pub max_size: Option<u64>,
    /// `--log-file-max-backups`: how many rotated files to keep.
    pub max_backups: usize,
}

/// Installs poof's logger for this process. Fails when the log file cannot
/// be opened (its folder is created when missing).
pub fn install(s: &Settings) -> Result<()> {
    let term = terminal_level(s.quiet, s.verbose);
    let file = match &s.file {
        Some(path) => Some(Mutex::new(Rotating::open(path, s.max_size, s.max_backups)?)),
        None => None,
    };
    let file_level = term.max(LevelFilter::Info);
    let max = if file.is_some() { file_level } else { term };
    let logger = Logger {
        term,
        json: s.json,
        file,
        file_level,
    };
    // A second install (none happens in poof) keeps the first logger.
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(max);
    }
    Ok(())
}

/// The backend behind the `log` facade.
struct Logger {
    /// The terminal's level.
    term: LevelFilter,
    /// With `--json`, results and actions are not printed as text.
    json: bool,
    /// The log file, when one was given.
    file: Option<Mutex<Rotating>>,
    /// The log file's level.
    file_level: LevelFilter,
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        is_poof(m.target())
            && (m.level() <= self.term || (self.file.is_some() && m.level() <= self.file_level))
    }

    fn log(&self, r: &Record) {
        if !is_poof(r.target()) {
            return;
        }
        let level = r.level();
        if level <= self.term {
            match level {
                Level::Error => eprintln!("poof: error: {}", r.args()),
                Level::Warn => eprintln!("poof: warning: {}", r.args()),
                Level::Info | Level::Debug => {
                    if !self.json {
                        crate::output::write_stdout(&format!("{}\n", r.args()));
                    }
                }
                Level::Trace => eprintln!("poof: debug: {}", r.args()),
            }
        }
        if let Some(file) = &self.file
            && level <= self.file_level
        {
            let line = file_line(SystemTime::now(), level, &r.args().to_string());
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            match file.write_line(&line) {
                // Said once, not for every line while it lasts (a full disk).
                Err(e) if !file.failing => {
                    file.failing = true;
                    // `{e:#}`: the cause too (`writing FILE: No space left on device`).
                    eprintln!(
                        "poof: warning: cannot write the log file {}: {e:#}; the lines that \
                         follow are not written to it either until it can be written again",
                        file.path.display()
                    );
                }
                Err(_) => {}
                Ok(()) => file.failing = false,
            }
        }
    }

    fn flush(&self) {
        if let Some(file) = &self.file {
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            let _ = file.file.flush();
        }
    }
}

/// True for poof's own records (the host library's modules and `poof`).
fn is_poof(target: &str) -> bool {
    target == TARGET || target.starts_with("poof::")
}

/// One line of the log file: `2025-01-02T03:04:05.678Z WARN  message`,
/// with any line break of the message indented, so each record starts a line.
pub fn file_line(at: SystemTime, level: Level, msg: &str) -> String {
    let label = match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN ",
        Level::Info => "INFO ",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    };
    format!("{} {label} {}\n", rfc3339(at), msg.replace('\n', "\n    "))
}

/// `at` in RFC 3339, UTC, with milliseconds: `2025-01-02T03:04:05.678Z`.
pub fn rfc3339(at: SystemTime) -> String {
    use aws_smithy_types::date_time::{DateTime, Format};
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let whole = DateTime::from_secs(since.as_secs() as i64)
        .fmt(Format::DateTime)
        .unwrap_or_default();
    let base = whole.strip_suffix('Z').unwrap_or(&whole);
    format!("{base}.{:03}Z", since.subsec_millis())
}

/// A log file that is appended to, and rotated by size: before a line would
/// take it past `max_size`, `FILE.(N-1)` becomes `FILE.N` and so on down,
/// `FILE` becomes `FILE.1`, and a new `FILE` is started; at most
/// `max_backups` rotated files are kept (0: all, as rclone's
/// `--log-file-max-backups`).
#[derive(Debug)]
pub struct Rotating {
    /// The file's path.
    path: PathBuf,
    /// The open file.
    file: File,
    /// Its size so far.
    size: u64,
    /// Rotate before the file grows past this; `None`: never.
    max_size: Option<u64>,
    /// Rotated files kept (0: all).
    max_backups: usize,
    /// The last line could not be written (and that was said).
    failing: bool,
}

impl Rotating {
    /// Opens (or creates) `path` for appending.
    pub fn open(path: &Path, max_size: Option<u64>, max_backups: usize) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the log file's folder {}", dir.display()))?;
        }
        let file = append(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Rotating {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_backups,
            failing: false,
        })
    }

    /// The name of the `n`th rotated file: `poof.log.1` is the newest.
    pub fn backup_name(path: &Path, n: usize) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Appends one line, rotating first when it would not fit.
    pub fn write_line(&mut self, line: &str) -> Result<()> {
        let len = line.len() as u64;
        if let Some(max) = self.max_size
            && self.size > 0
            && self.size + len > max
        {
            self.rotate()?;
        }
        self.file
            .write_all(line.as_bytes())
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.size += len;
        Ok(())
    }

    /// Shifts the rotated files by one and starts a new file.
    fn rotate(&mut self) -> Result<()> {
        let _ = self.file.flush();
        let keep = if self.max_backups > 0 {
            let _ = std::fs::remove_file(Self::backup_name(&self.path, self.max_backups));
            self.max_backups
        } else {
            // All of them: shift from the oldest there is.
            (1..)
                .find(|&n| !Self::backup_name(&self.path, n).exists())
                .unwrap_or(1)
        };
        for n in (1..keep).rev() {
            let from = Self::backup_name(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, Self::backup_name(&self.path, n + 1))
                    .with_context(|| format!("rotating {}", from.display()))?;
            }
        }
        std::fs::rename(&self.path, Self::backup_name(&self.path, 1))
            .with_context(|| format!("rotating {}", self.path.display()))?;
        self.file = append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Opens `path` for appending, creating it (mode 0600: a log names files
/// and folders) when missing.
fn append(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening the log file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use log::{Level, LevelFilter};

    use super::{Rotating, file_line, rfc3339, terminal_level};

    #[test]
    fn levels_follow_the_flags() {
        assert_eq!(terminal_level(true, 0), LevelFilter::Warn);
        assert_eq!(terminal_level(true, 2), LevelFilter::Warn);
        assert_eq!(terminal_level(false, 0), LevelFilter::Info);
        assert_eq!(terminal_level(false, 1), LevelFilter::Debug);
        assert_eq!(terminal_level(false, 2), LevelFilter::Trace);
        assert_eq!(terminal_level(false, 9), LevelFilter::Trace);
    }

    #[test]
    fn lines_are_stamped_in_rfc3339() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_735_787_045_678);
        assert_eq!(rfc3339(at), "2025-01-02T03:04:05.678Z");
        assert_eq!(
            file_line(at, Level::Warn, "two\nlines"),
            "2025-01-02T03:04:05.678Z WARN  two\n    lines\n"
        );
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn the_file_rotates_by_size_and_keeps_n_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/poof.log");
        let read = |n: usize| {
            let p = if n == 0 {
                path.clone()
            } else {
                Rotating::backup_name(&path, n)
            };
            std::fs::read_to_string(p).ok()
        };
        let mut log = Rotating::open(&path, Some(20), 2).unwrap();
        for i in 0..5 {
            // Each line is 9 bytes: two fit in one file of 20.
            log.write_line(&format!("line {i:03}\n")).unwrap();
        }
        assert_eq!(read(0).as_deref(), Some("line 004\n"));
        assert_eq!(read(1).as_deref(), Some("line 002\nline 003\n"));
        assert_eq!(read(2).as_deref(), Some("line 000\nline 001\n"));
        log.write_line("line 005\n").unwrap();
        log.write_line("line 006\n").unwrap();
        // The oldest file went; never more than two backups.
        assert_eq!(read(0).as_deref(), Some("line 006\n"));
        assert_eq!(read(1).as_deref(), Some("line 004\nline 005\n"));
        assert_eq!(read(2).as_deref(), Some("line 002\nline 003\n"));
        assert_eq!(read(3), None);

        // Reopened, it goes on from the size it has; a line longer than the
        // limit is written whole, alone in its file.
        drop(log);
        let mut log = Rotating::open(&path, Some(20), 2).unwrap();
        log.write_line("a line much longer than twenty bytes\n")
            .unwrap();
        assert_eq!(
            read(0).as_deref(),
            Some("a line much longer than twenty bytes\n")
        );
        assert_eq!(read(1).as_deref(), Some("line 006\n"));

        // With 0 backups, every rotated file is kept.
        let other = dir.path().join("other.log");
        let mut log = Rotating::open(&other, Some(10), 0).unwrap();
        for line in ["0123456789\n", "abc\n", "def\n", "0123456789\n"] {
            log.write_line(line).unwrap();
        }
        let read = |n| std::fs::read_to_string(Rotating::backup_name(&other, n)).unwrap();
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "0123456789\n");
        assert_eq!(read(1), "abc\ndef\n");
        assert_eq!(read(2), "0123456789\n");
        assert!(!Rotating::backup_name(&other, 3).exists());
    }
}
