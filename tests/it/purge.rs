//! `poof cryptoggle --purge-plain` end to end, on both kinds of remote: a
//! plain backup switched to encrypted loses its plain objects (and plain
//! manifest) once each is proved equal to its encrypted copy, and restores
//! in full from what is left; a path where anything does not verify keeps
//! every plain object and is named; a path never backed up encrypted says
//! so; the dry run lists what would go and changes nothing; the flag is
//! refused on a switch to plain, and a wrong passphrase switches nothing.

use crate::common::{Kind, World, snapshot};
use crate::crypt::{objects, write};

crate::on_both_remotes!(
    a_purge_leaves_only_the_encrypted_copies,
    a_path_that_does_not_verify_keeps_all_its_plain_objects,
);

const PASS: (&str, &str) = ("POOF_PASSPHRASE", "correct horse battery staple");

/// A plain world with `paths` (local folder, cloud folder) backed up, each
/// holding three files, and a key made (so a switch to encrypted may run).
fn plain_then_key(kind: Kind, paths: &[(&str, &str)]) -> World {
    let w = World::on(kind);
    for (local, _) in paths {
        w.file(&format!("{local}/a.txt"), b"alpha", 1_600_000_000, 0o644);
        w.file(
            &format!("{local}/sub/b.bin"),
            &[7u8; 70_000],
            1_600_000_100,
            0o600,
        );
        let c: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        w.file(&format!("{local}/c.bin"), &c, 1_600_000_200, 0o640);
    }
    w.conf(paths);
    let run = w.poof(&["backup"]).expect(0);
    assert!(run.stdout.contains("copied"), "{}", run.stdout);
    w.poof_env(&["econfig"], &[PASS]).expect(0);
    w
}

/// The names of the stored objects.
fn names(w: &World) -> Vec<String> {
    objects(w).into_iter().map(|(n, _)| n).collect()
}

/// The plain objects (and plain manifest) of `cloud`.
fn plain_of(w: &World, cloud: &str) -> Vec<String> {
    names(w)
        .into_iter()
        .filter(|n| {
            n.starts_with(&format!("{cloud}/")) || *n == format!(".poof/manifests/{cloud}.json")
        })
        .collect()
}

fn a_purge_leaves_only_the_encrypted_copies(kind: Kind) {
    let w = plain_then_key(kind, &[("src", "Docs")]);
    let source = snapshot(&w.path("src"));
    let conf = std::fs::read_to_string(w.path("conf/poof.conf")).unwrap();
    let plain = plain_of(&w, "Docs");
    assert!(plain.len() >= 3, "{plain:?}");

    // The dry run lists every plain object, needs no passphrase, and changes nothing.
    let before = objects(&w);
    let run = w
        .poof(&["cryptoggle", "--purge-plain", "--dry-run"])
        .expect(0);
    assert!(
        run.stdout.contains("Docs: would delete 3 plain objects"),
        "{}",
        run.stdout
    );
    for name in &plain {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.contains("would delete") && l.ends_with(name.as_str())),
            "{name}: {}",
            run.stdout
        );
    }
    assert_eq!(objects(&w), before);
    assert_eq!(
        std::fs::read_to_string(w.path("conf/poof.conf")).unwrap(),
        conf
    );

    let run = w
        .poof_env(&["cryptoggle", "--purge-plain"], &[PASS])
        .expect(0);
    assert!(
        run.stdout.contains("encryption is now on"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("3 copied"),
        "the encrypted backup ran: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Docs: 3 plain objects deleted")
            && run
                .stdout
                .contains("each read back equal to its encrypted copy"),
        "{}",
        run.stdout
    );
    assert!(plain_of(&w, "Docs").is_empty(), "{:?}", names(&w));
    assert!(!names(&w).contains(&".poof/plain".to_string()));
    assert!(
        std::fs::read_to_string(w.path("conf/poof.conf"))
            .unwrap()
            .contains("\"encrypted\": true")
    );
    // What is left restores everything, byte for byte.
    std::fs::remove_dir_all(w.path("src")).unwrap();
    std::fs::create_dir(w.path("src")).unwrap();
    w.poof_env(&["download"], &[PASS]).expect(0);
    assert_eq!(snapshot(&w.path("src")), source);
}

fn a_path_that_does_not_verify_keeps_all_its_plain_objects(kind: Kind) {
    let paths = [("src", "Docs"), ("pics", "Pics"), ("gone", "Gone")];
    let w = plain_then_key(kind, &paths);
    // Pics: the plain copy of a.txt no longer holds the file (same size).
    let altered = b"ALPHA".to_vec();
    write(&w, "Pics/a.txt", &altered);
    // Gone: its folder is gone here, so the encrypted backup has nothing to encrypt.
    std::fs::remove_dir_all(w.path("gone")).unwrap();
    let (pics, gone) = (plain_of(&w, "Pics"), plain_of(&w, "Gone"));

    let run = w
        .poof_env(&["--json", "cryptoggle", "--purge-plain"], &[PASS])
        .expect(1);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let purge = |cloud: &str| {
        events
            .iter()
            .find(|e| e["event"] == "purge" && e["cloud"] == cloud)
            .unwrap_or_else(|| panic!("no purge event for {cloud}: {}", run.stdout))
    };
    assert_eq!(purge("Docs")["deleted"], 3, "{}", run.stdout);
    assert_eq!(purge("Pics")["deleted"], 0);
    assert_eq!(purge("Pics")["verified"], 2);
    assert_eq!(purge("Gone")["deleted"], 0);
    assert!(
        run.stderr.contains("Pics/a.txt") && run.stderr.contains("other content"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("never backed up encrypted"),
        "{}",
        run.stderr
    );
    let kept = run
        .stderr
        .lines()
        .find(|l| l.contains("plain copies were kept in"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(
        kept.contains("Pics") && kept.contains("Gone") && !kept.contains("Docs"),
        "{kept}"
    );
    // Docs went; Pics and Gone kept every plain object, the altered one too.
    assert!(plain_of(&w, "Docs").is_empty(), "{:?}", names(&w));
    assert_eq!(plain_of(&w, "Pics"), pics);
    assert_eq!(plain_of(&w, "Gone"), gone);
    assert_eq!(crate::crypt::read(&w, "Pics/a.txt"), altered);
}

#[test]
fn purge_plain_is_refused_on_a_switch_to_plain_and_a_wrong_passphrase_switches_nothing() {
    let w = plain_then_key(Kind::Folder, &[("src", "Docs")]);
    let conf = std::fs::read_to_string(w.path("conf/poof.conf")).unwrap();
    let before = objects(&w);
    let run = w
        .poof_env(
            &["cryptoggle", "--purge-plain"],
            &[("POOF_PASSPHRASE", "wrong")],
        )
        .expect(2);
    assert!(run.stderr.contains("passphrase"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(w.path("conf/poof.conf")).unwrap(),
        conf
    );
    assert_eq!(objects(&w), before);

    w.poof_env(&["cryptoggle"], &[PASS]).expect(0);
    let on = std::fs::read_to_string(w.path("conf/poof.conf")).unwrap();
    let run = w
        .poof_env(&["cryptoggle", "--purge-plain"], &[PASS])
        .expect(2);
    assert!(
        run.stderr.contains("--purge-plain") && run.stderr.contains("is encrypted already"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(w.path("conf/poof.conf")).unwrap(),
        on
    );
}
