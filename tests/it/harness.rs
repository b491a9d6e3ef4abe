//! Helpers shared by the reliability tests (faults, kills, hostile input,
//! cluster): data sets from a seed, a spawned poof that can be killed, and
//! the checks every such test ends with.
//!
//! Invariant: like `common`, everything happens inside the test's own world;
//! a spawned poof is always waited for (or killed) before the test ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::{FileFacts, Kind, World, poof_bin};
use crate::proxy::Rng;

/// Writes `files` pseudo-random files of `size` bytes under `rel` (in a few
/// sub-folders), with fixed times and modes, from `seed`.
pub fn data_set(w: &World, rel: &str, seed: u64, files: usize, size: usize) {
    let mut rng = Rng(seed);
    for i in 0..files {
        let content = rng.bytes(size);
        w.file(
            &format!("{rel}/d{}/f{i:04}.bin", i % 7),
            &content,
            1_600_000_000 + i as i64,
            0o644,
        );
    }
}

/// Rewrites the world's cloud config so poof reaches S3 through `url`
/// (the proxy); `World::stored` still reads the server directly.
pub fn route_through(w: &World, url: &str) {
    let Kind::S3(s3) = &w.kind else {
        panic!("only an S3 world has an endpoint")
    };
    let conf = w.path("conf/rclone-poof.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    let routed = text.replace(
        &format!("endpoint = {}", s3.endpoint),
        &format!("endpoint = {url}"),
    );
    assert_ne!(text, routed, "the cloud config names the endpoint");
    std::fs::write(conf, routed).unwrap();
}

/// Starts poof with the world's config folder; its standard error goes to
/// `spawned.err` in the world (`spawned_stderr`), never to a pipe that a
/// killed run could leave full.
pub fn spawn(w: &World, args: &[&str]) -> Child {
    let err = std::fs::File::create(w.path("spawned.err")).unwrap();
    Command::new(poof_bin())
        .arg("--confdir")
        .arg(w.path("conf"))
        .args(args)
        .env("HOME", w.path("home"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .current_dir(w.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("poof starts")
}

/// What the last spawned poof wrote to its standard error.
pub fn spawned_stderr(w: &World) -> String {
    std::fs::read_to_string(w.path("spawned.err")).unwrap_or_default()
}

/// Sends SIGKILL to a spawned poof and reaps it; true when it was still running.
pub fn kill(child: &mut Child) -> bool {
    let running = child.try_wait().ok().flatten().is_none();
    let _ = child.kill();
    let _ = child.wait();
    running
}

/// Every `.poof-tmp-` file under `root`.
pub fn temp_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in read.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with(".poof-tmp-") {
                out.push(p.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out
}

/// Whether the built poof has `poof upload` (it is being added).
pub fn has_upload() -> bool {
    Command::new(poof_bin())
        .args(["upload", "--help"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Fails unless every file of `now` holds one of the versions in `allowed`
/// (by content, and with that version's time), naming the first offender.
#[track_caller]
pub fn each_file_is_one_of(
    now: &BTreeMap<String, FileFacts>,
    allowed: &[&BTreeMap<String, FileFacts>],
    what: &str,
) {
    for (path, facts) in now {
        let ok = allowed.iter().any(|v| {
            v.get(path)
                .is_some_and(|f| f.0 == facts.0 && f.1 == facts.1)
        });
        assert!(
            ok,
            "{what}: {path} holds content that is none of the expected versions (torn or corrupt)"
        );
    }
}
