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
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not be started ({e})"))?;
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
