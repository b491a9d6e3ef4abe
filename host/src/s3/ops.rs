//! The S3 operations poof uses: list, head, get, put, copy-in-place, delete,
//! and the two bucket settings `poof verify` reports (versioning, Object Lock).
//!
//! Invariants:
//! - a listing is either complete or an error, never silently short;
//! - a download that breaks off is retried from the start into an emptied
//!   file (a large one is fetched in ranges, each retried alone: `ranged`),
//!   and its byte count is checked against `Content-Length`;
//! - an upload is signed with its body's SHA-256 (a whole object's, or each
//!   part's), so the server refuses bytes that changed on the way.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use md5::{Digest, Md5};
use reqwest::Method;
use reqwest::blocking::Response;
use reqwest::header::HeaderMap;

use super::budget::{Budget, Lease};
use super::request::{Body, Request, encode_key};
use super::retry::{Verdict, classify_io};
use super::{Client, Error, Metadata, Result, xml};
use crate::fsx::Writeback;

/// One object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// When the server stored it, in nanoseconds since the epoch.
    pub last_modified_ns: Option<i64>,
    /// The ETag, without quotes.
    pub etag: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// The objects on this page, in key order.
    pub objects: Vec<Object>,
    /// With a delimiter: the folder names on this page (`CommonPrefixes`).
    pub prefixes: Vec<String>,
    /// The token for the next page; `None` on the last one.
    pub next_token: Option<String>,
}

/// What a HEAD request says about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Size in bytes.
    pub size: u64,
    /// The ETag, without quotes.
    pub etag: Option<String>,
    /// When the server stored it, in nanoseconds since the epoch.
    pub last_modified_ns: Option<i64>,
    /// The user metadata.
    pub metadata: Metadata,
}

/// A key a DeleteObjects request could not delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteFailure {
    /// The key.
    pub key: String,
    /// The S3 error code.
    pub code: String,
    /// The server's message.
    pub message: String,
}

/// What an upload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The new object's ETag, without quotes, when the server gave one.
    pub etag: Option<String>,
    /// How many parts were sent (1 for a single PUT).
    pub parts: u64,
}

/// A bucket's versioning, as GetBucketVersioning tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Every overwrite and deletion keeps the object's earlier version.
    Enabled,
    /// It was on; overwrites and deletions now keep no earlier version.
    Suspended,
    /// It was never turned on.
    Off,
}

/// A bucket's Object Lock configuration, as GetObjectLockConfiguration tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectLock {
    /// `ObjectLockEnabled` is `Enabled`.
    pub enabled: bool,
    /// The default retention, in words (`GOVERNANCE, 30 days`), when the
    /// bucket has one.
    pub default_retention: Option<String>,
}

/// What `create_bucket` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The bucket was created.
    New,
    /// The bucket already existed and belongs to these credentials' account.
    Existed,
}

/// The token of the page after one asked for with `previous`: `None` on
/// the last page; an error when the server gives the same token again
/// (the listing would never end).
pub(super) fn next_token(
    prefix: &str,
    previous: Option<&str>,
    next: Option<String>,
) -> Result<Option<String>> {
    if next.is_some() && next.as_deref() == previous {
        return Err(Error::BadResponse {
            op: format!("listing {prefix:?}"),
            detail: "the server returned the same continuation token twice".into(),
        });
    }
    Ok(next)
}

/// The largest number of keys one DeleteObjects request may name.
pub const DELETE_BATCH: usize = 1000;

impl Client {
    /// One page of the objects whose keys start with `prefix`, at most
    /// `max_keys` of them (S3 caps it at 1000).
    pub fn list_page(&self, prefix: &str, token: Option<&str>, max_keys: u32) -> Result<ListPage> {
        self.list_query(prefix, token, None, false, max_keys)
    }

    /// One ListObjectsV2 request: from `token` or after the key
    /// `start_after`, and with `delimiter`, the names of the folders one
    /// level under `prefix` in `prefixes` instead of their keys.
    pub(super) fn list_query(
        &self,
        prefix: &str,
        token: Option<&str>,
        start_after: Option<&str>,
        delimiter: bool,
        max_keys: u32,
    ) -> Result<ListPage> {
        let mut req = Request::new(Method::GET, None, format!("listing {prefix:?}"));
        req.query.push(("list-type", "2".into()));
        req.query.push(("encoding-type", "url".into()));
        if !prefix.is_empty() {
            req.query.push(("prefix", prefix.into()));
        }
        req.query.push(("max-keys", max_keys.to_string()));
        if let Some(t) = token {
            req.query.push(("continuation-token", t.into()));
        }
        if let Some(s) = start_after {
            req.query.push(("start-after", s.into()));
        }
        if delimiter {
            req.query.push(("delimiter", "/".into()));
        }
        let body = self.send_text(&req)?;
        xml::parse_list(&body).map_err(|detail| Error::BadResponse { op: req.op, detail })
    }

    /// Every object whose key starts with `prefix`, following continuation tokens.
    pub fn list(&self, prefix: &str, max_keys: u32) -> Result<Vec<Object>> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(prefix, token.as_deref(), max_keys)?;
            all.extend(page.objects);
            match next_token(prefix, token.as_deref(), page.next_token)? {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }

    /// Size, ETag, time and user metadata of one object.
    pub fn head(&self, key: &str) -> Result<Head> {
        let req = Request::new(Method::HEAD, Some(key), format!("HEAD {key}"));
        let resp = self.send(&req)?;
        let h = resp.headers();
        let size = header(h, "content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::BadResponse {
                op: req.op.clone(),
                detail: "no Content-Length".into(),
            })?;
        let metadata = h
            .iter()
            .filter_map(|(name, value)| {
                let k = name.as_str().strip_prefix("x-amz-meta-")?;
                Some((k.to_string(), value.to_str().ok()?.to_string()))
            })
            .collect();
        Ok(Head {
            size,
            etag: header(h, "etag").map(xml::unquote),
            last_modified_ns: header(h, "last-modified").and_then(xml::parse_http_date_ns),
            metadata,
        })
    }

    /// Streams an object into `out`; returns the number of bytes written.
    /// Failures before the first byte are retried; a break mid-way is not
    /// (use `get_to_file` for that).
    pub fn get(&self, key: &str, out: &mut dyn Write) -> Result<u64> {
        let req = Request::new(Method::GET, Some(key), format!("GET {key}"));
        let resp = self.send(&req)?;
        copy_body(resp, out, Path::new(key), &self.config).map_err(|(_, e)| e)
    }

    /// The first `len` bytes of an object from byte `start` (fewer when
    /// the object is shorter), with one ranged GET; for encrypted headers.
    pub fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let mut req = Request::new(Method::GET, Some(key), format!("GET {key} (range)"));
        let end = start + len.max(1) - 1;
        req.headers
            .push(("range".into(), format!("bytes={start}-{end}")));
        let mut resp = self.send(&req)?;
        let mut out = Vec::with_capacity(len as usize);
        (&mut resp)
            .take(len)
            .read_to_end(&mut out)
            .map_err(|e| Error::BadResponse {
                op: req.op.clone(),
                detail: format!("the answer broke off: {e}"),
            })?;
        Ok(out)
    }

    /// Downloads an object into `file` (named `dest` in messages), retrying
    /// from the start, into an emptied file, when the transfer breaks off.
    /// A large object is fetched in parallel ranges written in place
    /// (`ranged`), each range retried alone; `file` must then be open for
    /// reading too, as `fsx::write_atomically` opens it.
    pub fn get_to_file(&self, key: &str, file: &mut File, dest: &Path) -> Result<u64> {
        let req = Request::new(Method::GET, Some(key), format!("GET {key}"));
        let policy = self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let io = |source| Error::Io {
                path: dest.to_owned(),
                source,
            };
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            let resp = self.send(&req)?;
            let got = match resp.content_length() {
                Some(len) if self.ranged(len) => self.get_ranged(key, resp, len, file, dest),
                _ => copy_body(resp, &mut Writeback::new(file), dest, &self.config),
            };
            match got {
                Ok(n) => return Ok(n),
                Err((Verdict::Retry, e)) if attempt < policy.attempts => {
                    let _ = e;
                    std::thread::sleep(policy.delay(attempt));
                }
                Err((Verdict::Retry, e)) => {
                    return Err(Error::GaveUp {
                        attempts: attempt,
                        last: Box::new(e),
                    });
                }
                Err((Verdict::Fail, e)) => return Err(e),
            }
        }
    }

    /// Uploads `len` bytes of `file` (named `path` in messages) as `key`,
    /// with the given user metadata: one streamed PUT below the multipart
    /// threshold, a multipart upload from it on.
    pub fn put_file(
        &self,
        key: &str,
        file: Arc<File>,
        path: &Path,
        len: u64,
        metadata: &Metadata,
    ) -> Result<Upload> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let mut metadata = metadata.clone();
        if len >= self.config.multipart_threshold && len > 0 {
            // CreateMultipartUpload carries the metadata, so the whole
            // file's digests come first, in one pass: its SHA-256 under the
            // key the config names, and its MD5, since a multipart ETag is
            // none, under rclone's.
            let (md5, sha256) = digests_of(&file, len).map_err(io)?;
            if let Some(k) = &self.config.sha256_meta {
                metadata.insert(k.clone(), hex::encode(sha256));
            }
            if let Some(k) = &self.config.md5_meta {
                metadata
                    .entry(k.clone())
                    .or_insert_with(|| base64::engine::general_purpose::STANDARD.encode(md5));
            }
            return self.put_multipart(key, file, path, len, &metadata);
        }
        // One PUT, signed with the content's SHA-256: the server hashes
        // what it receives and refuses the object when the two differ
        // (`XAmzContentSHA256Mismatch`), as it does for each part of a
        // multipart upload. That one hash is also the `sha256` metadata;
        // no MD5 is computed, since the server's ETag is the MD5 S3 and
        // rclone read. A small file is read once, hashed and sent from
        // memory; so is one up to a part's size when the parts' budget has
        // room for it at once. Any other is hashed in one pass and
        // streamed in a second.
        let mut lease = None;
        let buffer = if len <= READ_ONCE {
            Some(vec![0u8; len as usize])
        } else if len <= self.config.part_size {
            lease = Budget::parts().try_take(len);
            lease.as_mut().map(Lease::buffer)
        } else {
            None
        };
        let (sha256, bytes) = if let Some(mut bytes) = buffer {
            read_whole(&file, &mut bytes).map_err(io)?;
            (sha2::Sha256::digest(&bytes).into(), Some(bytes))
        } else {
            (sha256_of(&file, len).map_err(io)?, None)
        };
        if let Some(k) = &self.config.sha256_meta {
            metadata.insert(k.clone(), hex::encode(sha256));
        }
        let metadata = &metadata;
        let mut req = Request::new(Method::PUT, Some(key), format!("PUT {key}"));
        req.headers.extend(self.config.upload_headers());
        req.headers.extend(meta_headers(metadata));
        req.body_sha256 = Some(sha256);
        req.body = match bytes {
            Some(bytes) => Body::Bytes(bytes.into()),
            None => Body::File {
                file,
                offset: 0,
                len,
            },
        };
        let sent = self.send_for_headers(&req);
        if let Some(lease) = lease.as_mut()
            && let Body::Bytes(bytes) = std::mem::replace(&mut req.body, Body::Empty)
            && bytes.is_unique()
        {
            // The same allocation, for the next part or file.
            lease.give_back(bytes.into());
        }
        Ok(Upload {
            etag: header(&sent?, "etag").map(xml::unquote),
            parts: 1,
        })
    }

    /// Uploads a small object from memory (poof's own manifests), signed
    /// with its SHA-256, which the server checks.
    pub fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<Upload> {
        let mut req = Request::new(Method::PUT, Some(key), format!("PUT {key}"));
        req.headers.extend(self.config.upload_headers());
        req.body = Body::Bytes(bytes.into());
        let resp = self.send(&req)?;
        Ok(Upload {
            etag: header(resp.headers(), "etag").map(xml::unquote),
            parts: 1,
        })
    }

    /// Replaces the user metadata of an object by copying it onto itself
    /// (objects up to 5 GiB, S3's limit for one copy).
    pub fn replace_metadata(&self, key: &str, metadata: &Metadata) -> Result<()> {
        let mut req = Request::new(
            Method::PUT,
            Some(key),
            format!("updating metadata of {key}"),
        );
        req.headers.push((
            "x-amz-copy-source".into(),
            format!(
                "/{}/{}",
                super::request::encode_query(&self.config.bucket),
                encode_key(key)
            ),
        ));
        req.headers
            .push(("x-amz-metadata-directive".into(), "REPLACE".into()));
        // A copy does not keep these: they are sent again, as rclone does.
        req.headers.extend(self.config.upload_headers());
        req.headers.extend(meta_headers(metadata));
        let body = self.send_text(&req)?;
        match xml::parse_etag_result(&body) {
            Ok(_) => Ok(()),
            Err((code, message)) => Err(Error::Service {
                op: req.op,
                status: 200,
                code,
                message,
            }),
        }
    }

    /// Deletes one object (deleting a missing object succeeds, as in S3).
    pub fn delete(&self, key: &str) -> Result<()> {
        let req = Request::new(Method::DELETE, Some(key), format!("DELETE {key}"));
        self.send(&req)?;
        Ok(())
    }

    /// Deletes many objects, up to 1000 per request; returns the keys the
    /// server could not delete, with its reasons.
    pub fn delete_many<S: AsRef<str>>(&self, keys: &[S]) -> Result<Vec<DeleteFailure>> {
        let mut failures = Vec::new();
        for batch in keys.chunks(DELETE_BATCH) {
            let body = xml::delete_body(batch).into_bytes();
            let mut req = Request::new(
                Method::POST,
                None,
                format!("deleting {} objects", batch.len()),
            );
            req.query.push(("delete", String::new()));
            // AWS requires Content-MD5 (or a checksum header) here; every
            // S3-compatible store accepts Content-MD5.
            req.headers.push(("content-md5".into(), md5_b64(&body)));
            req.headers
                .push(("content-type".into(), "application/xml".into()));
            req.body = Body::Bytes(body.into());
            let text = self.send_text(&req)?;
            failures.extend(
                xml::parse_delete_result(&text)
                    .map_err(|detail| Error::BadResponse { op: req.op, detail })?,
            );
        }
        Ok(failures)
    }

    /// Checks that the credentials work and the bucket can be listed.
    pub fn check_bucket(&self) -> Result<()> {
        self.list_page("", None, 1).map(|_| ())
    }

    /// The region a new bucket is created in: `location_constraint` when the
    /// config names one; on AWS otherwise the signing region, except
    /// `us-east-1`, which AWS wants named by no constraint at all.
    pub fn location_constraint(&self) -> Option<String> {
        let c = &self.config;
        c.location_constraint
            .clone()
            .filter(|l| !l.is_empty())
            .or_else(|| {
                (c.endpoint == super::Endpoint::Aws && c.region != "us-east-1")
                    .then(|| c.region.clone())
            })
    }

    /// Creates the bucket (`PUT /BUCKET`), in `location_constraint()` and
    /// with `x-amz-acl` from the config's `bucket_acl`. A bucket these
    /// credentials already own is `Created::Existed`; a name another account
    /// holds is an error that says so.
    pub fn create_bucket(&self) -> Result<Created> {
        let bucket = &self.config.bucket;
        let mut req = Request::new(Method::PUT, None, format!("creating bucket {bucket:?}"));
        if let Some(location) = self.location_constraint() {
            req.headers
                .push(("content-type".into(), "application/xml".into()));
            req.body = Body::Bytes(xml::create_bucket_body(&location).into());
        }
        if let Some(acl) = self.config.bucket_acl.as_deref().filter(|a| !a.is_empty()) {
            req.headers.push(("x-amz-acl".into(), acl.into()));
        }
        match self.send(&req) {
            Ok(_) => Ok(Created::New),
            Err(e) if e.root().is_code("BucketAlreadyOwnedByYou") => Ok(Created::Existed),
            Err(e) if e.root().is_code("BucketAlreadyExists") => Err(Error::Service {
                op: req.op,
                status: 409,
                code: "BucketAlreadyExists".into(),
                message: "the name is taken by another account (bucket names are shared by \
                          every user of the store); choose another bucket name in poof.conf"
                    .into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The bucket's versioning (`GET /?versioning`).
    pub fn bucket_versioning(&self) -> Result<Versioning> {
        let mut req = Request::new(Method::GET, None, "reading the bucket's versioning");
        req.query.push(("versioning", String::new()));
        let text = self.send_text(&req)?;
        xml::parse_versioning(&text).map_err(|detail| Error::BadResponse { op: req.op, detail })
    }

    /// The bucket's Object Lock configuration (`GET /?object-lock`); `None`
    /// when it has none (`ObjectLockConfigurationNotFoundError`). A server
    /// that does not implement it answers an error (`NotImplemented`).
    pub fn object_lock(&self) -> Result<Option<ObjectLock>> {
        let mut req = Request::new(
            Method::GET,
            None,
            "reading the bucket's Object Lock configuration",
        );
        req.query.push(("object-lock", String::new()));
        let text = match self.send_text(&req) {
            Ok(text) => text,
            Err(e) if e.root().is_code("ObjectLockConfigurationNotFoundError") => return Ok(None),
            Err(e) => return Err(e),
        };
        xml::parse_object_lock(&text)
            .map(Some)
            .map_err(|detail| Error::BadResponse { op: req.op, detail })
    }

    /// The unfinished multipart uploads under `prefix`, as (key, upload id).
    pub fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let mut req = Request::new(Method::GET, None, "listing multipart uploads");
        req.query.push(("uploads", String::new()));
        if !prefix.is_empty() {
            req.query.push(("prefix", prefix.into()));
        }
        let text = self.send_text(&req)?;
        xml::parse_uploads(&text).map_err(|detail| Error::BadResponse { op: req.op, detail })
    }

    /// Abandons a multipart upload and frees its parts.
    pub fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        let mut req = Request::new(
            Method::DELETE,
            Some(key),
            format!("aborting the upload of {key}"),
        );
        req.query.push(("uploadId", upload_id.into()));
        self.send(&req)?;
        Ok(())
    }

    /// Sends a request whose answer is a small text (XML), retrying when the
    /// answer breaks off mid-body as when the request itself fails. Every
    /// such request is safe to repeat (listings, batched deletes, and
    /// completing a multipart upload, which S3 answers the same way twice).
    pub(super) fn send_text(&self, req: &Request<'_>) -> Result<String> {
        let policy = self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send(req)?.text() {
                Ok(text) => return Ok(text),
                Err(e) if attempt < policy.attempts => {
                    let _ = e;
                    std::thread::sleep(policy.delay(attempt));
                }
                Err(e) => return Err(self.bad(&req.op, e)),
            }
        }
    }

    /// Reads a small object into memory, retrying a transfer that breaks
    /// off or arrives damaged (poof's manifests and keys).
    pub fn get_bytes(&self, key: &str) -> Result<Vec<u8>> {
        let req = Request::new(Method::GET, Some(key), format!("GET {key}"));
        let policy = self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut out = Vec::new();
            let resp = self.send(&req)?;
            match copy_body(resp, &mut out, Path::new(key), &self.config) {
                Ok(_) => return Ok(out),
                Err((Verdict::Retry, _)) if attempt < policy.attempts => {
                    std::thread::sleep(policy.delay(attempt));
                }
                Err((_, e)) => return Err(e),
            }
        }
    }

    pub(super) fn bad(&self, op: &str, e: reqwest::Error) -> Error {
        Error::BadResponse {
            op: op.into(),
            detail: format!("the answer broke off: {e}"),
        }
    }
}

/// `x-amz-meta-*` headers for user metadata.
pub(super) fn meta_headers(metadata: &Metadata) -> impl Iterator<Item = (String, String)> + '_ {
    metadata
        .iter()
        .map(|(k, v)| (format!("x-amz-meta-{}", k.to_ascii_lowercase()), v.clone()))
}

pub(super) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The base64 MD5 of some bytes, as `Content-MD5` wants it.
pub(super) fn md5_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

/// The MD5 of the first `len` bytes of a file.
#[cfg(test)]
fn md5_of(file: &File, len: u64) -> std::io::Result<[u8; 16]> {
    digests_of(file, len).map(|(md5, _)| md5)
}

/// Files up to this size are read into memory once, for their digests and
/// their PUT: the size of the buffer the digests of a larger file are
/// computed through, so a small file costs no more memory than that pass.
const READ_ONCE: u64 = 1 << 20;

/// Fills `bytes` from the start of a file.
fn read_whole(file: &File, bytes: &mut [u8]) -> std::io::Result<()> {
    file.read_exact_at(bytes, 0).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => shrank(),
        _ => e,
    })
}

fn shrank() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the file shrank while it was being read",
    )
}

/// Files from this size on are hashed by two threads at once (`digests_of`).
const DIGESTS_SIDE_BY_SIDE_FROM: u64 = 8 << 20;

/// The MD5 and the SHA-256 of the first `len` bytes of a file, in one pass.
/// A large file's SHA-256 is computed on a second thread from the same
/// buffers while this one computes the MD5: on a multipart upload the
/// pass comes before any part is sent, so it is waited for, and MD5 alone
/// takes most of it (about 620 MB/s against SHA-256's 1,750 with the CPU's
/// SHA instructions).
fn digests_of(file: &File, len: u64) -> std::io::Result<([u8; 16], [u8; 32])> {
    if len < DIGESTS_SIDE_BY_SIDE_FROM {
        let mut md5 = Md5::new();
        let mut sha = sha2::Sha256::new();
        read_through(file, 0, len, &mut |b| {
            md5.update(b);
            sha.update(b);
        })?;
        return Ok((md5.finalize().into(), sha.finalize().into()));
    }
    // Three 1 MiB buffers go round: read and MD5 here, SHA-256 there, and
    // back. A buffer is only refilled once the SHA-256 thread is done with it.
    const BUFFERS: usize = 3;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = empty_tx.send(vec![0u8; READ_ONCE as usize]);
    }
    std::thread::scope(|s| {
        let sha = s.spawn(move || {
            let mut sha = sha2::Sha256::new();
            for (buf, n) in full_rx {
                sha.update(&buf[..n]);
                // The reader may have stopped (an error): nothing to give back to.
                let _ = empty_tx.send(buf);
            }
            <[u8; 32]>::from(sha.finalize())
        });
        let mut md5 = Md5::new();
        let mut pos = 0u64;
        let read = (|| {
            while pos < len {
                let mut buf = empty_rx
                    .recv()
                    .expect("the hashing thread gives buffers back");
                let n = read_some(file, &mut buf, pos, len)?;
                md5.update(&buf[..n]);
                full_tx
                    .send((buf, n))
                    .expect("the hashing thread takes every buffer");
                pos += n as u64;
            }
            Ok(())
        })();
        // Ends the SHA-256 thread's loop, whether the reading finished or failed.
        drop(full_tx);
        let sha = sha.join().expect("hashing does not panic");
        read.map(|()| (md5.finalize().into(), sha))
    })
}

/// The SHA-256 of the first `len` bytes of a file.
fn sha256_of(file: &File, len: u64) -> std::io::Result<[u8; 32]> {
    let mut sha = sha2::Sha256::new();
    read_through(file, 0, len, &mut |b| sha.update(b))?;
    Ok(sha.finalize().into())
}

/// Hands the `len` bytes of a file from `start` to `each`, in order,
/// through one buffer of at most 1 MiB and no more than the slice (a small
/// file does not cost a large buffer).
pub(super) fn read_through(
    file: &File,
    start: u64,
    len: u64,
    each: &mut dyn FnMut(&[u8]),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; len.clamp(1, READ_ONCE) as usize];
    let (mut pos, end) = (start, start + len);
    while pos < end {
        let n = read_some(file, &mut buf, pos, end)?;
        each(&buf[..n]);
        pos += n as u64;
    }
    Ok(())
}

/// Reads into `buf` at `pos` what is left before offset `end` (at most the
/// buffer); returns how many bytes were read, never 0.
fn read_some(file: &File, buf: &mut [u8], pos: u64, end: u64) -> std::io::Result<usize> {
    let want = buf.len().min((end - pos) as usize);
    match file.read_at(&mut buf[..want], pos)? {
        0 => Err(shrank()),
        n => Ok(n),
    }
}

/// Copies a response body into `out`, telling network failures (worth a
/// retry) from local write failures (not), and checking the length.
fn copy_body(
    mut resp: Response,
    out: &mut dyn Write,
    dest: &Path,
    config: &super::Config,
) -> std::result::Result<u64, (Verdict, Error)> {
    let expected = resp.content_length();
    let checksum = Expected::of(resp.headers(), config);
    let mut hashing = checksum.as_ref().map(Expected::hashing);
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    let broke = |e: std::io::Error, n: u64| {
        (
            classify_io(&e),
            Error::BadResponse {
                op: format!("downloading to {}", dest.display()),
                detail: format!("the transfer broke off after {n} bytes: {e}"),
            },
        )
    };
    loop {
        let k = match resp.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(broke(e, n)),
        };
        crate::knobs::throttle(k);
        if let Some(h) = hashing.as_mut() {
            h.update(&buf[..k]);
        }
        out.write_all(&buf[..k]).map_err(|source| {
            (
                Verdict::Fail,
                Error::Io {
                    path: dest.to_owned(),
                    source,
                },
            )
        })?;
        n += k as u64;
    }
    if let Some(len) = expected
        && len != n
    {
        return Err((
            Verdict::Retry,
            Error::BadResponse {
                op: format!("downloading to {}", dest.display()),
                detail: format!("got {n} bytes of {len}"),
            },
        ));
    }
    if let (Some(want), Some(h)) = (&checksum, hashing)
        && !h.matches(want)
    {
        return Err((Verdict::Retry, super::ranged::corrupted(dest, want)));
    }
    Ok(n)
}

/// The digest a GET body must have, when the answer tells (`Expected::of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expected {
    /// The SHA-256 poof wrote with the object (`Config::sha256_meta`).
    Sha256([u8; 32]),
    /// An MD5: the ETag of an object uploaded in one piece, or rclone's
    /// `md5chksum` (`Config::md5_meta`).
    Md5([u8; 16]),
}

/// A body being hashed the way its `Expected` digest was made.
pub(super) enum Hashing {
    Sha256(sha2::Sha256),
    Md5(Md5),
}

impl Expected {
    /// What the answer's headers say the body must hash to: the SHA-256
    /// poof wrote (when `sha256_meta` is set and the object has a
    /// well-formed one: the stronger hash, and with the CPU's SHA
    /// instructions about three times as fast to check as MD5), else the
    /// ETag when it is an MD5, else the `md5_meta` metadata; `None` when
    /// none is there (then only the length is checked).
    pub fn of(h: &HeaderMap, config: &super::Config) -> Option<Expected> {
        let sha256 = config
            .sha256_meta
            .as_deref()
            .and_then(|k| header(h, &format!("x-amz-meta-{k}")))
            .and_then(|v| hex::decode(v.trim()).ok())
            .and_then(|d| <[u8; 32]>::try_from(d).ok());
        if let Some(d) = sha256 {
            return Some(Expected::Sha256(d));
        }
        expected_md5(h, config.md5_meta.as_deref())
            .and_then(|d| <[u8; 16]>::try_from(d).ok())
            .map(Expected::Md5)
    }

    /// A hash of the same kind, empty.
    pub fn hashing(&self) -> Hashing {
        match self {
            Expected::Sha256(_) => Hashing::Sha256(sha2::Sha256::new()),
            Expected::Md5(_) => Hashing::Md5(Md5::new()),
        }
    }

    /// Its name in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Expected::Sha256(_) => "SHA-256",
            Expected::Md5(_) => "MD5",
        }
    }
}

impl Hashing {
    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hashing::Sha256(h) => h.update(bytes),
            Hashing::Md5(h) => h.update(bytes),
        }
    }

    /// Whether what was fed hashes to `want` (of the same kind).
    pub fn matches(self, want: &Expected) -> bool {
        match (self, want) {
            (Hashing::Sha256(h), Expected::Sha256(d)) => h.finalize()[..] == d[..],
            (Hashing::Md5(h), Expected::Md5(d)) => h.finalize()[..] == d[..],
            _ => false,
        }
    }
}

/// The MD5 a GET body must have, when the answer tells: the ETag of an
/// object uploaded in one piece (not for SSE-KMS or SSE-C, whose ETags are
/// not MD5s), else the user metadata `md5_meta` names (base64).
pub(super) fn expected_md5(h: &HeaderMap, md5_meta: Option<&str>) -> Option<Vec<u8>> {
    let sse = header(h, "x-amz-server-side-encryption").unwrap_or("");
    let sse_c = header(h, "x-amz-server-side-encryption-customer-algorithm").is_some();
    if let Some(etag) = header(h, "etag").map(xml::unquote)
        && !sse.starts_with("aws:kms")
        && !sse_c
        && etag.len() == 32
        && let Ok(md5) = hex::decode(&etag)
    {
        return Some(md5);
    }
    md5_meta
        .and_then(|k| header(h, &format!("x-amz-meta-{k}")))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .filter(|m| m.len() == 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::retry::tests::{canned_server, client_for};
    use crate::s3::{Config, Endpoint};

    /// A client for `endpoint` in `region`, with `location_constraint`.
    fn client_in(endpoint: Endpoint, region: &str, location: Option<&str>) -> Client {
        let mut config = Config::for_tests(endpoint, region);
        config.location_constraint = location.map(str::to_string);
        Client::new(config).unwrap()
    }

    #[test]
    fn a_new_bucket_is_created_in_the_region_and_us_east_1_names_none() {
        let aws = || Endpoint::Aws;
        let garage = || Endpoint::parse("http://127.0.0.1:3900").unwrap();
        // On AWS: the signing region, but us-east-1 is said by no constraint.
        assert_eq!(
            client_in(aws(), "eu-west-1", None).location_constraint(),
            Some("eu-west-1".into())
        );
        assert_eq!(
            client_in(aws(), "us-east-1", None).location_constraint(),
            None
        );
        // Elsewhere the region is only the signing one: no constraint.
        assert_eq!(
            client_in(garage(), "garage", None).location_constraint(),
            None
        );
        // A configured constraint wins everywhere; an empty one is none.
        assert_eq!(
            client_in(aws(), "us-east-1", Some("EU")).location_constraint(),
            Some("EU".into())
        );
        assert_eq!(
            client_in(garage(), "garage", Some("dc1")).location_constraint(),
            Some("dc1".into())
        );
        assert_eq!(
            client_in(aws(), "eu-west-1", Some("")).location_constraint(),
            Some("eu-west-1".into())
        );
    }

    #[test]
    fn a_bucket_name_held_by_another_account_is_said_in_words() {
        let taken = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>BucketAlreadyExists</Code><Message>The requested bucket name is not available.</Message></Error>";
        let (url, count) = canned_server(vec![(409, taken)]);
        let e = client_for(&url).create_bucket().unwrap_err().to_string();
        assert!(
            e.contains(
                "the name is taken by another account (bucket names are shared by every user \
                 of the store); choose another bucket name in poof.conf"
            ),
            "{e}"
        );
        assert!(e.contains("BucketAlreadyExists"), "{e}");
        // Refused at once, not retried.
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
        // A bucket these credentials own already is no error.
        let mine = "<Error><Code>BucketAlreadyOwnedByYou</Code><Message>yours</Message></Error>";
        let (url, _) = canned_server(vec![(409, mine)]);
        assert_eq!(client_for(&url).create_bucket().unwrap(), Created::Existed);
    }

    #[test]
    fn downloads_are_checked_against_the_etag_or_md5chksum() {
        use reqwest::header::HeaderValue;
        let mut h = HeaderMap::new();
        h.insert(
            "etag",
            HeaderValue::from_static("\"9e107d9d372bb6826bd81d3542a419d6\""),
        );
        assert_eq!(
            hex::encode(expected_md5(&h, Some("md5chksum")).unwrap()),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        // A multipart ETag is no MD5; rclone's metadata is used instead.
        h.insert(
            "etag",
            HeaderValue::from_static("\"0123456789abcdef0123456789abcdef-3\""),
        );
        assert_eq!(expected_md5(&h, Some("md5chksum")), None);
        h.insert(
            "x-amz-meta-md5chksum",
            HeaderValue::from_static("1B2M2Y8AsgTpgAmY7PhCfg=="),
        );
        assert_eq!(
            hex::encode(expected_md5(&h, Some("md5chksum")).unwrap()),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        // The client reads no metadata key unless it is told which.
        assert_eq!(expected_md5(&h, None), None);
        // SSE-KMS ETags are not MD5s.
        let mut k = HeaderMap::new();
        k.insert(
            "etag",
            HeaderValue::from_static("\"9e107d9d372bb6826bd81d3542a419d6\""),
        );
        k.insert(
            "x-amz-server-side-encryption",
            HeaderValue::from_static("aws:kms"),
        );
        assert_eq!(expected_md5(&k, Some("md5chksum")), None);
    }

    #[test]
    fn poofs_sha256_comes_before_any_md5() {
        use reqwest::header::HeaderValue;
        let mut config = client_for("http://127.0.0.1:1").config.clone();
        config.md5_meta = Some("md5chksum".into());
        let md5 = "9e107d9d372bb6826bd81d3542a419d6";
        let sha = "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592";
        let mut h = HeaderMap::new();
        h.insert(
            "etag",
            HeaderValue::from_str(&format!("\"{md5}\"")).unwrap(),
        );
        h.insert("x-amz-meta-sha256", HeaderValue::from_static(sha));
        let md5_bytes = <[u8; 16]>::try_from(hex::decode(md5).unwrap()).unwrap();
        let sha_bytes = <[u8; 32]>::try_from(hex::decode(sha).unwrap()).unwrap();
        // Not told the key: the ETag, as before.
        assert_eq!(Expected::of(&h, &config), Some(Expected::Md5(md5_bytes)));
        config.sha256_meta = Some("sha256".into());
        assert_eq!(Expected::of(&h, &config), Some(Expected::Sha256(sha_bytes)));
        // A malformed value is no SHA-256: the MD5 rule applies.
        for bad in ["d7a8", "not hex at all", &sha[..63]] {
            h.insert("x-amz-meta-sha256", HeaderValue::from_str(bad).unwrap());
            assert_eq!(
                Expected::of(&h, &config),
                Some(Expected::Md5(md5_bytes)),
                "{bad}"
            );
        }
        // Each hash checks only its own kind of digest.
        let body = b"The quick brown fox jumps over the lazy dog";
        for want in [Expected::Sha256(sha_bytes), Expected::Md5(md5_bytes)] {
            let mut right = want.hashing();
            right.update(body);
            assert!(right.matches(&want), "{}", want.name());
            let mut wrong = want.hashing();
            wrong.update(b"another body");
            assert!(!wrong.matches(&want), "{}", want.name());
        }
    }

    #[test]
    fn a_large_files_digests_are_those_of_its_bytes() {
        // Past the size from which two threads hash: both digests are of
        // every byte, in order; a file shorter than said is an error, not a
        // digest of less.
        let len = DIGESTS_SIDE_BY_SIDE_FROM as usize + 3 * READ_ONCE as usize / 2 + 7;
        let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 4093) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        let (md5, sha) = digests_of(&f, len as u64).unwrap();
        assert_eq!(md5[..], Md5::digest(&data)[..]);
        assert_eq!(sha[..], sha2::Sha256::digest(&data)[..]);
        let err = digests_of(&f, len as u64 + 1).unwrap_err();
        assert!(err.to_string().contains("shrank"), "{err}");
    }

    #[test]
    fn md5_matches_the_rfc_1321_vectors() {
        assert_eq!(md5_b64(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"message digest").unwrap();
        assert_eq!(
            hex::encode(md5_of(&f, 14).unwrap()),
            "f96b697d7cb7938d525a2f31aaf161d0"
        );
        assert!(md5_of(&f, 15).is_err());
        assert_eq!(
            hex::encode(digests_of(&f, 14).unwrap().1),
            "f7846f55cf23e14eebeab5b4e1550cad5b509e3348fbc4efa3a1413d393cb650"
        );
    }

    /// The hashes' speed as built, on 256 MiB: run with `--ignored
    /// --nocapture` (docs/BENCHMARKS.md, "Hashes").
    #[test]
    #[ignore]
    fn hash_throughput() {
        use std::time::Instant;
        let data: Vec<u8> = (0..256u64 << 20)
            .map(|i| (i * 31 + (i >> 13)) as u8)
            .collect();
        let rate = |name: &str, f: &dyn Fn(&[u8]) -> Vec<u8>| {
            let best = (0..3)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(f(&data));
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::MAX, f64::min);
            println!("{name}: {:.0} MB/s", data.len() as f64 / best / 1e6);
        };
        rate("MD5 (md-5)", &|b| Md5::digest(b).to_vec());
        rate("SHA-256 (sha2)", &|b| sha2::Sha256::digest(b).to_vec());
    }

    #[test]
    fn metadata_becomes_lower_case_headers() {
        let mut m = Metadata::new();
        m.insert("Mtime".into(), "1.5".into());
        let h: Vec<_> = meta_headers(&m).collect();
        assert_eq!(h, [("x-amz-meta-mtime".to_string(), "1.5".to_string())]);
    }
}
