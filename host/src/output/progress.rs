//! The draw target of `--progress`: stderr, drawn even when it is not a
//! terminal (indicatif's own stderr target hides itself then), with the
//! ANSI escapes a terminal understands, 80 columns wide.
//!
//! Invariant: it writes to stderr only, never to stdout (`--json` stays pure).

use std::io::{self, Write};

use indicatif::TermLike;

/// stderr as a terminal, whatever it is.
#[derive(Debug, Default)]
pub struct Stderr;

impl Stderr {
    /// The target.
    pub fn new() -> Self {
        Stderr
    }

    /// Moves the cursor `n` places (ANSI CSI `n` `code`: A up, B down, C
    /// right, D left); nothing for 0.
    fn cursor(&self, n: usize, code: char) -> io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}{code}"))?;
        }
        Ok(())
    }

    /// Writes `s` to stderr at once.
    fn put(&self, s: &str) -> io::Result<()> {
        let mut err = io::stderr().lock();
        err.write_all(s.as_bytes())?;
        err.flush()
    }
}

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        80
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.cursor(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.cursor(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.cursor(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.cursor(n, 'D')
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.put(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.put(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        self.put("\r\x1b[2K")
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}
