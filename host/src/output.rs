//! What poof tells the user, and where: results on stdout, warnings and
//! errors on stderr, each prefixed so that logs read well; with `--json`,
//! one JSON object per line on stdout instead of the text results. What a
//! sync, an upload or a check reports is an `Event` (output/event.rs), which
//! `Output::emit` renders as text or as JSON. Text goes through the `log`
//! facade (logging.rs), which also writes it to the `--log-file`.
//!
//! Invariant: with `--json`, stdout carries nothing but JSON lines.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

mod event;
mod progress;

use event::Piece;
pub use event::{Event, Found};

/// The user-facing output of one run (the default: text, neither verbose nor quiet).
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    /// Print what each action did (`-v` or more).
    pub verbose: bool,
    /// Print only warnings and errors.
    pub quiet: bool,
    /// Print JSON lines instead of text results.
    pub json: bool,
    /// `--progress` (`Some(true)`) or `--no-progress` (`Some(false)`);
    /// `None`: a bar only on a terminal, without `--quiet` or `--json`.
    pub progress: Option<bool>,
}

impl Output {
    /// A line of the main result (the plan, a summary): on stdout unless
    /// `--quiet` or `--json`, and in the log file.
    pub fn line(&self, s: &str) {
        log::info!(target: "poof", "{s}");
    }

    /// A line on each action: on stdout with `--verbose`, and in the log
    /// file at that level.
    pub fn verbose(&self, s: &str) {
        log::debug!(target: "poof", "{s}");
    }

    /// Detail for `-vv` (requests, plan internals): on stderr, and in the
    /// log file at that level.
    pub fn detail(&self, s: &str) {
        log::trace!(target: "poof", "{s}");
    }

    /// Something the user should know; always shown on stderr (and as an
    /// event with `--json`). Short for `emit(&Event::Warning(s))`.
    pub fn warn(&self, s: &str) {
        self.emit(&Event::Warning(s));
    }

    /// Something failed; always shown on stderr (and as an event with
    /// `--json`). Short for `emit(&Event::Error(s))`.
    pub fn error(&self, s: &str) {
        self.emit(&Event::Error(s));
    }

    /// Reports `event`: as text lines (stdout for results, stderr for
    /// warnings and errors), or with `--json` as JSON lines on stdout (and
    /// warnings and errors still on stderr).
    pub fn emit(&self, event: &Event) {
        for piece in event.pieces() {
            match piece {
                Piece::Line(s) => self.line(&s),
                Piece::Verbose(s) => self.verbose(&s),
                Piece::Warning(s) => {
                    log::warn!(target: "poof", "{s}");
                    self.event(serde_json::json!({"event": "warning", "message": s}));
                }
                Piece::Error(s) => {
                    log::error!(target: "poof", "{s}");
                    self.event(serde_json::json!({"event": "error", "message": s}));
                }
                Piece::Json(v) => self.event(v),
            }
        }
    }

    /// One JSON event, printed only with `--json`.
    pub fn event(&self, v: Value) {
        if self.json {
            write_stdout(&format!("{v}\n"));
        }
    }

    /// A progress bar over `bytes` and `files`, drawn on stderr only when it
    /// is a terminal and neither `--quiet` nor `--json` was given; always
    /// with `--progress`, never with `--no-progress`.
    pub fn progress(&self, bytes: u64, files: u64) -> ProgressBar {
        let target = match self.progress {
            Some(true) => ProgressDrawTarget::term_like(Box::new(progress::Stderr::new())),
            Some(false) => ProgressDrawTarget::hidden(),
            None if !self.quiet && !self.json && std::io::stderr().is_terminal() => {
                ProgressDrawTarget::stderr()
            }
            None => ProgressDrawTarget::hidden(),
        };
        let bar = ProgressBar::with_draw_target(Some(bytes), target);
        bar.set_style(
            ProgressStyle::with_template(
                "  {msg} files  {bytes}/{total_bytes}  {binary_bytes_per_sec}  ETA {eta}  {wide_bar}",
            )
            .expect("the template is valid"),
        );
        bar.set_message(format!("0/{files}"));
        bar
    }
}

/// Writes `s` to stdout. When stdout is a closed pipe (`poof ... | head`),
/// poof ends at once with success, as the reader wanted no more.
pub fn write_stdout(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(s.as_bytes()).and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// `println!` for poof's results: a closed pipe ends poof with success.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// Formats a byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
