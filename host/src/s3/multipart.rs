//! Multipart upload of one file: parts read with positioned reads and sent
//! by a few threads at once; or parts produced in order by a `Read` (an
//! encrypted object being sealed) and sent by a few threads through a
//! bounded channel (`put_multipart_from`).
//!
//! Invariants:
//! - at most `concurrency` parts of one file are held in memory at a time,
//!   and every part's bytes are taken from the process's budget
//!   (`budget::PART_BUFFERS`) before they are read, so all transfers
//!   together hold at most that much;
//! - each part is signed with its SHA-256 and carries `Content-MD5`;
//! - an upload that fails for any reason is aborted, so no invisible parts
//!   are left to be billed; if even the abort fails, the error says so.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::Method;

use super::budget::{Budget, Lease};
use super::ops::{Upload, meta_headers};
use super::request::{Body, Request};
use super::{Client, Error, MAX_PARTS, Metadata, Result, xml};

/// The part size for a file of `len` bytes: the configured size, raised (to
/// whole MiB) when the file would otherwise need more than 10,000 parts.
pub fn part_size_for(len: u64, configured: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let needed = len.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    configured.max(needed)
}

impl Client {
    /// Uploads `len` bytes of `file` as `key` in parts, aborting on failure.
    pub(super) fn put_multipart(
        &self,
        key: &str,
        file: Arc<File>,
        path: &Path,
        len: u64,
        metadata: &Metadata,
    ) -> Result<Upload> {
        let upload_id = self.create_multipart(key, metadata)?;
        let result = self.send_parts(key, &upload_id, &file, path, len);
        match result {
            Ok(upload) => Ok(upload),
            Err(e) => match self.abort_multipart(key, &upload_id) {
                Ok(()) => Err(e),
                Err(abort) => Err(Error::BadResponse {
                    op: format!("uploading {key}"),
                    detail: format!(
                        "{e}; then aborting the upload failed too ({abort}), so its parts may stay \
                         in the bucket: remove them with a lifecycle rule or `aws s3api abort-multipart-upload`"
                    ),
                }),
            },
        }
    }

    fn create_multipart(&self, key: &str, metadata: &Metadata) -> Result<String> {
        let mut req = Request::new(
            Method::POST,
            Some(key),
            format!("starting the upload of {key}"),
        );
        req.query.push(("uploads", String::new()));
        req.headers.extend(self.config.upload_headers());
        req.headers.extend(meta_headers(metadata));
        let body = self.send_text(&req)?;
        xml::parse_upload_id(&body).map_err(|detail| Error::BadResponse { op: req.op, detail })
    }

    fn send_parts(
        &self,
        key: &str,
        upload_id: &str,
        file: &Arc<File>,
        path: &Path,
        len: u64,
    ) -> Result<Upload> {
        let part_size = part_size_for(len, self.config.part_size);
        let parts = len.div_ceil(part_size);
        let etags: Mutex<Vec<Option<String>>> = Mutex::new(vec![None; parts as usize]);
        let next = AtomicU64::new(0);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let workers = (self.config.concurrency.max(1) as u64).min(parts);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= parts || failed.load(Ordering::Relaxed) {
                            return;
                        }
                        let offset = i * part_size;
                        let size = part_size.min(len - offset);
                        match self.send_part(key, upload_id, i + 1, file, path, offset, size) {
                            Ok(etag) => {
                                etags.lock().expect("no panics while locked")[i as usize] =
                                    Some(etag)
                            }
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                first_error
                                    .lock()
                                    .expect("no panics while locked")
                                    .get_or_insert(e);
                                return;
                            }
                        }
                    }
                });
            }
        });
        self.finish_parts(key, upload_id, first_error, etags, parts)
    }

    /// Ends a multipart upload once its senders stopped: the first error
    /// if any, else CompleteMultipartUpload with every part's ETag.
    fn finish_parts(
        &self,
        key: &str,
        upload_id: &str,
        first_error: Mutex<Option<Error>>,
        etags: Mutex<Vec<Option<String>>>,
        parts: u64,
    ) -> Result<Upload> {
        if let Some(e) = first_error.into_inner().expect("no panics while locked") {
            return Err(e);
        }
        let etags: Vec<String> = etags
            .into_inner()
            .expect("no panics while locked")
            .into_iter()
            .collect::<Option<_>>()
            .ok_or_else(|| Error::BadResponse {
                op: format!("uploading {key}"),
                detail: "a part was never sent".into(),
            })?;
        self.complete_multipart(key, upload_id, &etags, parts)
    }

    /// Sends CompleteMultipartUpload for the parts' ETags, in order.
    fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
        parts: u64,
    ) -> Result<Upload> {
        let mut req = Request::new(
            Method::POST,
            Some(key),
            format!("finishing the upload of {key}"),
        );
        req.query.push(("uploadId", upload_id.into()));
        req.headers
            .push(("content-type".into(), "application/xml".into()));
        req.body = Body::Bytes(xml::complete_body(etags).into_bytes().into());
        let text = self.send_text(&req)?;
        match xml::parse_etag_result(&text) {
            Ok(etag) => Ok(Upload { etag, parts }),
            Err((code, message)) => Err(Error::Service {
                op: req.op,
                status: 200,
                code,
                message,
            }),
        }
    }

    #[allow(clippy::too_many_arguments)] // One part's coordinates; a struct would only rename them.
    fn send_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u64,
        file: &File,
        path: &Path,
        offset: u64,
        size: u64,
    ) -> Result<String> {
        // Held until the part was sent (`budget`).
        let mut lease = Budget::parts().take(size);
        let mut buf = lease.buffer();
        let mut filled = 0;
        while filled < buf.len() {
            let n = file
                .read_at(&mut buf[filled..], offset + filled as u64)
                .map_err(|source| Error::Io {
                    path: path.to_owned(),
                    source,
                })?;
            if n == 0 {
                return Err(Error::Io {
                    path: path.to_owned(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was being uploaded; run poof again",
                    ),
                });
            }
            filled += n;
        }
        self.send_part_bytes(key, upload_id, number, buf, &mut lease)
    }

    /// Uploads one part from memory, the buffer of `lease`; returns its
    /// ETag and gives the buffer back to the lease.
    fn send_part_bytes(
        &self,
        key: &str,
        upload_id: &str,
        number: u64,
        buf: Vec<u8>,
        lease: &mut Lease,
    ) -> Result<String> {
        let mut req = Request::new(
            Method::PUT,
            Some(key),
            format!("uploading part {number} of {key}"),
        );
        req.query.push(("partNumber", number.to_string()));
        req.query.push(("uploadId", upload_id.into()));
        // No Content-MD5: the part's SHA-256 is signed, and the server checks it.
        req.body = Body::Bytes(buf.into());
        let sent = self.send(&req);
        if let Body::Bytes(bytes) = std::mem::replace(&mut req.body, Body::Empty)
            && bytes.is_unique()
        {
            // The same allocation, for the next part. (When the HTTP client
            // still holds a copy of the handle, it is left to it: turning it
            // into a buffer would copy the part.)
            lease.give_back(bytes.into());
        }
        sent?
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| Error::BadResponse {
                op: req.op,
                detail: "no ETag for the part".into(),
            })
    }
}

impl Client {
    /// Uploads the `len` bytes that `source` yields as `key`, without user
    /// metadata, in parts: read in order on the calling thread, sent by up
    /// to `workers` threads (at most `concurrency`), so that at most
    /// `workers + 1` parts (each copied once by the HTTP client) are in memory.
    /// Aborts the upload on any failure, including `source` yielding another
    /// number of bytes than `len`.
    pub fn put_multipart_from(
        &self,
        key: &str,
        len: u64,
        source: &mut dyn std::io::Read,
        name: &Path,
        workers: usize,
    ) -> Result<Upload> {
        let upload_id = self.create_multipart(key, &Metadata::new())?;
        let result = self.send_parts_from(key, &upload_id, len, source, name, workers);
        match result {
            Ok(upload) => Ok(upload),
            Err(e) => {
                let _ = self.abort_multipart(key, &upload_id);
                Err(e)
            }
        }
    }

    fn send_parts_from(
        &self,
        key: &str,
        upload_id: &str,
        len: u64,
        source: &mut dyn std::io::Read,
        name: &Path,
        workers: usize,
    ) -> Result<Upload> {
        let part_size = part_size_for(len, self.config.part_size);
        let parts = len.div_ceil(part_size).max(1);
        let etags: Mutex<Vec<Option<String>>> = Mutex::new(vec![None; parts as usize]);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let workers = (self.config.concurrency.min(workers).max(1) as u64).min(parts) as usize;
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>, Lease)>(0);
        let rx = Mutex::new(rx);
        let io = |source: std::io::Error| Error::Io {
            path: name.to_owned(),
            source,
        };
        let produced: Result<()> = std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let next = rx.lock().expect("no panics while locked").recv();
                        let Ok((i, buf, mut lease)) = next else {
                            return;
                        };
                        if failed.load(Ordering::Relaxed) {
                            continue;
                        }
                        match self.send_part_bytes(key, upload_id, i + 1, buf, &mut lease) {
                            Ok(etag) => {
                                etags.lock().expect("no panics while locked")[i as usize] =
                                    Some(etag)
                            }
                            Err(e) => {
                                failed.store(true, Ordering::Relaxed);
                                first_error
                                    .lock()
                                    .expect("no panics while locked")
                                    .get_or_insert(e);
                            }
                        }
                    }
                });
            }
            let mut sent = 0u64;
            for i in 0..parts {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let size = part_size.min(len - sent) as usize;
                let mut lease = Budget::parts().take(size as u64);
                let mut buf = lease.buffer();
                let got = crate::fsx::read_full(&mut &mut *source, &mut buf).map_err(io)?;
                if got < size {
                    return Err(io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the source shrank while it was being uploaded; run poof again",
                    )));
                }
                sent += size as u64;
                if tx.send((i, buf, lease)).is_err() {
                    break;
                }
            }
            drop(tx);
            if !failed.load(Ordering::Relaxed)
                && crate::fsx::read_full(&mut &mut *source, &mut [0u8; 1]).map_err(io)? != 0
            {
                return Err(io(std::io::Error::other(
                    "the source grew while it was being uploaded; run poof again",
                )));
            }
            Ok(())
        });
        produced?;
        self.finish_parts(key, upload_id, first_error, etags, parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_to_stay_under_ten_thousand() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(part_size_for(12 * MIB, 5 * MIB), 5 * MIB);
        assert_eq!(part_size_for(12 * MIB, 5 * MIB).max(1), 5 * MIB);
        let huge = 100 * 1024 * MIB * 1024; // 100 TiB
        let p = part_size_for(huge, 5 * MIB);
        assert!(huge.div_ceil(p) <= MAX_PARTS);
        assert_eq!(p % MIB, 0);
    }
}
