//! The systemd scheduler: a user timer, `poof.timer`, starting the oneshot
//! `poof.service` in the user's systemd unit folder.
//!
//! Invariant: only `poof.service`, `poof.timer` and the
//! `timers.target.wants` link to the timer are poof's; the files are written
//! even when no user systemd session can be told, and the link then does
//! what `systemctl --user enable` would have done.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Done, Job, Scheduler, human_every, remove_files, try_run, write_file};
use crate::exit::ConfigError;

/// The folder of systemd user units: `$XDG_CONFIG_HOME/systemd/user` or
/// `~/.config/systemd/user`.
pub fn systemd_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| dirs::home_dir().map(|h| h.join(".config")))?;
    Some(base.join("systemd/user"))
}

/// Quotes a word for a systemd `ExecStart=` line.
fn systemd_quote(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    format!("\"{escaped}\"")
}

/// `poof.service` and `poof.timer`.
pub fn systemd_units(job: &Job) -> (String, String) {
    let mut exec = systemd_quote(&job.bin.to_string_lossy());
    for a in &job.args {
        exec.push(' ');
        exec.push_str(&systemd_quote(a));
    }
    let service = format!(
        "# Installed by `poof schedule install`; removed by `poof schedule remove` and `poof neuter`.\n\
         [Unit]\nDescription=poof backup\n\n\
         [Service]\nType=oneshot\nExecStart={exec}\n\
         StandardOutput=null\n"
    );
    let timer = format!(
        "# Installed by `poof schedule install`; removed by `poof schedule remove` and `poof neuter`.\n\
         [Unit]\nDescription=run poof backup every {}\n\n\
         [Timer]\nOnBootSec=15min\nOnUnitActiveSec={}s\nUnit=poof.service\n\n\
         [Install]\nWantedBy=timers.target\n",
        human_every(job.every),
        job.every.0
    );
    (service, timer)
}

/// The systemd scheduler, which keeps poof's entry as a user timer.
pub(super) struct Systemd;

impl Scheduler for Systemd {
    fn files(&self) -> Vec<PathBuf> {
        systemd_dir()
            .map(|d| {
                vec![
                    d.join("poof.service"),
                    d.join("poof.timer"),
                    d.join("timers.target.wants/poof.timer"),
                ]
            })
            .unwrap_or_default()
    }

    fn install(&self, job: &Job, dry_run: bool) -> Result<Done> {
        let mut done = Done::default();
        let would = if dry_run { "would write" } else { "wrote" };
        let dir = systemd_dir().ok_or_else(|| {
            ConfigError("cannot tell where your home is (HOME is not set)".into())
        })?;
        let (service, timer) = systemd_units(job);
        done.did
            .push(format!("{would} {}", dir.join("poof.service").display()));
        done.did
            .push(format!("{would} {}", dir.join("poof.timer").display()));
        if dry_run {
            return Ok(done);
        }
        write_file(&dir.join("poof.service"), &service)?;
        write_file(&dir.join("poof.timer"), &timer)?;
        let reload = try_run("systemctl", &["--user", "daemon-reload"])
            .and_then(|()| try_run("systemctl", &["--user", "enable", "--now", "poof.timer"]));
        match reload {
            Ok(()) => done.did.push("enabled and started poof.timer".into()),
            Err(why) => {
                // What `systemctl --user enable` would have done, so that the
                // timer starts with the next user session.
                let wants = dir.join("timers.target.wants");
                fs::create_dir_all(&wants)
                    .with_context(|| format!("creating {}", wants.display()))?;
                let link = wants.join("poof.timer");
                let _ = fs::remove_file(&link);
                std::os::unix::fs::symlink(dir.join("poof.timer"), &link)
                    .with_context(|| format!("creating {}", link.display()))?;
                done.did
                    .push(format!("enabled poof.timer ({})", link.display()));
                done.warnings.push(format!(
                    "systemctl --user could not start the timer ({why}); there is probably no user systemd session here. \
                     The timer starts with your next login session; to run it without one, run `loginctl enable-linger`"
                ));
            }
        }
        Ok(done)
    }

    fn remove(&self, dry_run: bool) -> Result<Done> {
        let mut done = Done::default();
        let files = self.files();
        if files.iter().all(|f| fs::symlink_metadata(f).is_err()) {
            return Ok(done);
        }
        if !dry_run
            && let Err(why) = try_run("systemctl", &["--user", "disable", "--now", "poof.timer"])
        {
            done.warnings.push(format!(
                "systemctl --user could not stop poof.timer ({why}); its files are removed all the same"
            ));
        }
        remove_files(&files, dry_run, &mut done)?;
        if !dry_run {
            let _ = try_run("systemctl", &["--user", "daemon-reload"]);
            // Folders left empty by the removal go too, up to `systemd/`.
            if let Some(dir) = systemd_dir() {
                for d in [dir.join("timers.target.wants"), dir.clone()]
                    .into_iter()
                    .chain(dir.parent().map(Path::to_path_buf))
                {
                    let _ = fs::remove_dir(d);
                }
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::tests::job;

    #[test]
    fn systemd_units_run_backup_and_log() {
        let (service, timer) = systemd_units(&job());
        assert!(service.contains(
            "ExecStart=\"/opt/po of/poof\" \"--confdir\" \"/home/j/.config/poof\" \"backup\"\n"
        ));
        // The run writes its own log file; stderr goes to the journal.
        assert!(service.contains("StandardOutput=null\n"));
        assert!(!service.contains("StandardError"));
        assert!(timer.contains("OnUnitActiveSec=21600s\n"));
        assert!(timer.contains("WantedBy=timers.target\n"));
    }
}
