//! Tests against a real S3 server on loopback (Garage, started by
//! `tests/garage.sh start DIR`, then `set -a; . DIR/env; set +a`). They run
//! only when `POOF_TEST_S3_ENDPOINT` is set and print a notice otherwise.
//!
//! Invariant: each test makes its own bucket, so they run in parallel; the
//! endpoint must be a loopback address, and no other host is ever contacted.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use sha2::{Digest, Sha256};

use super::request::Request;
use super::*;
use crate::engine::sync::Entry;
use crate::layout::plain::PlainRemote;
use crate::remote::Remote;
use crate::store::s3::S3Store;

const MIB: u64 = 1024 * 1024;

/// A client for a fresh bucket on the test server, or `None` (with a notice)
/// when no test server is configured.
fn fresh(test: &str) -> Option<Client> {
    let Ok(endpoint) = std::env::var("POOF_TEST_S3_ENDPOINT") else {
        eprintln!(
            "skipping {test}: POOF_TEST_S3_ENDPOINT is not set (start Garage with tests/garage.sh)"
        );
        return None;
    };
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let endpoint = Endpoint::parse(&endpoint).unwrap();
    let Endpoint::Custom(url) = &endpoint else {
        panic!("the test endpoint must be a URL")
    };
    assert!(
        url.host_str().is_some_and(is_loopback),
        "live tests only talk to loopback, not {url}"
    );
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let bucket = format!(
        "poof-{}-{}-{nanos}",
        test.replace('_', "-"),
        std::process::id()
    );
    let bucket: String = bucket.chars().take(63).collect();
    let mut config = Config::new(
        endpoint,
        &var("POOF_TEST_S3_REGION"),
        bucket.trim_end_matches('-'),
        Credentials {
            access_key_id: var("POOF_TEST_S3_ACCESS_KEY"),
            secret_access_key: var("POOF_TEST_S3_SECRET_KEY"),
            session_token: None,
            expires: None,
        },
    );
    config.retry.base_delay = Duration::from_millis(20);
    // The digest metadata keys the remote sets for the plain layout.
    config.md5_meta = Some(crate::layout::plain::meta::MD5CHKSUM.into());
    config.sha256_meta = Some(crate::layout::plain::meta::SHA256.into());
    let client = Client::new(config).unwrap();
    // Garage lets the test key create buckets through S3's CreateBucket.
    let req = Request::new(Method::PUT, None, "CreateBucket");
    client.send(&req).expect("creating the test bucket");
    Some(client)
}

/// A file of `len` pseudo-random bytes.
fn data_file(dir: &Path, name: &str, len: u64) -> (File, std::path::PathBuf) {
    let path = dir.join(name);
    let mut f = File::create(&path).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ len;
    let mut buf = Vec::with_capacity(MIB as usize);
    let mut left = len;
    while left > 0 {
        buf.clear();
        while buf.len() < MIB as usize && (buf.len() as u64) < left {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.push(x as u8);
        }
        f.write_all(&buf).unwrap();
        left -= buf.len() as u64;
    }
    (File::open(&path).unwrap(), path)
}

fn put_bytes(c: &Client, key: &str, bytes: &[u8], meta: &Metadata) -> Upload {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    c.put_file(key, Arc::new(f), Path::new(key), bytes.len() as u64, meta)
        .unwrap()
}

#[test]
fn listing_follows_continuation_tokens() {
    let Some(c) = fresh("list") else { return };
    for i in 0..5 {
        put_bytes(&c, &format!("p/{i}"), b"x", &Metadata::new());
    }
    put_bytes(&c, "other/x", b"x", &Metadata::new());
    let page = c.list_page("p/", None, 2).unwrap();
    assert_eq!(page.objects.len(), 2);
    assert!(page.next_token.is_some());
    let all = c.list("p/", 2).unwrap();
    let keys: Vec<_> = all.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["p/0", "p/1", "p/2", "p/3", "p/4"]);
    assert!(
        all.iter()
            .all(|o| o.size == 1 && o.last_modified_ns.is_some())
    );
    assert!(c.list("nothing/", 1000).unwrap().is_empty());
}

#[test]
fn a_parallel_listing_is_the_chained_listing() {
    let Some(c) = fresh("list-parallel") else {
        return;
    };
    // More than a page in several shapes: a big folder first, folders and
    // files side by side, names that sort around `/` and outside ASCII, and
    // a prefix whose rest is all one folder, two levels down.
    let mut keys: Vec<String> = (0..1100).map(|i| format!("t/a/{i:04}")).collect();
    keys.extend((0..300).map(|i| format!("t/b/{}/{i}", i % 7)));
    keys.extend(
        [
            "t/a-b",
            "t/a0",
            "t/b",
            "t/c d+e",
            "t/caf\u{e9}/x",
            "t/\u{10000}/y",
            "t/z",
        ]
        .map(String::from),
    );
    keys.extend((0..1300).map(|i| format!("u/only/deeper/{i:05}")));
    keys.push("u/only/deeper0".into());
    keys.push("v/other".into());
    crate::pool::map(&keys, 16, |k| put_bytes(&c, k, b"x", &Metadata::new()));
    for prefix in ["t/", "u/", "u/only/", ""] {
        let chained: Vec<String> = c
            .list(prefix, 1000)
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        let before = c.requests();
        let parallel: Vec<String> = c
            .list_parallel(prefix, 4)
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        let requests = c.requests() - before;
        assert_eq!(parallel, chained, "{prefix}");
        let mut expect: Vec<&String> = keys.iter().filter(|k| k.starts_with(prefix)).collect();
        expect.sort();
        assert_eq!(parallel.iter().collect::<Vec<_>>(), expect, "{prefix}");
        // A page per thousand keys, and a few for finding where to cut.
        let pages = parallel.len().div_ceil(1000) as u64;
        assert!(requests <= pages + 12, "{prefix}: {requests} requests");
        // Hints, right or wrong, change only where the rest is cut.
        let hints = [
            vec![format!("{prefix}b/"), format!("{prefix}c d+e")],
            vec![
                format!("{prefix}z"),
                "v/".into(),
                format!("{prefix}b/"),
                format!("{prefix}b/"),
            ],
            vec![
                format!("{prefix}\u{10ffff}/"),
                String::new(),
                format!("{prefix}a/0500"),
            ],
        ];
        for hints in hints {
            let hinted: Vec<String> = c
                .list_parallel_hinted(prefix, &hints, 4)
                .unwrap()
                .into_iter()
                .map(|o| o.key)
                .collect();
            assert_eq!(hinted, chained, "{prefix} {hints:?}");
        }
    }
}

#[test]
fn bucket_versioning_and_object_lock_as_garage_answers() {
    let Some(c) = fresh("bucket-settings") else {
        return;
    };
    // Garage keeps no versions: an empty VersioningConfiguration.
    assert_eq!(c.bucket_versioning().unwrap(), Versioning::Off);
    // It does not implement GetObjectLockConfiguration, and says so at once:
    // a 501 is not retried.
    let before = c.requests();
    let err = c.object_lock().unwrap_err();
    assert!(
        matches!(&err, Error::Service { status: 501, code, .. } if code == "NotImplemented"),
        "{err:?}"
    );
    assert_eq!(c.requests() - before, 1);
    let store = S3Store::new(c, "", "test");
    let p = crate::store::Store::protection(&store).unwrap();
    assert_eq!(p.versioning, crate::store::Setting::Off);
    assert_eq!(p.object_lock, crate::store::Setting::NotOffered);
}

#[test]
fn put_get_head_round_trip_with_metadata() {
    let Some(c) = fresh("roundtrip") else { return };
    let key = "Docs/a b/ü+=&?#%.txt";
    let mut meta = Metadata::new();
    meta.insert("mtime".into(), "1690000000.123456789".into());
    meta.insert("mode".into(), "100640".into());
    let body = b"hello, s3";
    let up = put_bytes(&c, key, body, &meta);
    assert_eq!(up.parts, 1);
    let head = c.head(key).unwrap();
    assert_eq!(head.size, body.len() as u64);
    // Every upload also records the content's SHA-256 (`--verify=stored`).
    meta.insert(
        "sha256".into(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body)),
    );
    assert_eq!(head.metadata, meta);
    assert_eq!(
        head.etag.as_deref(),
        Some(hex::encode(md5::Md5::digest(body)).as_str())
    );
    let mut got = Vec::new();
    assert_eq!(c.get(key, &mut got).unwrap(), body.len() as u64);
    assert_eq!(got, body);
    let d = tempfile::tempdir().unwrap();
    let mut f = File::create(d.path().join("out")).unwrap();
    f.write_all(b"stale bytes that must go").unwrap();
    c.get_to_file(key, &mut f, &d.path().join("out")).unwrap();
    assert_eq!(fs::read(d.path().join("out")).unwrap(), body);
    // Metadata replaced in place; the content stays.
    meta.insert("mode".into(), "100600".into());
    c.replace_metadata(key, &meta).unwrap();
    assert_eq!(c.head(key).unwrap().metadata, meta);
    let mut again = Vec::new();
    c.get(key, &mut again).unwrap();
    assert_eq!(again, body);
    assert!(matches!(
        c.head("Docs/missing").unwrap_err(),
        Error::NoSuchKey { .. }
    ));
    let mut sink = Vec::new();
    assert!(matches!(
        c.get("Docs/missing", &mut sink).unwrap_err(),
        Error::NoSuchKey { .. }
    ));
    c.delete(key).unwrap();
    assert!(c.list("Docs/", 1000).unwrap().is_empty());
}

#[test]
fn the_server_refuses_a_body_that_is_not_the_one_signed() {
    // A single PUT carries no Content-MD5: its only check on the way is the
    // SHA-256 it is signed with, so the server must refuse other bytes,
    // whether sent from memory or streamed from a file that changed after
    // it was hashed. A streamed file's PUT keeps the server's MD5 ETag.
    let Some(mut c) = fresh("signed-body") else {
        return;
    };
    c.config.part_size = MIB;
    c.config.retry.attempts = 2;
    let d = tempfile::tempdir().unwrap();
    let (f, path) = data_file(d.path(), "mid", 3 * MIB);
    let f = Arc::new(f);
    let up = c
        .put_file("s/mid", f.clone(), &path, 3 * MIB, &Metadata::new())
        .unwrap();
    let bytes = fs::read(&path).unwrap();
    assert_eq!(up.etag, Some(hex::encode(md5::Md5::digest(&bytes))));
    assert_eq!(
        c.head("s/mid").unwrap().metadata.get("sha256"),
        Some(&hex::encode(Sha256::digest(&bytes)))
    );
    let other = Sha256::digest(b"other bytes").into();
    let bodies = [
        super::request::Body::Bytes(bytes.clone().into()),
        super::request::Body::File {
            file: f,
            offset: 0,
            len: 3 * MIB,
        },
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let key = format!("s/refused{i}");
        let mut req = Request::new(Method::PUT, Some(&key), format!("PUT {key}"));
        req.body = body;
        req.body_sha256 = Some(other);
        let err = c.send_for_headers(&req).unwrap_err().to_string();
        assert!(
            err.contains("SHA256") || err.contains("Digest") || err.contains("sha256"),
            "{err}"
        );
        assert!(matches!(c.head(&key).unwrap_err(), Error::NoSuchKey { .. }));
    }
}

#[test]
fn multipart_uploads_and_aborts() {
    let Some(mut c) = fresh("multipart") else {
        return;
    };
    c.config.multipart_threshold = 5 * MIB;
    c.config.part_size = 5 * MIB;
    c.config.concurrency = 3;
    let d = tempfile::tempdir().unwrap();
    let (f, path) = data_file(d.path(), "big", 12 * MIB);
    let mut meta = Metadata::new();
    meta.insert("mtime".into(), "1690000000".into());
    let up = c
        .put_file("mp/big", Arc::new(f), &path, 12 * MIB, &meta)
        .unwrap();
    assert_eq!(up.parts, 3);
    let head = c.head("mp/big").unwrap();
    assert_eq!(head.size, 12 * MIB);
    assert_eq!(
        head.metadata.get("mtime").map(String::as_str),
        Some("1690000000")
    );
    assert!(
        head.metadata.contains_key("md5chksum"),
        "{:?}",
        head.metadata
    );
    let mut out = File::create(d.path().join("back")).unwrap();
    c.get_to_file("mp/big", &mut out, &d.path().join("back"))
        .unwrap();
    let digest = |p: &Path| Sha256::digest(fs::read(p).unwrap());
    assert_eq!(digest(&path), digest(&d.path().join("back")));

    // A file shorter than announced fails on its last part: the upload is
    // aborted and leaves neither an object nor parts behind.
    let (short, short_path) = data_file(d.path(), "short", 11 * MIB);
    let e = c
        .put_multipart("mp/failed", Arc::new(short), &short_path, 15 * MIB, &meta)
        .unwrap_err();
    assert!(e.to_string().contains("shrank"), "{e}");
    assert!(matches!(
        c.head("mp/failed").unwrap_err(),
        Error::NoSuchKey { .. }
    ));
    assert_eq!(
        c.list_multipart_uploads("mp/").unwrap(),
        Vec::<(String, String)>::new()
    );
}

#[test]
fn large_objects_come_back_in_ranges_byte_for_byte() {
    let Some(mut c) = fresh("ranged") else {
        return;
    };
    c.config.multipart_threshold = 5 * MIB;
    c.config.ranged_get_from = 2 * MIB;
    c.config.range_size = MIB;
    c.config.concurrency = 3;
    let d = tempfile::tempdir().unwrap();
    // One PUT (its ETag is the MD5) and a multipart upload (checked by
    // `md5chksum`), each in several ranges, the last one short.
    for (name, len) in [("single", 3 * MIB + 5), ("multi", 11 * MIB + 7)] {
        let key = format!("r/{name}");
        let (f, path) = data_file(d.path(), name, len);
        c.put_file(&key, Arc::new(f), &path, len, &Metadata::new())
            .unwrap();
        let back = d.path().join("back");
        // Readable too, as `fsx::write_atomically` opens it: the ranges
        // are hashed by reading them back.
        let mut out = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&back)
            .unwrap();
        let before = c.requests();
        assert_eq!(c.get_to_file(&key, &mut out, &back).unwrap(), len);
        assert_eq!(
            c.requests() - before,
            len.div_ceil(MIB),
            "{name}: one request per range, the first the plain GET"
        );
        assert!(
            fs::read(&back).unwrap() == fs::read(&path).unwrap(),
            "{name}"
        );
        fs::remove_file(&back).unwrap();
    }
}

#[test]
fn batched_deletes_cover_more_than_one_request() {
    let Some(c) = fresh("delete") else { return };
    let keys: Vec<String> = (0..1003).map(|i| format!("d/{i:04}")).collect();
    std::thread::scope(|s| {
        for chunk in keys.chunks(126) {
            let c = &c;
            s.spawn(move || {
                for k in chunk {
                    put_bytes(c, k, b"", &Metadata::new());
                }
            });
        }
    });
    assert_eq!(c.list("d/", 1000).unwrap().len(), 1003);
    let mut doomed = keys.clone();
    doomed.push("d/never-existed".into());
    assert_eq!(c.delete_many(&doomed).unwrap(), Vec::new());
    assert!(c.list("d/", 1000).unwrap().is_empty());
}

#[test]
fn check_ready_says_what_is_wrong() {
    let Some(c) = fresh("ready") else { return };
    c.check_bucket().unwrap();
    let quick = |mut config: Config| {
        config.retry.attempts = 2;
        config.retry.base_delay = Duration::from_millis(1);
        Client::new(config).unwrap()
    };

    let keys = c.config.credentials.current().unwrap();
    let mut wrong = c.config.clone();
    wrong.credentials = Credentials {
        secret_access_key: "not-the-secret".into(),
        ..keys.clone()
    }
    .into();
    let e = quick(wrong).check_bucket().unwrap_err();
    assert!(matches!(e, Error::BadCredentials { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("check the access key id and the secret"),
        "{e}"
    );

    let mut unknown = c.config.clone();
    unknown.credentials = Credentials {
        access_key_id: "GK000000000000000000000000".into(),
        ..keys
    }
    .into();
    let e = quick(unknown).check_bucket().unwrap_err();
    assert!(matches!(e, Error::BadCredentials { .. }), "{e}");

    let mut missing = c.config.clone();
    missing.bucket = "poof-no-such-bucket".into();
    let e = quick(missing).check_bucket().unwrap_err();
    assert!(matches!(e, Error::NoSuchBucket { .. }), "{e}");
    assert!(e.to_string().contains("does not exist"), "{e}");

    let mut skewed = quick(c.config.clone());
    skewed.clock_shift_secs = -3 * 24 * 3600;
    let e = skewed.check_bucket().unwrap_err();
    assert!(matches!(e, Error::ClockSkew { .. }), "{e}");

    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut refused = c.config.clone();
    refused.endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let e = quick(refused).check_bucket().unwrap_err();
    assert!(matches!(e.root(), Error::Connect { .. }), "{e}");
    assert!(e.to_string().contains("connection refused"), "{e}");
    assert!(e.to_string().contains("gave up after 2 attempts"), "{e}");
}

#[test]
fn the_remote_keeps_rclones_layout() {
    let Some(c) = fresh("remote") else { return };
    let store = std::sync::Arc::new(S3Store::new(c, "pre/fix", "test"));
    let remote = PlainRemote::new(store.clone()).with_session(
        crate::engine::pool::Pool::new(crate::engine::test_guest())
            .take()
            .unwrap(),
        crate::layout::session::Beside::default(),
    );
    remote.verify().unwrap();
    let src = tempfile::tempdir().unwrap();
    let mut entries = Vec::new();
    for i in 0..40u32 {
        let rel = format!("sub{}/f{i}.txt", i % 3);
        let path = src.path().join(&rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, format!("file {i}")).unwrap();
        let mtime_ns = 1_600_000_000_123_456_789 + i64::from(i) * 1_000_000_007;
        filetime::set_file_mtime(&path, crate::fsx::file_time(mtime_ns)).unwrap();
        let entry = Entry {
            path: rel,
            size: fs::metadata(&path).unwrap().len(),
            mtime_ns,
            mode: Some(0o640),
        };
        remote.upload("Docs", &entry, &path).unwrap();
        entries.push(entry);
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let head = store.client().head("pre/fix/Docs/sub0/f0.txt").unwrap();
    assert_eq!(
        head.metadata.get("mtime").map(String::as_str),
        Some("1600000000.123456789")
    );
    assert_eq!(
        head.metadata.get("mode").map(String::as_str),
        Some("100640")
    );

    let listed = remote.list("Docs").unwrap();
    assert!(listed.exists && listed.problems.is_empty(), "{listed:?}");
    let key = |e: &Entry| (e.path.clone(), e.size, e.mtime_ns, e.mode);
    assert_eq!(
        listed.entries.iter().map(key).collect::<Vec<_>>(),
        entries.iter().map(key).collect::<Vec<_>>()
    );
    assert!(!remote.list("Other").unwrap().exists);

    let mut changed = entries[0].clone();
    changed.mode = Some(0o600);
    remote.set_mode("Docs", &changed).unwrap();
    let after = remote.list("Docs").unwrap();
    assert_eq!(after.entries[0].mode, Some(0o600));
    assert_eq!(after.entries[0].mtime_ns, entries[0].mtime_ns);

    let dest = tempfile::tempdir().unwrap();
    remote.download("Docs", &entries[1], dest.path()).unwrap();
    let got = dest.path().join(&entries[1].path);
    assert_eq!(
        fs::read(&got).unwrap(),
        fs::read(src.path().join(&entries[1].path)).unwrap()
    );
    let m = fs::metadata(&got).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        entries[1].mtime_ns
    );
    assert_eq!(m.mode() & 0o777, 0o640);

    // A listing that no longer matches is not written in place.
    let mut wrong = entries[2].clone();
    wrong.size += 1;
    let e = remote.download("Docs", &wrong, dest.path()).unwrap_err();
    assert!(format!("{e:#}").contains("changed during the run"), "{e:#}");
    assert!(!dest.path().join(&wrong.path).exists());

    // A source that changed since it was listed is not uploaded.
    let mut stale = entries[3].clone();
    stale.mtime_ns += 1;
    let e = remote
        .upload("Docs", &stale, &src.path().join(&stale.path))
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("changed while poof was copying"),
        "{e:#}"
    );

    remote.delete("Docs", &entries[0].path).unwrap();
    for e in &entries[1..] {
        remote.delete("Docs", &e.path).unwrap();
    }
    assert!(!remote.list("Docs").unwrap().exists);
}
