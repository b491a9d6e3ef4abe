//! Where poof keeps its files: the config folder, `poof.conf`, the cloud
//! config file, and the lock, log and status files beside them.
//!
//! Invariant: every file poof keeps is found from one `Locations`, resolved
//! once from the flags. In portable mode each of them is in the binary's
//! folder and none is under the home; otherwise they follow poof 1.x's
//! places, so a 1.x user's files are found where they already are.

use std::path::{Path, PathBuf};

use crate::exit::ConfigError;

/// Where poof keeps its files.
#[derive(Debug, Clone)]
pub struct Locations {
    /// poof's config folder.
    pub confdir: PathBuf,
    /// The `poof.conf` file.
    pub poofconf: PathBuf,
    /// The cloud config file (poof 1.x's `rclone-poof.conf`), as given by
    /// `--cloudconf` or found in the config folder. A `confFile` key in
    /// `poof.conf` names it too; the flag wins over it.
    pub cloudconf: PathBuf,
    /// True when `--cloudconf` was given.
    pub cloudconf_from_flag: bool,
    /// `--passphrase-file`: where the encryption passphrase is read from,
    /// before every other source (set after `resolve`, as are the next two).
    pub passphrase_file: Option<PathBuf>,
    /// `--passphrase-command`: a shell command that prints the passphrase,
    /// tried after `--passphrase-file`.
    pub passphrase_command: Option<String>,
    /// `POOF_PASSPHRASE_FILE`: a file holding the passphrase, tried after
    /// the two flags and before `POOF_PASSPHRASE` and the prompt.
    pub passphrase_env_file: Option<PathBuf>,
    /// `--profile`: the AWS profile S3 credentials come from (set after
    /// `resolve`, as is `out`).
    pub profile: Option<String>,
    /// Where notes found while opening the remote are said (options of the
    /// cloud config file that poof does not use): the run's output.
    pub out: crate::output::Output,
    /// Portable mode (`--portable`, or a `poof.conf` beside the binary):
    /// every file poof keeps is in the binary's folder, none under the home.
    pub portable: bool,
}

impl Locations {
    /// Resolves the folder and file from the flags, falling back to poof
    /// 1.x's places: `$XDG_CONFIG_HOME/poof` or `~/.config/poof` on Linux,
    /// `~/Library/Application Support/poof` on macOS.
    ///
    /// Portable mode (`portable`, or a `poof.conf` beside the binary when
    /// neither `--confdir` nor `--poofconf` is given) makes the binary's
    /// folder the config folder, so that poof writes nothing under the home.
    pub fn resolve(
        confdir: Option<PathBuf>,
        poofconf: Option<PathBuf>,
        cloudconf: Option<PathBuf>,
        portable: bool,
    ) -> Result<Self, ConfigError> {
        let exe_dir = std::env::current_exe()
            .and_then(|e| e.canonicalize())
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf));
        Self::resolve_from(confdir, poofconf, cloudconf, portable, exe_dir)
    }

    /// `resolve`, with the binary's folder given (for tests).
    fn resolve_from(
        confdir: Option<PathBuf>,
        poofconf: Option<PathBuf>,
        cloudconf: Option<PathBuf>,
        portable: bool,
        exe_dir: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let beside = exe_dir
            .as_ref()
            .is_some_and(|d| d.join("poof.conf").is_file());
        let portable = portable || (beside && confdir.is_none() && poofconf.is_none());
        let confdir = match confdir {
            Some(d) => d,
            None if portable => exe_dir.ok_or_else(|| {
                ConfigError(
                    "--portable: cannot tell which folder this binary is in; pass --confdir".into(),
                )
            })?,
            None => dirs::config_dir()
                .ok_or_else(|| {
                    ConfigError(
                        "cannot tell where your config folder is (HOME is not set); pass --confdir"
                            .into(),
                    )
                })?
                .join("poof"),
        };
        let poofconf = poofconf.unwrap_or_else(|| confdir.join("poof.conf"));
        let cloudconf_from_flag = cloudconf.is_some();
        let cloudconf = cloudconf.unwrap_or_else(|| confdir.join("rclone-poof.conf"));
        Ok(Locations {
            confdir,
            poofconf,
            cloudconf,
            cloudconf_from_flag,
            passphrase_file: None,
            passphrase_command: None,
            passphrase_env_file: None,
            profile: None,
            out: crate::output::Output::default(),
            portable,
        })
    }

    /// The lock file of one run at a time, beside `poof.conf`.
    pub fn lockfile(&self) -> PathBuf {
        self.poofconf.with_extension("lock")
    }

    /// The log scheduled runs append to.
    pub fn logfile(&self) -> PathBuf {
        self.confdir.join("poof.log")
    }

    /// The local copy of the wrapped encryption key.
    pub fn keyfile(&self) -> PathBuf {
        self.confdir.join("poof.key")
    }

    /// Every file poof keeps in its config folder (or beside `poof.conf`),
    /// by what it is: what `poof paths` lists and `poof neuter` removes.
    pub fn own_files(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("poof.conf", self.poofconf.clone()),
            ("cloud config (rclone-poof.conf)", self.cloudconf.clone()),
            ("encryption key (wrapped)", self.keyfile()),
            (
                "encryption key being rotated in",
                self.keyfile().with_extension("key.next"),
            ),
            ("memory of encrypted manifests", self.freshness_file()),
            ("run lock", self.lockfile()),
            ("log (scheduled runs)", self.logfile()),
            ("last upload's outcome", self.statusfile()),
        ]
        .into_iter()
        .chain((1..=crate::schedule::LOG_MAX_BACKUPS).map(|n| {
            (
                "rotated log (scheduled runs)",
                crate::logging::Rotating::backup_name(&self.logfile(), n),
            )
        }))
        .collect()
    }

    /// What this machine remembers of encrypted folders' manifests
    /// (docs/FORMAT.md, "Freshness").
    pub fn freshness_file(&self) -> PathBuf {
        self.confdir.join("freshness.json")
    }

    /// The outcome of the last `upload` (`neuter` refuses after a partial one).
    pub fn statusfile(&self) -> PathBuf {
        self.confdir.join("poof.status")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_mode_keeps_everything_beside_the_binary() {
        let stick = tempfile::tempdir().unwrap();
        let dir = stick.path().to_path_buf();
        // No poof.conf beside the binary: the usual places.
        let l = Locations::resolve_from(None, None, None, false, Some(dir.clone())).unwrap();
        assert!(!l.portable);
        assert_ne!(l.confdir, dir);
        // --portable, or a poof.conf beside the binary.
        let l = Locations::resolve_from(None, None, None, true, Some(dir.clone())).unwrap();
        assert!(l.portable);
        std::fs::write(dir.join("poof.conf"), "{}").unwrap();
        let l = Locations::resolve_from(None, None, None, false, Some(dir.clone())).unwrap();
        assert!(l.portable);
        assert_eq!(l.confdir, dir);
        assert_eq!(l.poofconf, dir.join("poof.conf"));
        assert_eq!(l.cloudconf, dir.join("rclone-poof.conf"));
        assert_eq!(l.logfile(), dir.join("poof.log"));
        assert_eq!(l.lockfile(), dir.join("poof.lock"));
        // An explicit --confdir wins over the file beside the binary.
        let l = Locations::resolve_from(Some("/c".into()), None, None, false, Some(dir)).unwrap();
        assert!(!l.portable);
        assert_eq!(l.confdir, PathBuf::from("/c"));
    }
}
