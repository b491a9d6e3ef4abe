//! The `poof.conf` model: the file as written (`RawPoofConf`, derived with
//! serde from poof 1.x's JSON keys) and the file as poof uses it
//! (`PoofConf`, made only by validating a `RawPoofConf`).
//!
//! Invariant: a `PoofConf` that loaded is valid. Every local path is
//! absolute and is a folder (or missing), every cloud folder name is a safe
//! relative path used by one local path only, and the remote is understood.
//! Anything else is one line, a `ConfigError` naming the file and the
//! problem, raised before anything is touched. Those lines are part of
//! poof's interface, so serde's own wording never reaches the user except
//! inside the message for JSON that does not parse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::remote_spec::{RemoteSpec, check_bucket, parse_remote};
use crate::exit::ConfigError;

/// One configured path: a local folder and the cloud folder that mirrors it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPath {
    /// Absolute local folder.
    pub local: PathBuf,
    /// Cloud folder name, a safe relative path (e.g. `Documents`).
    pub cloud: String,
    /// Exclude patterns for this path only (`"exclude"` in its entry), in
    /// rclone's syntax; the guest reads them (docs/USAGE.md, "Filters").
    pub exclude: Vec<String>,
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

/// `poof.conf` as written, under poof 1.x's JSON keys. Keys poof does not
/// know are ignored, so a file that a newer or older poof wrote still loads.
///
/// Every key takes any JSON value (see `Typed`), so deserializing a JSON
/// object never fails, and `validate` judges the keys in a fixed order with
/// its own words. An absent key and `null` are both `None`, except for
/// `paths`, where `null` is a value of the wrong type.
#[derive(Debug, Deserialize)]
struct RawPoofConf {
    #[serde(rename = "bucket", default)]
    bucket: Option<Typed<String>>,
    #[serde(rename = "confFile", default)]
    conf_file: Option<Typed<String>>,
    #[serde(rename = "paths", default, deserialize_with = "present")]
    paths: Option<Typed<BTreeMap<String, PathEntry>>>,
    #[serde(rename = "remote", default)]
    remote: Option<Typed<String>>,
    #[serde(rename = "encrypted", default)]
    encrypted: Option<Typed<bool>>,
}

/// A value that is a `T`, or of another type, which `validate` refuses with
/// a message that names the key.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Typed<T> {
    /// The value has the expected type.
    Is(T),
    /// The value has another type.
    Not(IgnoredAny),
}

/// One entry of `paths`: the cloud folder name (poof 1.x), or an object
/// with it and the path's own settings:
/// `{"cloud": "Documents", "exclude": ["*.tmp", "cache/"]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PathEntry {
    /// The cloud folder name.
    Cloud(String),
    /// The object form, judged key by key by `path_entry`.
    Object(serde_json::Map<String, Value>),
    /// Anything else, which `sync_paths` refuses.
    Not(IgnoredAny),
}

/// Deserializes a key that is present as `Some`, even when it is `null`
/// (serde reads `null` as `None` for an `Option` otherwise).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
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
        // The text is read into a `Value` first: that keeps serde_json's
        // words for JSON that does not parse, and its rule for a key given
        // twice (the last one counts), which a derived struct would refuse.
        let value: Value = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not valid JSON (line {}, column {}: {e}); fix the file or move it away",
                e.line(),
                e.column()
            ))
        })?;
        // A derived struct would also accept a JSON array, one value per
        // key, so the object is checked here.
        if !value.is_object() {
            return Err(bad(
                "must be a JSON object like {\"paths\": {...}, \"remote\": \"...\"}".into(),
            ));
        }
        // Every key takes any value, so this fails only if `RawPoofConf`
        // stops being that lenient; serde's words are then the best there is.
        let raw = RawPoofConf::deserialize(value).map_err(|e| bad(e.to_string()))?;
        raw.validate(file)
    }
}

impl RawPoofConf {
    /// Turns the file as written into a `PoofConf`, or into the first
    /// problem found, always checked in the same order: the paths, the
    /// remote, the bucket, `encrypted`, then `confFile`.
    fn validate(self, file: &Path) -> Result<PoofConf, ConfigError> {
        let bad = |what: String| ConfigError(format!("{}: {what}", file.display()));
        let string = |key: &str, value: Option<Typed<String>>| match value {
            None => Ok(None),
            Some(Typed::Is(s)) => Ok(Some(s)),
            Some(Typed::Not(_)) => Err(bad(format!("`{key}` must be a string"))),
        };

        let paths = match self.paths {
            None => {
                return Err(bad(
                    "has no `paths`; add an object mapping each local folder to a cloud folder name, \
                     e.g. \"paths\": {\"/home/you/Documents\": \"Documents\"}"
                        .into(),
                ));
            }
            Some(Typed::Is(p)) => p,
            Some(Typed::Not(_)) => {
                return Err(bad(
                    "`paths` must be an object mapping each local folder to a cloud folder name"
                        .into(),
                ));
            }
        };
        let paths = sync_paths(paths).map_err(bad)?;

        let remote = match string("remote", self.remote)? {
            None => {
                return Err(bad(
                    "has no `remote`; set it to where snapshots go, e.g. \"file:///media/usb/poof\"".into(),
                ));
            }
            Some(r) => parse_remote(&r).map_err(|why| bad(format!("remote {r:?}: {why}")))?,
        };
        if let RemoteSpec::Folder(root) = &remote {
            for p in &paths {
                if root.starts_with(&p.local) || p.local.starts_with(root) {
                    return Err(bad(format!(
                        "remote folder {} and path {} overlap; keep the snapshots outside the folders being backed up",
                        root.display(),
                        p.local.display()
                    )));
                }
            }
        }
        let bucket = string("bucket", self.bucket)?;
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

        let encrypted = match self.encrypted {
            None => false,
            Some(Typed::Is(b)) => b,
            Some(Typed::Not(_)) => {
                return Err(bad(
                    "`encrypted` must be true or false; `poof cryptoggle` switches it".into(),
                ));
            }
        };

        Ok(PoofConf {
            encrypted,
            file: file.to_owned(),
            bucket,
            conf_file: string("confFile", self.conf_file)?.map(PathBuf::from),
            paths,
            remote,
        })
    }
}

/// Reads one entry of `paths` as its cloud folder name and exclude
/// patterns; the error is the problem, without the file's name.
fn path_entry(local: &str, entry: PathEntry) -> Result<(String, Vec<String>), String> {
    let object = match entry {
        PathEntry::Cloud(cloud) => return Ok((cloud, Vec::new())),
        PathEntry::Not(_) => {
            return Err(format!(
                "the cloud folder name for {local:?} must be a string"
            ));
        }
        PathEntry::Object(o) => o,
    };
    let shape = "an entry of `paths` is a cloud folder name, or an object like \
                 {\"cloud\": \"Documents\", \"exclude\": [\"*.tmp\", \"cache/\"]}";
    if let Some(key) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "cloud" | "exclude"))
    {
        return Err(format!(
            "the entry of {local:?} has an unknown key {key:?}; {shape}"
        ));
    }
    let cloud = match object.get("cloud") {
        Some(Value::String(c)) => c.clone(),
        Some(_) => {
            return Err(format!(
                "the cloud folder name for {local:?} must be a string"
            ));
        }
        None => return Err(format!("the entry of {local:?} has no \"cloud\"; {shape}")),
    };
    let exclude = match object.get("exclude") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|p| match p {
                Value::String(p) => Ok(p.clone()),
                _ => Err(format!(
                    "\"exclude\" of {local:?} must list patterns as strings, like [\"*.tmp\", \"cache/\"]"
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(format!(
                "\"exclude\" of {local:?} must be a list of patterns, like [\"*.tmp\", \"cache/\"]"
            ));
        }
    };
    Ok((cloud, exclude))
}

/// Checks the `paths` object, in the order of its local folders, and returns
/// the paths in that order; the error is the problem, without the file's name.
fn sync_paths(paths: BTreeMap<String, PathEntry>) -> Result<Vec<SyncPath>, String> {
    if paths.is_empty() {
        return Err("`paths` is empty; add at least one local folder to back up".into());
    }
    let mut sync_paths = Vec::new();
    let mut by_cloud: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (local, entry) in paths {
        let (cloud, exclude) = path_entry(&local, entry)?;
        let local_path = PathBuf::from(&local);
        if !local_path.is_absolute() {
            return Err(format!(
                "path {local:?} is relative; write it in full, starting with /"
            ));
        }
        if local_path.exists() && !local_path.is_dir() {
            return Err(format!(
                "path {local:?} is a file; poof backs up folders, so name the folder that holds it"
            ));
        }
        let cloud = cloud.trim_matches('/').to_string();
        if let Err(why) = crate::pathguard::check(&cloud) {
            return Err(format!(
                "cloud folder name {cloud:?} for {local:?} is not usable: {why}; use a plain name such as \"Documents\""
            ));
        }
        if cloud.split('/').next() == Some(".poof") {
            return Err(format!(
                "cloud folder name {cloud:?} for {local:?} is reserved: poof keeps its manifests under .poof/; choose another name"
            ));
        }
        if let Some(other) = by_cloud.get(&cloud) {
            return Err(format!(
                "{} and {local:?} both use the cloud folder {cloud:?}; give each path its own",
                other.display()
            ));
        }
        by_cloud.insert(cloud.clone(), local_path.clone());
        sync_paths.push(SyncPath {
            local: local_path,
            cloud,
            exclude,
        });
    }
    for (a, b) in by_cloud.keys().zip(by_cloud.keys().skip(1)) {
        if b.starts_with(&format!("{a}/")) {
            return Err(format!(
                "cloud folder {b:?} is inside cloud folder {a:?}; their snapshots would overwrite each other"
            ));
        }
    }
    Ok(sync_paths)
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
            with("s3://my-bucket/backups/laptop/", ""),
            RemoteSpec::S3 {
                bucket: "my-bucket".into(),
                prefix: "backups/laptop".into()
            }
        );
        assert_eq!(
            with("poofremote:", "poofbackup-u-123"),
            RemoteSpec::Named("poofremote".into())
        );
    }

    #[test]
    fn a_path_entry_may_carry_its_own_exclude_patterns() {
        let c = parse(
            r#"{"paths": {"/a": {"cloud": "A", "exclude": ["*.tmp", "cache/"]},
                          "/b": "B", "/c": {"cloud": "/C/", "exclude": null}},
                "remote": "file:///r"}"#,
        )
        .unwrap();
        let got: Vec<(&str, Vec<&str>)> = c
            .paths
            .iter()
            .map(|p| {
                (
                    p.cloud.as_str(),
                    p.exclude.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [("A", vec!["*.tmp", "cache/"]), ("B", vec![]), ("C", vec![])]
        );
        let cases = [
            (
                r#"{"/a": {"cloud": "A", "excludes": []}}"#,
                "the entry of \"/a\" has an unknown key \"excludes\"; an entry of `paths` is a \
                 cloud folder name, or an object like {\"cloud\": \"Documents\", \"exclude\": \
                 [\"*.tmp\", \"cache/\"]}",
            ),
            (
                r#"{"/a": {"exclude": []}}"#,
                "the entry of \"/a\" has no \"cloud\"; an entry of `paths` is a",
            ),
            (
                r#"{"/a": {"cloud": 7}}"#,
                "the cloud folder name for \"/a\" must be a string",
            ),
            (
                r#"{"/a": {"cloud": "A", "exclude": "*.tmp"}}"#,
                "\"exclude\" of \"/a\" must be a list of patterns, like [\"*.tmp\", \"cache/\"]",
            ),
            (
                r#"{"/a": {"cloud": "A", "exclude": ["*.tmp", 3]}}"#,
                "\"exclude\" of \"/a\" must list patterns as strings",
            ),
        ];
        for (paths, want) in cases {
            let err =
                parse(&format!(r#"{{"paths": {paths}, "remote": "file:///r"}}"#)).unwrap_err();
            assert!(
                err.starts_with(&format!("/c/poof.conf: {want}")),
                "{paths}: {err}"
            );
        }
    }

    #[test]
    fn unknown_keys_null_and_repeated_keys_are_read_as_poof_1x_did() {
        // Unknown keys are ignored, `null` is an absent key, and the last of
        // a repeated key counts.
        let c = parse(
            r#"{"paths": {"/a": "X"}, "remote": "s3://one-bucket", "remote": "file:///r",
                "bucket": null, "confFile": null, "encrypted": null,
                "version": 2, "comment": {"any": ["thing"]}}"#,
        )
        .unwrap();
        assert_eq!(c.remote, RemoteSpec::Folder("/r".into()));
        assert_eq!((c.bucket, c.conf_file, c.encrypted), (None, None, false));
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

    #[test]
    fn type_errors_keep_their_exact_words_and_order() {
        // The serde-derived reading must not change a word of these, nor
        // which problem is named first when a file has several.
        let cases = [
            (
                r#"{"paths": null, "remote": 7}"#,
                "`paths` must be an object mapping each local folder to a cloud folder name",
            ),
            (
                r#"{"paths": ["/a"], "remote": "file:///r"}"#,
                "`paths` must be an object mapping each local folder to a cloud folder name",
            ),
            (
                r#"{"paths": {"/b": 1, "/a": null}, "remote": "file:///r"}"#,
                "the cloud folder name for \"/a\" must be a string",
            ),
            (
                r#"{"paths": {"rel": "X"}, "remote": 7, "bucket": 7}"#,
                "path \"rel\" is relative; write it in full, starting with /",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": null}"#,
                "has no `remote`; set it to where snapshots go, e.g. \"file:///media/usb/poof\"",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": ["file:///r"], "bucket": 7}"#,
                "`remote` must be a string",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "file:///r", "bucket": 7, "encrypted": 1}"#,
                "`bucket` must be a string",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "file:///r", "encrypted": 1, "confFile": 7}"#,
                "`encrypted` must be true or false; `poof cryptoggle` switches it",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "file:///r", "confFile": false}"#,
                "`confFile` must be a string",
            ),
            (
                r#""paths""#,
                "must be a JSON object like {\"paths\": {...}, \"remote\": \"...\"}",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "poofremote", "bucket": ""}"#,
                "remote \"poofremote\" names a section of the cloud config file, so `bucket` must \
                 name the bucket; add \"bucket\": \"...\" or write the remote as s3://BUCKET",
            ),
            (
                r#"{"paths": {"/a": "X"}, "remote": "poofremote", "bucket": "b"}"#,
                "bucket \"b\": bucket name \"b\" must have 3 to 63 characters",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                parse(text).unwrap_err(),
                format!("/c/poof.conf: {want}"),
                "{text}"
            );
        }
    }
}
