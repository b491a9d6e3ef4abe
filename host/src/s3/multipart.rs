//! Multipart upload of one file: parts read with positioned reads and sent
//! by a few threads at once; or parts produced in order by a head-last
//! source (an encrypted object being sealed, whose header comes at the
//! end) and sent by a few threads through a bounded channel, part 1 last
//! (`put_multipart_head_last`).
//!
//! Invariants:
//! - at most `concurrency` parts of one file are held in memory at a time
//!   (a head-last upload: part 1 and at most two more), and every part's
//!   bytes are taken from the process's budget
//!   (`budget::PART_BUFFERS`) before they are read, so all transfers
//!   together hold at most that much;
//! - each part is signed with its SHA-256 (`x-amz-content-sha256`), which
//!   the server checks; parts carry no `Content-MD5`;
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

/// Records how part `i` (from 0) went: its ETag, or the first error, which
/// stops the other senders. True when it was sent.
fn record(
    sent: Result<String>,
    i: u64,
    etags: &Mutex<Vec<Option<String>>>,
    failed: &AtomicBool,
    first_error: &Mutex<Option<Error>>,
) -> bool {
    match sent {
        Ok(etag) => {
            etags.lock().expect("no panics while locked")[i as usize] = Some(etag);
            true
        }
        Err(e) => {
            failed.store(true, Ordering::Relaxed);
            first_error
                .lock()
                .expect("no panics while locked")
                .get_or_insert(e);
            false
        }
    }
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
                        let sent = self.send_part(key, upload_id, i + 1, file, path, offset, size);
                        if !record(sent, i, &etags, &failed, &first_error) {
                            return;
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
    /// Uploads a head-last body (`crate::store::Body::HeadLast`: sealed
    /// content) of `len` bytes as `key`, without user metadata, in parts:
    /// the bytes after the head are read in order on the calling thread and
    /// parts 2 to N sent by up to `workers` threads (at most `concurrency`)
    /// as they fill; part 1, which holds the head, is kept in memory and
    /// sent last, once `source` gave the head. Part 1 and one buffer for the
    /// others are taken from the part budget together, a second buffer only
    /// when it is free, so a holder of part 1 never waits for the budget.
    /// Aborts the upload on any failure, including `source` yielding
    /// another number of bytes than `len - head_len`, or its head failing.
    pub fn put_multipart_head_last(
        &self,
        key: &str,
        len: u64,
        head_len: u64,
        source: &mut dyn crate::store::HeadLast,
        name: &Path,
        workers: usize,
    ) -> Result<Upload> {
        let upload_id = self.create_multipart(key, &Metadata::new())?;
        let result =
            self.send_parts_head_last(key, &upload_id, len, head_len, source, name, workers);
        match result {
            Ok(upload) => Ok(upload),
            Err(e) => {
                let _ = self.abort_multipart(key, &upload_id);
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // One upload's coordinates; a struct would only rename them.
    fn send_parts_head_last(
        &self,
        key: &str,
        upload_id: &str,
        len: u64,
        head_len: u64,
        source: &mut dyn crate::store::HeadLast,
        name: &Path,
        workers: usize,
    ) -> Result<Upload> {
        let part_size = part_size_for(len, self.config.part_size);
        let parts = len.div_ceil(part_size).max(1);
        let first_len = part_size.min(len);
        let io = |source: std::io::Error| Error::Io {
            path: name.to_owned(),
            source,
        };
        if head_len > first_len {
            return Err(io(std::io::Error::other(format!(
                "a head of {head_len} bytes does not fit in a part of {first_len}"
            ))));
        }
        let sizes: &[u64] = if parts > 1 {
            &[first_len, part_size]
        } else {
            &[first_len]
        };
        let mut leases = Budget::parts().take_all(sizes).into_iter();
        let mut first = leases.next().expect("part 1's lease");
        let mut free: Vec<Lease> = leases.collect();
        if parts > 2
            && let Some(extra) = Budget::parts().try_take(part_size)
        {
            free.push(extra);
        }
        let mut first_buf = first.buffer();
        let short = || {
            io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "{} changed while poof was copying it (it shrank); it was not copied, run poof again",
                    name.display()
                ),
            ))
        };
        let head_at = head_len as usize;
        if crate::fsx::read_full(&mut &mut *source, &mut first_buf[head_at..]).map_err(io)?
            < first_buf.len() - head_at
        {
            return Err(short());
        }
        let etags: Mutex<Vec<Option<String>>> = Mutex::new(vec![None; parts as usize]);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let workers = (self.config.concurrency.min(workers).max(1) as u64).min(parts) as usize;
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>, Lease)>(0);
        let rx = Mutex::new(rx);
        // Leases come back from the senders once their part was sent.
        let (back_tx, back_rx) = std::sync::mpsc::channel::<Lease>();
        let produced: Result<()> = std::thread::scope(|s| {
            for _ in 0..workers {
                let back_tx = back_tx.clone();
                let (rx, etags, failed, first_error) = (&rx, &etags, &failed, &first_error);
                s.spawn(move || {
                    loop {
                        let next = rx.lock().expect("no panics while locked").recv();
                        let Ok((i, buf, mut lease)) = next else {
                            return;
                        };
                        if !failed.load(Ordering::Relaxed) {
                            let sent = self.send_part_bytes(key, upload_id, i + 1, buf, &mut lease);
                            record(sent, i, etags, failed, first_error);
                        }
                        let _ = back_tx.send(lease);
                    }
                });
            }
            drop(back_tx);
            let mut sent = first_len;
            for i in 1..parts {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let size = part_size.min(len - sent) as usize;
                let Some(mut lease) = free.pop().or_else(|| back_rx.recv().ok()) else {
                    break;
                };
                let mut buf = lease.buffer();
                buf.resize(size, 0);
                if crate::fsx::read_full(&mut &mut *source, &mut buf).map_err(io)? < size {
                    return Err(short());
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
                return Err(io(std::io::Error::other(format!(
                    "{} changed while poof was copying it (it grew); it was not copied, run poof again",
                    name.display()
                ))));
            }
            Ok(())
        });
        produced?;
        if let Some(e) = first_error.lock().expect("no panics while locked").take() {
            return Err(e);
        }
        // Every other part is sent: now the head, then part 1.
        crate::store::put_head(source, &mut first_buf[..head_at], name).map_err(io)?;
        let etag = self.send_part_bytes(key, upload_id, 1, first_buf, &mut first)?;
        etags.lock().expect("no panics while locked")[0] = Some(etag);
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
