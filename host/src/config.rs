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
}

impl Locations {
    /// Resolves the folder and file from the flags, falling back to poof
    /// 1.x's places: `$XDG_CONFIG_HOME/poof` or `~/.config/poof` on Linux,
    /// `~/Library/Application Support/poof` on macOS.
    pub fn resolve(
        confdir: Option<PathBuf>,
        poofconf: Option<PathBuf>,
    ) -> Result<Self, ConfigError> {
        let confdir = match confdir {
            Some(d) => d,
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
        Ok(Locations { confdir, poofconf })
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
        let RemoteSpec::Folder(root) = &remote;
        for p in &sync_paths {
            if root.starts_with(&p.local) || p.local.starts_with(root) {
                return Err(bad(format!(
                    "remote folder {} and path {} overlap; keep the snapshots outside the folders being backed up",
                    root.display(),
                    p.local.display()
                )));
            }
        }

        Ok(PoofConf {
            file: file.to_owned(),
            bucket: string("bucket")?,
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
        Some((scheme, _)) => Err(format!(
            "unknown remote scheme `{scheme}://`; poof supports file:///path/to/folder"
        )),
        None => Err(
            "names a section of the cloud config file; this build of poof supports only \
             folder remotes (file:///path/to/folder)"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with("/c/poof.conf: "), "{err}");
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
