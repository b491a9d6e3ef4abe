//! The launchd scheduler (macOS only): a user agent,
//! `~/Library/LaunchAgents/org.pypi.poof.plist`, shaped like poof 1.x's.
//!
//! Invariant: only the plist labelled `LAUNCHD_LABEL` is poof's, and every
//! text written into it is XML-escaped.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use anyhow::Result;

use super::{Done, Job, Scheduler, remove_files, try_run, write_file};
use crate::exit::ConfigError;

/// The launchd label, as poof 1.x's.
pub const LAUNCHD_LABEL: &str = "org.pypi.poof";

/// Escapes the characters XML gives a meaning to.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The launchd agent, like poof 1.x's `lconfig` wrote.
pub fn launchd_plist(job: &Job) -> String {
    let mut args = String::new();
    for a in std::iter::once(job.bin.to_string_lossy().into_owned()).chain(job.args.clone()) {
        let _ = writeln!(args, "        <string>{}</string>", xml_escape(&a));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>Label</key>
    <string>{LAUNCHD_LABEL}</string>
    <key>ProgramArguments</key>
    <array>
{args}    </array>
    <key>StartInterval</key>
    <integer>{}</integer>
    <key>RunAtLoad</key>
    <false/>
</dict>
</plist>
"#,
        job.every.0
    )
}

/// Where the launchd agent lives: `~/Library/LaunchAgents/org.pypi.poof.plist`.
pub fn launchd_path() -> Option<PathBuf> {
    dirs::home_dir().map(|h| h.join(format!("Library/LaunchAgents/{LAUNCHD_LABEL}.plist")))
}

/// The launchd scheduler, which keeps poof's entry as a user agent.
pub(super) struct Launchd;

impl Scheduler for Launchd {
    fn files(&self) -> Vec<PathBuf> {
        launchd_path().into_iter().collect()
    }

    fn install(&self, job: &Job, dry_run: bool) -> Result<Done> {
        let mut done = Done::default();
        let would = if dry_run { "would write" } else { "wrote" };
        let path = launchd_path().ok_or_else(|| {
            ConfigError("cannot tell where your home is (HOME is not set)".into())
        })?;
        if !cfg!(target_os = "macos") {
            return Err(ConfigError(
                "launchd exists only on macOS; use --kind cron or --kind systemd here".into(),
            )
            .into());
        }
        done.did.push(format!("{would} {}", path.display()));
        if dry_run {
            return Ok(done);
        }
        let _ = try_run("launchctl", &["unload", &path.to_string_lossy()]);
        write_file(&path, &launchd_plist(job))?;
        if let Err(why) = try_run("launchctl", &["load", "-w", &path.to_string_lossy()]) {
            done.warnings.push(format!(
                "launchctl could not load {} ({why}); it loads at your next login",
                path.display()
            ));
        }
        Ok(done)
    }

    fn remove(&self, dry_run: bool) -> Result<Done> {
        let mut done = Done::default();
        let files = self.files();
        if files.iter().all(|f| fs::symlink_metadata(f).is_err()) {
            return Ok(done);
        }
        if !dry_run && cfg!(target_os = "macos") {
            // A failure to unload is no reason to keep the file.
            let _ = try_run("launchctl", &["unload", "-w", &files[0].to_string_lossy()]);
        }
        remove_files(&files, dry_run, &mut done)?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::tests::job;

    #[test]
    fn the_launchd_plist_is_poof_1x_shaped() {
        let mut j = job();
        j.args.push("a<b&c".into());
        let plist = launchd_plist(&j);
        assert!(plist.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist"));
        assert!(plist.contains("<key>Label</key>\n    <string>org.pypi.poof</string>"));
        assert!(plist.contains(
            "<array>\n        <string>/opt/po of/poof</string>\n        <string>--confdir</string>\n        <string>/home/j/.config/poof</string>\n        <string>backup</string>\n        <string>a&lt;b&amp;c</string>\n    </array>"
        ));
        assert!(plist.contains("<key>StartInterval</key>\n    <integer>21600</integer>"));
        // The run writes its own log file; launchd discards the rest.
        assert!(!plist.contains("StandardOutPath"));
        assert!(!plist.contains("StandardErrorPath"));
        assert!(plist.trim_end().ends_with("</dict>\n</plist>"));
    }
}
