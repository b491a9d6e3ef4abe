//! A store in an S3 bucket (`s3://BUCKET[/PREFIX]`), over `crate::s3::Client`.
//!
//! Keys are stored under `[PREFIX/]KEY`. The store turns the client's
//! errors into `StoreError`s and knows nothing of what the keys mean: the
//! rclone metadata (`mtime`, `mode`) is the plain layout's business, and
//! encryption the sealed layout's. S3 keeps no native time or mode, so the
//! `Meta` fields of those names are ignored; user metadata is kept.
//!
//! Invariants:
//! - only keys under the prefix are read, written or deleted, and only keys
//!   that pass the path guard; listed keys that do not are skipped, named;
//! - zero-byte keys ending in `/` (folder markers web consoles make) are
//!   not objects and are left out of listings, as rclone leaves them out;
//! - a head-last body (sealed content) under `STREAM_IN_MEMORY` bytes is
//!   built whole in memory and sent with one PUT; a larger one is sent as a
//!   multipart upload read in order, whose part 1 (which holds the head)
//!   is sent last, so memory stays bounded.

use std::fs::File;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;

use anyhow::{Context, anyhow};

use super::{
    Body, Listing, Meta, ObjectInfo, Protection, Put, Result, Setting, Store, StoreError,
    check_key, check_prefix, join_prefix,
};
use crate::cloudconf::S3Settings;
use crate::exit::ConfigError;
use crate::s3::{self, Client, Endpoint};

/// Streamed bodies smaller than this are read into memory and sent with
/// one PUT; larger ones go as a multipart upload.
pub const STREAM_IN_MEMORY: u64 = 4 * 1024 * 1024;

/// Parts of one streamed upload sent at once. With 2 senders a backup of
/// 200 MiB of sealed content peaked at 157 to 171 MB RSS, with 1 at 121 to
/// 126 MB, at the same speed (docs/FORMAT.md, "Measurements").
const STREAM_SENDERS: usize = 1;

/// Objects in an S3 bucket, under an optional prefix.
#[derive(Debug)]
pub struct S3Store {
    client: Client,
    /// `""`, or the prefix without slashes at either end.
    prefix: String,
    /// Where the credentials came from, for `verify`.
    source: String,
}

impl S3Store {
    /// What a listed object under a prefix of `prefix_len` bytes (after the
    /// store's root of `root_len` bytes) is to poof: `None` for a folder
    /// marker, as web consoles make (rclone ignores them too), the reason
    /// for an unusable key.
    fn listed(
        &self,
        o: s3::Object,
        root_len: usize,
        prefix_len: usize,
    ) -> std::result::Result<Option<ObjectInfo>, String> {
        let key = &o.key[root_len..];
        if key.len() == prefix_len || (key.ends_with('/') && o.size == 0) {
            return Ok(None);
        }
        if let Err(why) = crate::pathguard::check(key) {
            return Err(format!(
                "s3://{}/{} (not a usable path: {why})",
                self.client.config().bucket,
                o.key
            ));
        }
        // The listed key loses the root in place: no copy per object.
        let mut key = o.key;
        key.drain(..root_len);
        Ok(Some(ObjectInfo {
            key,
            size: o.size,
            etag: o.etag.unwrap_or_default(),
            mtime_ns: o.last_modified_ns,
            mode: None,
            user: None,
        }))
    }
    /// A store over `client`, with keys under `prefix` (may be empty).
    pub fn new(client: Client, prefix: &str, source: &str) -> Self {
        S3Store {
            client,
            prefix: prefix.trim_matches('/').to_string(),
            source: source.into(),
        }
    }

    /// Builds the client from resolved settings. `md5_meta` and
    /// `sha256_meta` name the user metadata keys under which uploads carry
    /// their digests (the layout's convention; see `crate::s3::Config`).
    pub fn from_settings(
        bucket: &str,
        prefix: &str,
        settings: &S3Settings,
        md5_meta: Option<&str>,
        sha256_meta: Option<&str>,
    ) -> anyhow::Result<Self> {
        let config_error = |e: s3::Error| ConfigError(format!("{}: {e}", settings.source));
        let endpoint =
            Endpoint::parse(settings.endpoint.as_deref().unwrap_or("")).map_err(config_error)?;
        let mut config = s3::Config::new(
            endpoint,
            settings.region.as_deref().unwrap_or(""),
            bucket,
            settings.credentials.clone(),
        );
        config.addressing = settings.addressing;
        config.location_constraint = settings.location_constraint.clone();
        config.bucket_acl = settings.bucket_acl.clone();
        config.server_side_encryption = settings.server_side_encryption.clone();
        config.storage_class = settings.storage_class.clone();
        config.acl = settings.acl.clone();
        if let Some(size) = settings.chunk_size {
            config.part_size = size;
        }
        if let Some(size) = settings.upload_cutoff {
            config.multipart_threshold = size;
        }
        if let Some(n) = settings.upload_concurrency {
            config.concurrency = n;
        }
        config.ca_file = settings.ca_file.clone();
        config.md5_meta = md5_meta.map(str::to_string);
        config.sha256_meta = sha256_meta.map(str::to_string);
        let client = Client::new(config).map_err(config_error)?;
        Ok(S3Store::new(client, prefix, &settings.describe()))
    }

    /// The client, for callers that need more than the `Store` trait.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn full(&self, key: &str) -> Result<String> {
        check_key(key)?;
        Ok(join_prefix(&self.prefix, key))
    }

    /// `[PREFIX/]`, what the store puts before every key.
    fn root(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }
}

/// A bucket setting that could not be read: not offered when the server
/// does not implement the request, unknown otherwise (often a key without
/// the `permission` to read it).
fn unread_setting(e: &s3::Error, permission: &str) -> Setting {
    match e.root() {
        s3::Error::Service { status: 501, .. } => Setting::NotOffered,
        root if root.is_code("NotImplemented") => Setting::NotOffered,
        s3::Error::AccessDenied { .. } => Setting::Unknown(format!(
            "this key may not read it (it needs the permission {permission})"
        )),
        root => Setting::Unknown(root.to_string()),
    }
}

/// The AWS CLI command that turns versioning on for the configured bucket
/// (with the endpoint of a store other than AWS, or AWS's region).
fn enable_versioning(config: &s3::Config) -> String {
    let mut cmd = format!(
        "aws s3api put-bucket-versioning --bucket {} --versioning-configuration Status=Enabled",
        config.bucket
    );
    match &config.endpoint {
        Endpoint::Custom(url) => {
            cmd += &format!(" --endpoint-url {}", url.as_str().trim_end_matches('/'));
        }
        Endpoint::Aws if !config.region.is_empty() => {
            cmd += &format!(" --region {}", config.region);
        }
        Endpoint::Aws => {}
    }
    cmd
}

/// Sorts a client error into the store's kinds, keeping its words.
fn classify(e: s3::Error, context: String) -> StoreError {
    let kind = match e.root() {
        s3::Error::NoSuchKey { .. } => 0,
        s3::Error::AccessDenied { .. } | s3::Error::BadCredentials { .. } => 1,
        s3::Error::BadResponse { .. } => 2,
        _ => 3,
    };
    let e = anyhow::Error::new(e).context(context);
    match kind {
        0 => StoreError::NotFound(e),
        1 => StoreError::AccessDenied(e),
        2 => StoreError::Transient(e),
        _ => StoreError::Other(e),
    }
}

impl Store for S3Store {
    fn describe(&self) -> String {
        let d = self.client.describe();
        if self.prefix.is_empty() {
            d
        } else {
            format!("{d}/{}", self.prefix)
        }
    }

    fn show(&self, key: &str) -> String {
        format!("s3://{}/{}{key}", self.client.config().bucket, self.root())
    }

    fn check_ready(&self) -> Result<()> {
        self.client
            .check_bucket()
            .with_context(|| format!("cannot use {}", self.describe()))
            .map_err(StoreError::Other)
    }

    /// Checks the credentials and the bucket, as `poof verify` does.
    fn verify(&self) -> Result<Vec<String>> {
        let mut found = vec![
            format!("remote: {}", self.describe()),
            format!("credentials: {}", self.source),
        ];
        self.check_ready()?;
        found.push("the bucket answers and the credentials work".into());
        Ok(found)
    }

    /// Creates the bucket when it does not exist; leaves an existing one alone.
    fn create(&self) -> Result<String> {
        let bucket = &self.client.config().bucket;
        let existing = || format!("bucket {bucket:?} exists; left as it is");
        match self.client.check_bucket() {
            Ok(()) => return Ok(existing()),
            Err(e) if matches!(e.root(), s3::Error::NoSuchBucket { .. }) => {}
            Err(e) => return Err(classify(e, format!("cannot use {}", self.describe()))),
        }
        let location = self.client.location_constraint();
        match self.client.create_bucket() {
            Ok(s3::Created::New) => Ok(match location {
                Some(l) => format!("created bucket {bucket:?} in {l}"),
                None => format!("created bucket {bucket:?}"),
            }),
            Ok(s3::Created::Existed) => Ok(existing()),
            Err(e) => Err(classify(e, format!("cannot create bucket {bucket:?}"))),
        }
    }

    /// Reads the bucket's versioning and Object Lock settings; a setting
    /// that cannot be read is reported as such, never as an error.
    fn protection(&self) -> Option<Protection> {
        let versioning = match self.client.bucket_versioning() {
            Ok(s3::Versioning::Enabled) => Setting::On(String::new()),
            Ok(s3::Versioning::Suspended) => Setting::Suspended,
            Ok(s3::Versioning::Off) => Setting::Off,
            Err(e) => unread_setting(&e, "s3:GetBucketVersioning"),
        };
        let object_lock = match self.client.object_lock() {
            Ok(Some(lock)) if lock.enabled => Setting::On(match lock.default_retention {
                Some(r) => format!("default retention: {r}"),
                None => "no default retention".into(),
            }),
            Ok(_) => Setting::Off,
            Err(e) => unread_setting(&e, "s3:GetBucketObjectLockConfiguration"),
        };
        Some(Protection {
            versioning,
            object_lock,
            enable_versioning: enable_versioning(self.client.config()),
        })
    }

    fn keeps_user_metadata(&self) -> bool {
        true
    }

    fn lists_metadata(&self) -> bool {
        false
    }

    fn list(&self, prefix: &str) -> Result<Listing> {
        let mut objects = Vec::new();
        let mut listing = self.list_each(prefix, &[], &mut |part| {
            objects.extend(part);
            ControlFlow::Continue(())
        })?;
        objects.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        listing.objects = objects;
        Ok(listing)
    }

    fn list_each(
        &self,
        prefix: &str,
        hints: &[String],
        part: &mut dyn FnMut(Vec<ObjectInfo>) -> ControlFlow<()>,
    ) -> Result<Listing> {
        check_prefix(prefix)?;
        let root = self.root();
        let full = format!("{root}{prefix}");
        let hints: Vec<String> = hints.iter().map(|h| format!("{full}{h}")).collect();
        let mut listing = Listing::default();
        self.client
            .list_each(&full, &hints, crate::knobs::checkers(), &mut |objects| {
                listing.exists |= !objects.is_empty();
                let mut infos = Vec::with_capacity(objects.len());
                for o in objects {
                    match self.listed(o, root.len(), prefix.len()) {
                        Ok(Some(info)) => infos.push(info),
                        Ok(None) => {}
                        Err(skipped) => listing.skipped.push(skipped),
                    }
                }
                part(infos)
            })
            .map_err(|e| classify(e, format!("listing {}", self.show(prefix))))?;
        Ok(listing)
    }

    fn head(&self, key: &str) -> Result<ObjectInfo> {
        let full = self.full(key)?;
        let h = self
            .client
            .head(&full)
            .map_err(|e| classify(e, format!("{}: cannot read its metadata", self.show(key))))?;
        Ok(ObjectInfo {
            key: key.to_string(),
            size: h.size,
            etag: h.etag.unwrap_or_default(),
            mtime_ns: h.last_modified_ns,
            mode: None,
            user: Some(h.metadata),
        })
    }

    fn get(&self, key: &str, out: &mut dyn Write) -> Result<u64> {
        let full = self.full(key)?;
        self.client
            .get(&full, out)
            .map_err(|e| classify(e, format!("reading {}", self.show(key))))
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let full = self.full(key)?;
        self.client
            .get_range(&full, start, len)
            .map_err(|e| classify(e, format!("reading {}", self.show(key))))
    }

    fn get_file(&self, key: &str, file: &mut File, dest: &Path) -> Result<u64> {
        let full = self.full(key)?;
        self.client
            .get_to_file(&full, file, dest)
            .map_err(|e| classify(e, format!("downloading from {}", self.describe())))
    }

    fn put(&self, key: &str, body: Body<'_>, meta: &Meta) -> Result<Put> {
        let full = self.full(key)?;
        let context = || format!("uploading to {}", self.describe());
        let in_memory = |bytes: Vec<u8>| {
            if !meta.user.is_empty() {
                return Err(StoreError::other(format!(
                    "{}: user metadata is only sent with file bodies",
                    self.show(key)
                )));
            }
            self.client
                .put_bytes(&full, bytes)
                .map_err(|e| classify(e, context()))
        };
        let put = match body {
            Body::Bytes(b) => in_memory(b)?,
            Body::File {
                file,
                path,
                len,
                unchanged,
            } => {
                let put = self
                    .client
                    .put_file(&full, file, path, len, &meta.user)
                    .map_err(|e| classify(e, context()))?;
                unchanged().map_err(|e| StoreError::Other(anyhow!(e)))?;
                put
            }
            Body::HeadLast {
                reader,
                len,
                head_len,
                path,
            } if len < STREAM_IN_MEMORY => {
                let mut bytes = vec![0; len as usize];
                super::read_head_last(reader, &mut bytes, head_len as usize, path)
                    .map_err(|e| StoreError::Other(anyhow!(e)))?;
                in_memory(bytes)?
            }
            Body::HeadLast {
                reader,
                len,
                head_len,
                path,
            } => {
                if !meta.user.is_empty() {
                    return Err(StoreError::other(format!(
                        "{}: user metadata is only sent with file bodies",
                        self.show(key)
                    )));
                }
                self.client
                    .put_multipart_head_last(&full, len, head_len, reader, path, STREAM_SENDERS)
                    .map_err(|e| classify(e, context()))?
            }
        };
        Ok(Put { etag: put.etag })
    }

    fn set_meta(&self, key: &str, meta: &Meta) -> Result<()> {
        let full = self.full(key)?;
        self.client
            .replace_metadata(&full, &meta.user)
            .map_err(|e| classify(e, format!("setting permissions on {}", self.describe())))
    }

    fn delete(&self, key: &str) -> Result<()> {
        let full = self.full(key)?;
        self.client
            .delete(&full)
            .map_err(|e| classify(e, format!("deleting from {}", self.describe())))
    }

    fn requests(&self) -> Option<u64> {
        Some(self.client.requests())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::Config;

    fn store(prefix: &str) -> S3Store {
        let c = Config::for_tests(Endpoint::parse("http://127.0.0.1:9").unwrap(), "garage");
        S3Store::new(Client::new(c).unwrap(), prefix, "test")
    }

    #[test]
    fn the_versioning_command_names_the_bucket_and_where_it_is() {
        assert_eq!(
            enable_versioning(store("").client().config()),
            "aws s3api put-bucket-versioning --bucket bkt --versioning-configuration Status=Enabled \
             --endpoint-url http://127.0.0.1:9"
        );
        let aws = Config::for_tests(Endpoint::Aws, "eu-west-1");
        assert!(enable_versioning(&aws).ends_with("Status=Enabled --region eu-west-1"));
    }

    #[test]
    fn unreadable_settings_are_not_offered_or_unknown_never_errors() {
        let service = |status, code: &str| s3::Error::Service {
            op: "reading".into(),
            status,
            code: code.into(),
            message: "m".into(),
        };
        // Garage answers GetObjectLockConfiguration with 501 NotImplemented.
        assert_eq!(
            unread_setting(&service(501, "NotImplemented"), "p"),
            Setting::NotOffered
        );
        assert_eq!(
            unread_setting(&service(400, "NotImplemented"), "p"),
            Setting::NotOffered
        );
        let gave_up = s3::Error::GaveUp {
            attempts: 5,
            last: Box::new(service(501, "")),
        };
        assert_eq!(unread_setting(&gave_up, "p"), Setting::NotOffered);
        let denied = s3::Error::AccessDenied {
            what: "bucket".into(),
            message: "no".into(),
        };
        assert_eq!(
            unread_setting(&denied, "s3:GetBucketVersioning"),
            Setting::Unknown(
                "this key may not read it (it needs the permission s3:GetBucketVersioning)".into()
            )
        );
        assert!(matches!(
            unread_setting(&service(500, "InternalError"), "p"),
            Setting::Unknown(why) if why.contains("InternalError")
        ));
    }

    #[test]
    fn keys_go_under_the_prefix_and_must_be_safe() {
        let s = store("");
        assert_eq!(s.full("Documents/a/b.txt").unwrap(), "Documents/a/b.txt");
        let s = store("/backups/laptop/");
        assert_eq!(
            s.full("Documents/a/b.txt").unwrap(),
            "backups/laptop/Documents/a/b.txt"
        );
        assert_eq!(s.describe(), "http://127.0.0.1:9/bkt/backups/laptop");
        assert_eq!(s.show("D/x"), "s3://bkt/backups/laptop/D/x");
        for bad in ["Documents/../x", "../Documents/x", "/x", "a//b"] {
            assert!(s.full(bad).is_err(), "{bad:?}");
        }
    }
}
