//! Running a helper program for its output: `--passphrase-command` and an
//! AWS profile's `credential_process`.
//!
//! Invariants: the output is read on its own thread while the program runs,
//! so a program that never ends is stopped at the deadline; a program that
//! fails, or ends while something it started still holds its output open,
//! is an error; the output is never shown in an error.

use std::io;
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// How many times a program busy being written is tried again, and how
/// long apart.
const BUSY_TRIES: u32 = 20;
const BUSY_PAUSE: Duration = Duration::from_millis(50);

/// Runs `cmd` (with stdin and stderr as the caller set them) and returns
/// what `read` makes of its standard output. The error says, in words, what
/// went wrong with the program, to follow its name in a message: "could not
/// be started (...)", "did not finish within 120 s and was stopped", "failed
/// (exit status: 3)", ...
pub fn capture<T: Send + 'static>(
    mut cmd: Command,
    timeout: Duration,
    read: impl FnOnce(ChildStdout) -> io::Result<T> + Send + 'static,
) -> Result<T, String> {
    cmd.stdout(Stdio::piped());
    let mut busy = 0;
    let mut child = loop {
        match cmd.spawn() {
            // Something still holds the program open for writing: it is
            // being written or replaced, or a process forked elsewhere
            // (a test writing its helper, say) has not reached its `exec`
            // yet. That passes in a moment.
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && busy < BUSY_TRIES => {
                busy += 1;
                std::thread::sleep(BUSY_PAUSE);
            }
            started => break started.map_err(|e| format!("could not be started ({e})"))?,
        }
    };
    let out = child.stdout.take().expect("stdout is piped");
    // A reader left behind after a timeout ends with poof.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read(out));
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "did not finish within {} s and was stopped",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("could not be waited for ({e})")),
        }
    };
    if !status.success() {
        return Err(format!("failed ({status})"));
    }
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left.max(Duration::from_secs(1))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("gave output that could not be read ({e})")),
        Err(_) => Err("ended, but something it started still holds its output open".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_program_held_open_for_writing_is_tried_again_then_refused_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("helper");
        std::fs::write(&path, "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let read = |mut out: ChildStdout| {
            let mut s = String::new();
            out.read_to_string(&mut s).map(|_| s)
        };
        // Free: it runs.
        let ran = capture(Command::new(&path), Duration::from_secs(30), read);
        assert_eq!(ran.as_deref(), Ok("hi\n"));
        // Held open for writing the whole time: busy on every try, then
        // the error says it could not be started, and why.
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let started = Instant::now();
        let e = capture(Command::new(&path), Duration::from_secs(30), read).unwrap_err();
        assert!(e.starts_with("could not be started ("), "{e}");
        assert!(
            started.elapsed() >= BUSY_PAUSE * BUSY_TRIES,
            "tried again first"
        );
        drop(writer);
    }
}
