//! Keeping secrets out of dumps: before poof reads a passphrase (and so
//! before any key is unlocked in a guest instance's memory), the process
//! gives up core dumps for good and, on Linux, becomes non-dumpable, which
//! also stops other processes of the same user from attaching to it.
//!
//! Invariant: when this fails, no passphrase is read: poof refuses rather
//! than hold a secret in memory that a crash could write to disk.

use anyhow::{Result, anyhow};

/// Turns core dumps off for the rest of the process's life (soft and hard
/// limit 0) and, on Linux, marks the process non-dumpable.
pub fn keep_secrets_out_of_dumps() -> Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let fail = |what: &str, e: rustix::io::Errno| {
        anyhow!(
            "cannot {what} ({e}); poof does not read a passphrase into a process whose memory could be dumped"
        )
    };
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(|e| fail("turn core dumps off", e))?;
    #[cfg(target_os = "linux")]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| fail("mark the process non-dumpable", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_core_dumps_and_not_dumpable() {
        super::keep_secrets_out_of_dumps().unwrap();
        let core = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((core.current, core.maximum), (Some(0), Some(0)));
        #[cfg(target_os = "linux")]
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
        // Calling it again is harmless.
        super::keep_secrets_out_of_dumps().unwrap();
    }
}
