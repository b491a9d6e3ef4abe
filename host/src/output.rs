//! What poof tells the user, and where: results on stdout, warnings and
//! errors on stderr, each prefixed so that logs read well.

/// The user-facing output of one run.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print what each action did.
    pub verbose: bool,
    /// Print only warnings and errors.
    pub quiet: bool,
}

impl Output {
    /// A line of the main result (the plan, a summary); hidden by `--quiet`.
    pub fn line(&mut self, s: &str) {
        if !self.quiet {
            println!("{s}");
        }
    }

    /// A line shown only with `--verbose`.
    pub fn verbose(&mut self, s: &str) {
        if self.verbose && !self.quiet {
            println!("{s}");
        }
    }

    /// Something the user should know; always shown.
    pub fn warn(&mut self, s: &str) {
        eprintln!("poof: warning: {s}");
    }

    /// Something failed; always shown.
    pub fn error(&mut self, s: &str) {
        eprintln!("poof: error: {s}");
    }
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
