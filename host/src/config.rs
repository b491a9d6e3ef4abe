//! `poof.conf`: where it lives, what it says, and whether it makes sense.
//!
//! The file keeps poof 1.x's JSON shape, so a 1.x user's file works as it is:
//!
//! ```json
//! { "bucket": "poofbackup-jdoe-3f1c9a2b7d4e",
//!   "confFile": "/home/jdoe/.config/poof/rclone-poof.conf",
//!   "paths": { "/home/jdoe/Documents": "Documents" },
//!   "remote": "file:///media/usb/poof" }
//! ```
//!
//! Invariant: a `PoofConf` that loaded is valid. Every local path is
//! absolute and is a folder (or missing), every cloud folder name is a safe
//! relative path used by one local path only, and the remote is understood.
//! Anything else is a `ConfigError` naming the file and the problem, raised
//! before anything is touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

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
    /// before `POOF_PASSPHRASE` and the prompt (set after `resolve`).
    pub passphrase_file: Option<PathBuf>,
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

    /// The outcome of the last `upload` (`neuter` refuses after a partial one).
    pub fn statusfile(&self) -> PathBuf {
        self.confdir.join("poof.status")
    }
}

/// One configured path: a local folder and the cloud folder that mirrors it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPath {
    /// Absolute local folder.
    pub local: PathBuf,
    /// Cloud folder name, a safe relative path (e.g. `Documents`).
    pub cloud: String,
}

/// Where the snapshots go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSpec {
    /// A local folder (`file:///media/usb/poof`): a USB disk, a NAS mount.
    Folder(PathBuf),
    /// An S3 bucket (`s3://BUCKET[/PREFIX]`).
    S3 {
        /// The bucket.
        bucket: String,
        /// Keys start with `PREFIX/` when it is not empty.
        prefix: String,
    },
    /// poof 1.x's style: `remote` names a section of the cloud config file
    /// (`rclone-poof.conf`), and `bucket` names the bucket.
    Named(String),
}

/// A loaded and validated `poof.conf`.
#[derive(Debug, Clone)]
pub struct PoofConf {
    /// The file it was read from.
    pub file: PathBuf,
    /// The bucket, for remotes that need one.
    pub bucket: Option<String>,
    /// The cloud config file (poof 1.x's `rclone-poof.conf`).
    pub conf_file: Option<PathBuf>,
    /// The configured paths, sorted by local folder.
    pub paths: Vec<SyncPath>,
    /// Where the snapshots go.
    pub remote: RemoteSpec,
    /// `"encrypted": true`: the remote uses the encrypted layout
    /// (docs/FORMAT.md); switched by `poof cryptoggle`.
    pub encrypted: bool,
}

impl PoofConf {
    /// Reads and validates `file`.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ConfigError(format!(
                    "{}: no such file; create it (see README) or point to yours with --poofconf",
                    file.display()
                ))
            } else {
                ConfigError(format!("{}: cannot read it: {e}", file.display()))
            }
        })?;
        Self::parse(file, &text)
    }

    /// Validates the text of a `poof.conf`; `file` names it in messages.
    pub fn parse(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let bad = |what: String| ConfigError(format!("{}: {what}", file.display()));
        let value: Value = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not valid JSON (line {}, column {}: {e}); fix the file or move it away",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(obj) = value else {
            return Err(bad(
                "must be a JSON object like {\"paths\": {...}, \"remote\": \"...\"}".into(),
            ));
        };
        let string = |key: &str| -> Result<Option<String>, ConfigError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(format!("`{key}` must be a string"))),
            }
        };

        let paths = match obj.get("paths") {
            None => {
                return Err(bad(
                    "has no `paths`; add an object mapping each local folder to a cloud folder name, \
                     e.g. \"paths\": {\"/home/you/Documents\": \"Documents\"}"
                        .into(),
                ));
            }
            Some(Value::Object(p)) => p,
            Some(_) => {
                return Err(bad(
                    "`paths` must be an object mapping each local folder to a cloud folder name"
                        .into(),
                ));
            }
        };
        if paths.is_empty() {
            return Err(bad(
                "`paths` is empty; add at least one local folder to back up".into(),
            ));
        }
        let mut sync_paths = Vec::new();
        let mut by_cloud: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (local, cloud) in paths {
            let Value::String(cloud) = cloud else {
                return Err(bad(format!(
                    "the cloud folder name for {local:?} must be a string"
                )));
            };
            let local_path = PathBuf::from(local);
            if !local_path.is_absolute() {
                return Err(bad(format!(
                    "path {local:?} is relative; write it in full, starting with /"
                )));
            }
            if local_path.exists() && !local_path.is_dir() {
                return Err(bad(format!(
                    "path {local:?} is a file; poof backs up folders, so name the folder that holds it"
                )));
            }
            let cloud = cloud.trim_matches('/').to_string();
            if let Err(why) = poof_guest::paths::check(&cloud) {
                return Err(bad(format!(
                    "cloud folder name {cloud:?} for {local:?} is not usable: {why}; use a plain name such as \"Documents\""
                )));
            }
            if cloud.split('/').next() == Some(".poof") {
                return Err(bad(format!(
                    "cloud folder name {cloud:?} for {local:?} is reserved: poof keeps its manifests under .poof/; choose another name"
                )));
            }
            if let Some(other) = by_cloud.get(&cloud) {
                return Err(bad(format!(
                    "{} and {local:?} both use the cloud folder {cloud:?}; give each path its own",
                    other.display()
                )));
            }
            by_cloud.insert(cloud.clone(), local_path.clone());
            sync_paths.push(SyncPath {
                local: local_path,
                cloud,
            });
        }
        for (a, b) in by_cloud.keys().zip(by_cloud.keys().skip(1)) {
            if b.starts_with(&format!("{a}/")) {
                return Err(bad(format!(
                    "cloud folder {b:?} is inside cloud folder {a:?}; their snapshots would overwrite each other"
                )));
            }
        }

        let remote = match string("remote")? {
            None => {
                return Err(bad(
                    "has no `remote`; set it to where snapshots go, e.g. \"file:///media/usb/poof\"".into(),
                ));
            }
            Some(r) => parse_remote(&r).map_err(|why| bad(format!("remote {r:?}: {why}")))?,
        };
        if let RemoteSpec::Folder(root) = &remote {
            for p in &sync_paths {
                if root.starts_with(&p.local) || p.local.starts_with(root) {
                    return Err(bad(format!(
                        "remote folder {} and path {} overlap; keep the snapshots outside the folders being backed up",
                        root.display(),
                        p.local.display()
                    )));
                }
            }
        }
        let bucket = string("bucket")?;
        if let RemoteSpec::Named(section) = &remote {
            match bucket.as_deref() {
                None | Some("") => {
                    return Err(bad(format!(
                        "remote {section:?} names a section of the cloud config file, so `bucket` must name the bucket; \
                         add \"bucket\": \"...\" or write the remote as s3://BUCKET"
                    )));
                }
                Some(b) => check_bucket(b).map_err(|why| bad(format!("bucket {b:?}: {why}")))?,
            }
        }

        let encrypted = match obj.get("encrypted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(bad(
                    "`encrypted` must be true or false; `poof cryptoggle` switches it".into(),
                ));
            }
        };

        Ok(PoofConf {
            encrypted,
            file: file.to_owned(),
            bucket,
            conf_file: string("confFile")?.map(PathBuf::from),
            paths: sync_paths,
            remote,
        })
    }
}

fn parse_remote(remote: &str) -> Result<RemoteSpec, String> {
    match remote.split_once("://") {
        Some(("file", rest)) => {
            if !rest.starts_with('/') {
                return Err(
                    "a folder remote must be an absolute path, like file:///media/usb/poof".into(),
                );
            }
            let path = PathBuf::from(rest);
            if path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err("a folder remote must not contain `..`".into());
            }
            Ok(RemoteSpec::Folder(path))
        }
        Some(("s3", rest)) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            check_bucket(bucket)?;
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() {
                poof_guest::paths::check(prefix).map_err(|why| {
                    format!(
                        "the prefix {prefix:?} is not usable: {why}; write s3://BUCKET/some/prefix"
                    )
                })?;
            }
            Ok(RemoteSpec::S3 {
                bucket: bucket.into(),
                prefix: prefix.into(),
            })
        }
        Some((scheme, _)) => Err(format!(
            "unknown remote scheme `{scheme}://`; poof supports s3://BUCKET[/PREFIX], \
             file:///path/to/folder, or the name of a section of the cloud config file"
        )),
        None => {
            // rclone writes remotes as `name:`; poof 1.x stored the bare name.
            let name = remote.trim().trim_end_matches(':');
            if name.is_empty() || name.contains(['[', ']', '/', ':']) {
                return Err(
                    "is not a remote; write s3://BUCKET[/PREFIX], file:///path/to/folder, or the \
                     name of a section of the cloud config file"
                        .into(),
                );
            }
            Ok(RemoteSpec::Named(name.into()))
        }
    }
}

/// Checks a bucket name loosely: S3's length limits and characters, with
/// upper case and `_` allowed for older stores.
fn check_bucket(bucket: &str) -> Result<(), String> {
    if !(3..=63).contains(&bucket.len()) {
        return Err(format!(
            "bucket name {bucket:?} must have 3 to 63 characters"
        ));
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!(
            "bucket name {bucket:?} may hold only letters, digits, `.`, `-` and `_`"
        ));
    }
    Ok(())
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

    fn parse(text: &str) -> Result<PoofConf, String> {
        PoofConf::parse(Path::new("/c/poof.conf"), text).map_err(|e| e.0)
    }

    #[test]
    fn reads_the_poof_1x_shape() {
        let c = parse(
            r#"{"bucket": "poofbackup-u-123", "confFile": "/c/rclone-poof.conf",
                "paths": {"/nonexistent/b": "B", "/nonexistent/a": "/A/"},
                "remote": "file:///media/usb/poof"}"#,
        )
        .unwrap();
        assert_eq!(c.bucket.as_deref(), Some("poofbackup-u-123"));
        assert_eq!(c.conf_file, Some(PathBuf::from("/c/rclone-poof.conf")));
        assert_eq!(c.remote, RemoteSpec::Folder("/media/usb/poof".into()));
        let clouds: Vec<_> = c.paths.iter().map(|p| p.cloud.as_str()).collect();
        assert_eq!(clouds, ["A", "B"]);
        assert!(!c.encrypted);
        let e = parse(r#"{"paths": {"/a": "X"}, "remote": "file:///r", "encrypted": true}"#);
        assert!(e.unwrap().encrypted);
    }

    #[test]
    fn reads_s3_and_named_remotes() {
        let with = |remote: &str, bucket: &str| {
            parse(&format!(
                r#"{{"bucket": "{bucket}", "paths": {{"/a": "X"}}, "remote": "{remote}"}}"#
            ))
            .unwrap()
            .remote
        };
        assert_eq!(
            with("s3://my-bucket", ""),
            RemoteSpec::S3 {
                bucket: "my-bucket".into(),
                prefix: "".into()
            }
        );
        assert_eq!(
            with("s3://my-bucket/backups/laptop/", ""),
            RemoteSpec::S3 {
                bucket: "my-bucket".into(),
                prefix: "backups/laptop".into()
            }
        );
        assert_eq!(
            with("poofremote", "poofbackup-u-123"),
            RemoteSpec::Named("poofremote".into())
        );
        assert_eq!(
            with("poofremote:", "poofbackup-u-123"),
            RemoteSpec::Named("poofremote".into())
        );
    }

    #[test]
    fn every_refusal_names_the_file_and_the_problem() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let f = file.path().to_str().unwrap();
        let cases = [
            ("{", "not valid JSON (line 1"),
            ("[]", "must be a JSON object"),
            (r#"{"remote": "file:///r"}"#, "has no `paths`"),
            (
                r#"{"paths": {}, "remote": "file:///r"}"#,
                "`paths` is empty",
            ),
            (
                r#"{"paths": {"rel/dir": "X"}, "remote": "file:///r"}"#,
                "is relative",
            ),
            (
                &format!(r#"{{"paths": {{"{f}": "X"}}, "remote": "file:///r"}}"#),
                "is a file",
            ),
            (
                r#"{"paths": {"/a": "../X"}, "remote": "file:///r"}"#,
                "is not usable",
            ),
            (
                r#"{"paths": {"/a": "X", "/b": "X"}, "remote": "file:///r"}"#,
                "both use the cloud folder",
            ),
            (
                r#"{"paths": {"/a": ".poof/x"}, "remote": "file:///r"}"#,
                "is reserved",
            ),
            (
                r#"{"paths": {"/a": "X", "/b": "X/Y"}, "remote": "file:///r"}"#,
                "is inside cloud folder",
            ),
            (r#"{"paths": {"/a": "X"}}"#, "has no `remote`"),
            (
                r#"{"paths": {"/a": "X"}, "remote": "ftp://host/x"}"#,
                "unknown remote scheme `ftp://`",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "file://relative"}"#,
                "must be an absolute path",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "file:///a/snap"}"#,
                "overlap",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": 7}"#,
                "`remote` must be a string",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "s3://ab"}"#,
                "must have 3 to 63 characters",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "s3://a b c"}"#,
                "may hold only letters",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "s3://bkt/../x"}"#,
                "the prefix \"../x\" is not usable",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "poofremote"}"#,
                "`bucket` must name the bucket",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "[x]"}"#,
                "is not a remote",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "file:///r", "encrypted": "yes"}"#,
                "`encrypted` must be true or false",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with("/c/poof.conf: "), "{err}");
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
