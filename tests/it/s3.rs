//! What only the S3 remote has: credentials from every source poof 1.x and
//! AWS tools use, `poof verify`'s words for each way S3 can fail, multipart
//! uploads, and `s3://` remotes.

use crate::common::{Kind, S3Server, World, snapshot};

fn world() -> Option<(World, S3Server)> {
    let kind = Kind::s3()?;
    let Kind::S3(s3) = kind.clone() else {
        unreachable!()
    };
    Some((World::on(kind), s3))
}

#[test]
fn verify_says_the_remote_is_ready() {
    let Some((w, _)) = world() else { return };
    w.file("src/a", b"a", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    let run = w.poof(&["verify"]).expect(0);
    assert!(
        run.stdout
            .contains("the bucket answers and the credentials work"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("poof is ready"), "{}", run.stdout);
    assert!(!run.stdout.contains(&w.bucket.replace("poof-it-", "nope")));
}

#[test]
fn verify_names_each_way_s3_fails() {
    let Some((w, s3)) = world() else { return };
    w.file("src/a", b"a", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    let conf = w.path("conf/rclone-poof.conf");
    let good = std::fs::read_to_string(&conf).unwrap();

    std::fs::write(
        &conf,
        good.replace(
            &s3.secret,
            "0000000000000000000000000000000000000000000000000000000000000000",
        ),
    )
    .unwrap();
    let run = w.poof(&["verify"]).expect(1);
    assert!(
        run.stderr.to_lowercase().contains("credentials"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("0000000000000000"),
        "a secret was printed: {}",
        run.stderr
    );

    std::fs::write(&conf, &good).unwrap();
    let text = std::fs::read_to_string(w.path("conf/poof.conf")).unwrap();
    // The bucket field only: the world's folder may carry the bucket's name.
    let mut other: serde_json::Value = serde_json::from_str(&text).unwrap();
    other["bucket"] = "poof-no-such-bucket".into();
    std::fs::write(w.path("conf/poof.conf"), other.to_string()).unwrap();
    let run = w.poof(&["verify"]).expect(1);
    assert!(
        run.stderr.contains("no such bucket") || run.stderr.contains("does not exist"),
        "{}",
        run.stderr
    );
    std::fs::write(w.path("conf/poof.conf"), text).unwrap();

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &conf,
        good.replace(&s3.endpoint, &format!("http://127.0.0.1:{port}")),
    )
    .unwrap();
    let run = w.poof(&["verify"]).expect(1);
    assert!(
        run.stderr.contains("refused") || run.stderr.contains("cannot connect"),
        "{}",
        run.stderr
    );

    // The scaffold's placeholder is refused before anything is sent.
    std::fs::write(
        &conf,
        good.replace(&s3.secret, "BOGUS-SECRET-KEY-USE-YOURS"),
    )
    .unwrap();
    for cmd in ["verify", "backup", "download"] {
        let run = w.poof(&[cmd]).expect(2);
        assert!(
            run.stderr.contains("secret_access_key"),
            "{cmd}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("rclone-poof.conf"),
            "{cmd}: {}",
            run.stderr
        );
    }
}

#[test]
fn an_rclone_crypt_section_gets_a_migration_message() {
    let Some((w, _)) = world() else { return };
    w.file("src/a", b"a", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    let conf = w.path("conf/rclone-poof.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("\n[poof-crypt]\ntype = crypt\nremote = poof-backup:bucket\npassword = xyz\n");
    std::fs::write(&conf, text).unwrap();
    let poof_conf = std::fs::read_to_string(w.path("conf/poof.conf")).unwrap();
    std::fs::write(
        w.path("conf/poof.conf"),
        poof_conf.replace("\"poof-backup\"", "\"poof-crypt\""),
    )
    .unwrap();
    let run = w.poof(&["backup"]).expect(2);
    assert!(run.stderr.contains("crypt"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("xyz"),
        "a secret was printed: {}",
        run.stderr
    );
}

#[test]
fn an_s3_url_remote_with_environment_credentials() {
    let Some((w, s3)) = world() else { return };
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/b/c.txt", b"c", 1_600_000_000, 0o600);
    let conf = serde_json::json!({
        "paths": { w.path("src").display().to_string(): "Docs" },
        "remote": format!("s3://{}/some/prefix", w.bucket),
    });
    w.write_conf(&conf.to_string());
    let env = [
        ("AWS_ACCESS_KEY_ID", s3.key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret.as_str()),
        ("AWS_REGION", s3.region.as_str()),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint.as_str()),
    ];
    w.poof_env(&["backup"], &env).expect(0);
    let original = snapshot(&w.path("src"));
    std::fs::remove_dir_all(w.path("src")).unwrap();
    w.poof_env(&["download"], &env).expect(0);
    assert_eq!(snapshot(&w.path("src")), original);
    // Without credentials anywhere, poof says where it looked.
    let run = w.poof(&["backup"]).expect(2);
    assert!(run.stderr.contains("AWS_ACCESS_KEY_ID"), "{}", run.stderr);
}

#[test]
fn large_files_go_up_in_parts_and_come_back_whole() {
    let Some((w, _)) = world() else { return };
    let big: Vec<u8> = (0..(13u32 << 20) + 7)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    w.file("src/big.bin", &big, 1_600_000_000, 0o640);
    w.conf(&[("src", "Docs")]);
    let conf = w.path("conf/rclone-poof.conf");
    let text =
        std::fs::read_to_string(&conf).unwrap() + "chunk_size = 5M\nupload_concurrency = 3\n";
    std::fs::write(&conf, text).unwrap();
    w.poof(&["backup"]).expect(0);
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
}

#[test]
fn large_plain_objects_come_back_in_ranges_byte_for_byte() {
    let Some((w, _)) = world() else { return };
    // Both of 32 MiB or more, so each is fetched in 8 MiB ranges: one sent
    // in one PUT (its ETag is its MD5), one in parts (checked by
    // `md5chksum`), the last range of each short.
    let data = |len: u32, seed: u32| -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 13) as u8)
            .collect()
    };
    w.file(
        "src/one.bin",
        &data((33 << 20) + 5, 1),
        1_600_000_000,
        0o640,
    );
    w.file(
        "src/parts.bin",
        &data((41 << 20) + 7, 2),
        1_600_000_000,
        0o600,
    );
    w.conf(&[("src", "Docs")]);
    let conf = w.path("conf/rclone-poof.conf");
    let text = std::fs::read_to_string(&conf).unwrap()
        + "upload_cutoff = 40M
";
    std::fs::write(&conf, text).unwrap();
    w.poof(&["backup"]).expect(0);
    let sent = snapshot(&w.path("src"));
    assert_eq!(w.stored("Docs"), sent);
    // Restored in place too, over a file that differs.
    std::fs::write(w.path("src/one.bin"), b"changed").unwrap();
    std::fs::remove_file(w.path("src/parts.bin")).unwrap();
    w.poof(&["download", "--yes"]).expect(0);
    assert_eq!(snapshot(&w.path("src")), sent);
}

fn summary(run: &crate::common::Run) -> serde_json::Value {
    let last = run.stdout.lines().last().expect("a summary line");
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["event"], "summary", "{last}");
    v
}

#[test]
fn a_no_op_sync_costs_listing_requests_not_one_per_object() {
    let Some((w, _)) = world() else { return };
    for i in 0..1500 {
        w.file(
            &format!("src/d{}/f{i}", i % 10),
            b"x",
            1_600_000_000 + i,
            0o644,
        );
    }
    w.conf(&[("src", "Docs")]);
    let first = summary(&w.poof(&["--json", "backup"]).expect(0));
    assert_eq!(first["copied"], 1500);
    // Two listing pages, the manifest, the bucket check: a handful of requests.
    let noop = summary(&w.poof(&["--json", "backup"]).expect(0));
    assert_eq!(noop["copied"], 0);
    let requests = noop["requests"].as_u64().unwrap();
    assert!(
        requests <= 6,
        "a no-op sync of 1500 files sent {requests} requests"
    );
    // Restoring nothing new costs the same.
    let noop = summary(&w.poof(&["--json", "download"]).expect(0));
    assert!(noop["requests"].as_u64().unwrap() <= 6, "{noop}");
}

#[test]
fn a_stale_or_missing_manifest_is_detected_and_repaired() {
    let Some((w, s3)) = world() else { return };
    let Some(rclone) = std::env::var("POOF_TEST_RCLONE").ok() else {
        eprintln!("skipped: no rclone (run the suite with `cargo xtask test`)");
        return;
    };
    for i in 0..20 {
        w.file(&format!("src/f{i}"), b"same size", 1_600_000_000, 0o644);
    }
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let rc = |args: &[&str]| {
        let out = std::process::Command::new(&rclone)
            .arg("--config")
            .arg(w.path("conf/rclone-poof.conf"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let _ = s3;
    // Someone rewrites an object behind poof's back, same size, new content:
    // the manifest's record no longer matches the listing's ETag.
    let other = w.path("other");
    std::fs::write(&other, b"SAME SIZE").unwrap();
    rc(&[
        "copyto",
        other.to_str().unwrap(),
        &format!("poof-backup:{}/Docs/f3", w.bucket),
    ]);
    let run = summary(&w.poof(&["--json", "backup"]).expect(0));
    assert_eq!(
        run["copied"], 1,
        "the changed object is found and put back: {run}"
    );
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));

    // The manifest is removed: every object is read again, and it is rebuilt.
    rc(&[
        "deletefile",
        &format!("poof-backup:{}/.poof/manifests/Docs.json", w.bucket),
    ]);
    let run = summary(&w.poof(&["--json", "backup"]).expect(0));
    assert_eq!(run["copied"], 0);
    assert!(run["requests"].as_u64().unwrap() >= 20, "{run}");
    let run = summary(&w.poof(&["--json", "backup"]).expect(0));
    assert!(run["requests"].as_u64().unwrap() <= 6, "rebuilt: {run}");

    // A manifest that is garbage is not believed, and is rebuilt.
    std::fs::write(&other, b"{not json").unwrap();
    rc(&[
        "copyto",
        other.to_str().unwrap(),
        &format!("poof-backup:{}/.poof/manifests/Docs.json", w.bucket),
    ]);
    let run = w.poof(&["backup"]).expect(0);
    assert!(
        run.stderr.contains("it is rebuilt from the listing"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("0 copied"), "{}", run.stdout);
}
