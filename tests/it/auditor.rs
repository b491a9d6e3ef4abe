//! The auditor's view: version, guest hash, exact export, WIT, and the proof
//! that guest code can reach nothing outside its sandbox.

use std::io::Read;
use std::net::TcpListener;

use sha2::{Digest, Sha256};

use crate::common::World;

#[test]
fn version_names_target_and_guest_hash() {
    let w = World::new();
    let run = w.poof(&["version"]).expect(0);
    assert!(run.stdout.starts_with("poof "), "{}", run.stdout);
    assert!(
        run.stdout.contains("target:   x86_64-linux")
            || run.stdout.contains("target:   aarch64-linux")
    );
    assert!(
        run.stdout.contains("contract: poof:core@0.1.0"),
        "{}",
        run.stdout
    );
    // On Linux with 4 KiB pages (every x86-64 Linux) the precompiled guest
    // runs where it lies in the binary.
    let how = if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        "(precompiled, run in place)"
    } else {
        "(precompiled"
    };
    assert!(run.stdout.contains(how), "{}", run.stdout);
    let hash = w
        .poof(&["guest", "hash"])
        .expect(0)
        .stdout
        .trim()
        .to_string();
    assert_eq!(hash.len(), 64);
    assert!(
        run.stdout.contains(&format!("guest:    sha256:{hash}")),
        "{}",
        run.stdout
    );
}

#[test]
fn export_writes_the_exact_embedded_bytes_and_never_overwrites() {
    let w = World::new();
    let file = w.path("guest.wasm");
    w.poof(&["guest", "export", file.to_str().unwrap()])
        .expect(0);
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(&bytes[..4], b"\0asm", "a wasm binary");
    let hash = w
        .poof(&["guest", "hash"])
        .expect(0)
        .stdout
        .trim()
        .to_string();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), hash);
    // The file is a component (layer 1), not a core module.
    assert_eq!(&bytes[4..8], &[0x0d, 0x00, 0x01, 0x00]);

    let again = w
        .poof(&["guest", "export", file.to_str().unwrap()])
        .expect(2);
    assert!(
        again.stderr.contains("cannot create it"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
}

#[test]
fn wit_prints_the_contract() {
    let w = World::new();
    let run = w.poof(&["guest", "wit"]).expect(0);
    assert!(run.stdout.contains("package poof:core@0.1.0;"));
    assert!(
        run.stdout
            .contains("plan-sync: func(input: plan-input, filter: filter) -> result<plan, error>;")
    );
}

#[test]
fn guest_code_cannot_read_files_list_folders_or_open_sockets() {
    let w = World::new();
    let secret = w.path("secret.txt");
    std::fs::write(&secret, "the guest must never see this").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();

    let run = w
        .poof(&[
            "guest",
            "probe",
            "--read",
            secret.to_str().unwrap(),
            "--connect",
            &addr,
        ])
        .expect(0);
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("the guest"))
        .collect();
    assert!(lines.len() >= 8, "{}", run.stdout);
    for line in &lines {
        assert!(line.starts_with("denied"), "the guest reached out: {line}");
    }
    for attempt in [
        "read file",
        "list folder /",
        "create file",
        "environment",
        "arguments",
        "connect to",
    ] {
        assert!(
            run.stdout.contains(attempt),
            "missing probe {attempt}: {}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("0 variables visible"));
    assert!(!run.stdout.contains("the guest must never see this"));
    // Nobody knocked on the listener.
    match listener.accept() {
        Ok((mut s, _)) => {
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            panic!("the guest connected to {addr}");
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
    }
    // And it created nothing in the folder it was started from.
    assert!(!w.path("poof-probe").exists());
}

#[test]
fn poof_writes_no_cache_or_other_file_of_its_own() {
    let w = World::new();
    w.file("src/a", b"a", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    for d in ["home", "tmp", "cache", "xdg-config"] {
        std::fs::create_dir(w.path(d)).unwrap();
    }
    let before = crate::common::listing(w.dir.path());
    for args in [
        &["version"][..],
        &["guest", "probe"],
        &["backup", "--dry-run"],
    ] {
        let out = std::process::Command::new(crate::common::poof_bin())
            .arg("--confdir")
            .arg(w.path("conf"))
            .args(args)
            .current_dir(w.path("home"))
            .env("HOME", w.path("home"))
            .env("TMPDIR", w.path("tmp"))
            .env("XDG_CACHE_HOME", w.path("cache"))
            .env("XDG_CONFIG_HOME", w.path("xdg-config"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        crate::common::listing(w.dir.path()),
        before,
        "poof wrote something"
    );
}

#[test]
fn the_precompiled_guest_is_the_embedded_component_compiled() {
    let w = World::new();
    let run = w.poof(&["guest", "verify"]).expect(0);
    assert!(
        run.stdout
            .contains("is exactly the embedded component sha256:"),
        "{}",
        run.stdout
    );
}
