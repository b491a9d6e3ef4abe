//! The `remote` of `poof.conf`: where the snapshots go, read from the one
//! string poof 1.x stored (`file:///…`, `s3://BUCKET[/PREFIX]`, or the name
//! of a section of the cloud config file).
//!
//! Invariant: a `RemoteSpec` that `parse_remote` returned is understood and
//! safe to use: a folder remote is absolute and has no `..`, a bucket passed
//! `check_bucket`, and an S3 prefix is a safe relative path. Anything else is
//! refused with a reason that `PoofConf::parse` puts after the file's name.

use std::path::PathBuf;

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

/// Reads the `remote` string of `poof.conf`; the error is the reason it is
/// refused, without the file's name.
pub(super) fn parse_remote(remote: &str) -> Result<RemoteSpec, String> {
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
                crate::pathguard::check(prefix).map_err(|why| {
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
pub(crate) fn check_bucket(bucket: &str) -> Result<(), String> {
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
    fn reads_folder_s3_and_named_remotes() {
        let parse = |remote: &str| parse_remote(remote).unwrap();
        assert_eq!(
            parse("file:///media/usb/poof"),
            RemoteSpec::Folder("/media/usb/poof".into())
        );
        assert_eq!(
            parse("s3://my-bucket"),
            RemoteSpec::S3 {
                bucket: "my-bucket".into(),
                prefix: "".into()
            }
        );
        assert_eq!(
            parse("s3://my-bucket/backups/laptop/"),
            RemoteSpec::S3 {
                bucket: "my-bucket".into(),
                prefix: "backups/laptop".into()
            }
        );
        assert_eq!(parse("poofremote"), RemoteSpec::Named("poofremote".into()));
        assert_eq!(parse("poofremote:"), RemoteSpec::Named("poofremote".into()));
    }

    #[test]
    fn refusals_say_why() {
        let cases = [
            ("ftp://host/x", "unknown remote scheme `ftp://`"),
            ("file://relative", "must be an absolute path"),
            ("file:///a/../b", "must not contain `..`"),
            ("s3://ab", "must have 3 to 63 characters"),
            ("s3://a b c", "may hold only letters"),
            ("s3://bkt/../x", "the prefix \"../x\" is not usable"),
            ("[x]", "is not a remote"),
            (":", "is not a remote"),
        ];
        for (remote, want) in cases {
            let err = parse_remote(remote).unwrap_err();
            assert!(err.contains(want), "{remote}: {err}");
        }
        assert!(check_bucket("poofbackup-u-123").is_ok());
        assert!(check_bucket("Old_Bucket.1").is_ok());
        assert!(check_bucket(&"b".repeat(64)).is_err());
    }
}
