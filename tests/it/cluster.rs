//! A distributed store losing a node mid-run: a three-node Garage cluster
//! on loopback (replication factor 3, `tests/garage-cluster.sh`), one node
//! stopped in the middle of a backup and of a download.
//!
//! The run completes or fails clearly, nothing is lost (the local source of
//! a backup is untouched; a download leaves whole files only), and with the
//! node back a rerun converges. Part of the normal suite; skipped with a
//! notice when `POOF_TEST_GARAGE` is unset.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Kind, Run, S3Server, World, listing, snapshot};
use crate::harness::{
    data_set, each_file_is_one_of, route_through, spawn, spawned_stderr, temp_files,
};
use crate::proxy::{Faults, Proxy};

/// The cluster, stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    s3: S3Server,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("garage-cluster.sh")
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let Ok(garage) = std::env::var("POOF_TEST_GARAGE") else {
            eprintln!(
                "skipped: no garage (POOF_TEST_GARAGE is unset; run the suite with `cargo xtask test`)"
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("poof-cluster-")
            .tempdir()
            .unwrap();
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path())
            .env("POOF_TEST_GARAGE", &garage)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "garage-cluster.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
        let var = |k: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("{k} in the cluster's env"))
                .to_string()
        };
        let s3 = S3Server {
            endpoint: var("POOF_TEST_S3_ENDPOINT"),
            region: var("POOF_TEST_S3_REGION"),
            key: var("POOF_TEST_S3_ACCESS_KEY"),
            secret: var("POOF_TEST_S3_SECRET_KEY"),
            garage: (garage, var("POOF_TEST_GARAGE_CONFIG")),
        };
        Some(Cluster { dir, s3 })
    }

    fn node(&self, verb: &str, n: u8) {
        let out = Command::new("bash")
            .arg(script())
            .arg(verb)
            .arg(self.dir.path())
            .arg(n.to_string())
            .env("POOF_TEST_GARAGE", &self.s3.garage.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "garage-cluster.sh {verb} {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// Runs poof in the background, stops node 3 once `after` requests went
/// through the proxy, and waits for poof to end; returns how it ended.
fn stop_a_node_during(w: &World, c: &Cluster, proxy: &Proxy, args: &[&str], after: usize) -> Run {
    let start_count = proxy.requests();
    let mut child = spawn(w, args);
    let start = Instant::now();
    while proxy.requests() < start_count + after
        && child.try_wait().ok().flatten().is_none()
        && start.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let mid_run = child.try_wait().ok().flatten().is_none();
    c.node("stop-node", 3);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "poof hangs with a node down"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!(
        "poof {args:?}: node 3 stopped {} after {after} requests; exit {:?} in {:.1?}",
        if mid_run { "mid-run" } else { "after the run" },
        status.code(),
        start.elapsed()
    );
    assert!(mid_run, "the node must go down while poof runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: spawned_stderr(w),
    }
}

#[test]
fn a_node_lost_mid_backup_and_mid_download_loses_nothing() {
    let Some(c) = Cluster::start() else { return };
    let proxy = Proxy::start(&c.s3.endpoint, Faults::none());
    let w = World::on(Kind::S3(c.s3.clone()));
    data_set(&w, "src", 5, 120, 64 << 10);
    w.file("src/big.bin", &vec![9u8; 12 << 20], 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    route_through(&w, &proxy.url());

    // Backup: node 3 goes down mid-way.
    let before = listing(&w.path("src"));
    let run = stop_a_node_during(&w, &c, &proxy, &["backup", "--transfers", "4"], 30);
    assert_eq!(listing(&w.path("src")), before, "the source changed");
    let source = snapshot(&w.path("src"));
    if run.code != 0 {
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(run.stderr.contains("error"), "{}", run.stderr);
    } else {
        // Two of three nodes hold a quorum: the data is readable now.
        assert_eq!(w.stored("Docs"), source);
    }
    c.node("start-node", 3);
    w.poof(&["backup"]).expect(0);
    assert_eq!(w.stored("Docs"), source);

    // Download into an older local tree: node 3 goes down mid-way.
    for i in [1, 7, 30, 90] {
        w.file(
            &format!("src/d{}/f{i:04}.bin", i % 7),
            b"old",
            1_500_000_000,
            0o644,
        );
    }
    std::fs::remove_file(w.path("src/big.bin")).unwrap();
    w.file("src/local-only", b"x", 1_500_000_000, 0o644);
    let old = snapshot(&w.path("src"));
    let run = stop_a_node_during(&w, &c, &proxy, &["download", "--transfers", "2"], 5);
    assert!(temp_files(&w.path("src")).is_empty());
    let now = snapshot(&w.path("src"));
    each_file_is_one_of(&now, &[&old, &source], "local after losing a node");
    if run.code == 0 {
        assert_eq!(now, source);
    } else {
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            now.contains_key("local-only"),
            "nothing deleted after an error"
        );
    }
    c.node("start-node", 3);
    w.poof(&["download"]).expect(0);
    assert_eq!(snapshot(&w.path("src")), source);
}
