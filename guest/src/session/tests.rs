//! The session's decisions, natively: what a listing and a manifest are
//! trusted for on both layouts, and the attacks a sealed folder must catch.

use std::rc::Rc;

use super::*;
use crate::crypto::stream::{self, FileStat};
use sha2::{Digest, Sha256};

fn key() -> Rc<Keyring> {
    Rc::new(Keyring::generate(&[7u8; 32]).unwrap())
}

fn entry(path: &str, size: u64) -> Entry {
    Entry {
        path: path.into(),
        size,
        mtime_ns: 1_000 + size as i64,
        mode: Some(0o644),
    }
}

/// The manifest as the host takes it: in parts, small ones so that every
/// test here goes through several, joined.
fn whole(s: &mut Session, entropy: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some(mut all) = s.manifest(entropy, 7)? else {
        return Ok(None);
    };
    while let Some(part) = s.manifest(entropy, 7)? {
        assert!(!part.is_empty(), "no empty part before the end");
        all.extend(part);
    }
    Ok(Some(all))
}

/// A plain session of the cloud folder `D` on a folder store (`/mnt/`),
/// which lists each file's metadata and keeps no manifest.
fn on_a_folder() -> Session {
    let layout = Layout::Plain {
        lists_metadata: true,
    };
    Session::new("D", layout, "/mnt/").unwrap()
}

/// A plain object of `Docs/rel` as S3 lists it: size 3, no metadata.
fn listed(rel: &str, etag: &str) -> Listed {
    Listed {
        key: format!("Docs/{rel}"),
        size: 3,
        etag: etag.into(),
        entry: None,
    }
}

/// A sealed object of `cloud/rel` as a store would list it, with its header.
fn sealed_object(
    k: &Keyring,
    cloud: &str,
    rel: &str,
    size: u64,
    seed: u8,
) -> (Listed, Vec<u8>, String) {
    let stat = FileStat {
        size,
        mtime_ns: 1_000 + size as i64,
        mode: Some(0o600),
    };
    let path = format!("{cloud}/{rel}");
    // The seed and the path: a keyring refuses entropy it already used.
    let entropy = Sha256::digest(format!("{seed} {path}"));
    let mut sealer = k.sealer(&path, &stat, &entropy).unwrap();
    sealer.seal_segment(vec![0; size as usize], true).unwrap();
    let header = sealer.finish(None).unwrap();
    let listed = Listed {
        key: k.encrypt_path(&format!("{cloud}/{rel}")).unwrap(),
        size: stream::sealed_size(size).unwrap(),
        etag: format!("etag-{rel}-{seed}"),
        entry: None,
    };
    (listed, header, sealer.object_id_hex())
}

/// A sealed session of a folder this machine began (it remembers no
/// manifest yet), so that objects without a manifest are its own.
fn began(k: &Rc<Keyring>, cloud: &str, root: &str) -> Session {
    Session::new(cloud, Layout::Sealed(k.clone()), root)
        .unwrap()
        .remembering(Some(Freshness::default()), false)
}

/// Lists a sealed session: reads every header asked for from `headers`.
fn list_sealed(
    s: &mut Session,
    objects: Vec<Listed>,
    headers: &[(String, Vec<u8>)],
    manifest: Option<Vec<u8>>,
) -> Listing {
    for key in s.ingest_listing(objects, manifest).unwrap() {
        let h = headers.iter().find(|(k, _)| *k == key).unwrap().1.clone();
        s.ingest_read(&key, Read::Header(h)).unwrap();
    }
    s.finish_listing(false).unwrap()
}

#[test]
fn plain_with_a_manifest_reads_only_what_it_does_not_vouch_for() {
    let layout = Layout::Plain {
        lists_metadata: false,
    };
    let mut s = Session::new("Docs", layout.clone(), "s3://b/").unwrap();
    assert_eq!(s.prefix(), "Docs/");
    assert_eq!(s.manifest_key(), Some(".poof/manifests/Docs.json"));
    let asked = s
        .ingest_listing(vec![listed("a", "1"), listed("b", "2")], None)
        .unwrap();
    assert_eq!(asked, ["Docs/a", "Docs/b"]);
    for k in &asked {
        let rel = k.strip_prefix("Docs/").unwrap();
        s.ingest_read(k, Read::Entry(entry(rel, 3))).unwrap();
    }
    assert_eq!(s.finish_listing(false).unwrap().entries.len(), 2);
    let manifest = whole(&mut s, &[]).unwrap().expect("a new manifest");
    assert_eq!(whole(&mut s, &[]).unwrap(), None, "written once");

    // Next run: `b` changed behind poof's back (another ETag).
    let mut s = Session::new("Docs", layout, "s3://b/").unwrap();
    let asked = s
        .ingest_listing(vec![listed("a", "1"), listed("b", "9")], Some(manifest))
        .unwrap();
    assert_eq!(asked, ["Docs/b"]);
    s.ingest_read("Docs/b", Read::Entry(entry("b", 3))).unwrap();
    s.finish_listing(false).unwrap();
    assert!(
        whole(&mut s, &[]).unwrap().is_some(),
        "rewritten with b's new tag"
    );
}

#[test]
fn a_listing_given_in_parts_in_any_order_is_the_listing_given_whole() {
    let layout = Layout::Plain {
        lists_metadata: false,
    };
    let all = || {
        vec![
            listed("a", "1"),
            listed("b/c", "2"),
            listed("d", "3"),
            listed("e", "4"),
        ]
    };
    // A manifest that vouches for a, b/c and d, written by a first run.
    let mut first = Session::new("Docs", layout.clone(), "s3://b/").unwrap();
    for k in first.ingest_listing(all()[..3].to_vec(), None).unwrap() {
        let rel = k.strip_prefix("Docs/").unwrap().to_string();
        first.ingest_read(&k, Read::Entry(entry(&rel, 3))).unwrap();
    }
    first.finish_listing(false).unwrap();
    let manifest = whole(&mut first, &[]).unwrap();

    let finish = |mut s: Session, mut asked: Vec<String>| {
        asked.sort();
        for k in &asked {
            let rel = k.strip_prefix("Docs/").unwrap().to_string();
            s.ingest_read(k, Read::Entry(entry(&rel, 3))).unwrap();
        }
        let listing = s.finish_listing(false).unwrap();
        (asked, listing.entries, listing.exists)
    };
    let mut whole = Session::new("Docs", layout.clone(), "s3://b/").unwrap();
    let asked = whole.ingest_listing(all(), manifest.clone()).unwrap();
    let expected = finish(whole, asked);
    assert_eq!(expected.0, ["Docs/e"], "only e is not vouched for");

    let mut parts = Session::new("Docs", layout.clone(), "s3://b/").unwrap();
    let mut objects = all();
    parts.add_objects(objects.split_off(3)).unwrap();
    parts.add_objects(vec![objects.remove(0)]).unwrap();
    parts.add_objects(Vec::new()).unwrap();
    let asked = parts.ingest_listing(objects, manifest.clone()).unwrap();
    assert!(
        parts.add_objects(vec![listed("f", "5")]).is_err(),
        "no part after the listing was given"
    );
    assert_eq!(finish(parts, asked), expected);

    // Every object in parts, none at the end.
    let mut parts = Session::new("Docs", layout, "s3://b/").unwrap();
    parts.add_objects(all()).unwrap();
    let asked = parts.ingest_listing(Vec::new(), manifest).unwrap();
    assert_eq!(finish(parts, asked), expected);
}

#[test]
fn plain_on_a_folder_keeps_no_manifest_and_the_folder_wins() {
    let mut s = on_a_folder();
    assert_eq!(s.manifest_key(), None);
    let with = |rel: &str| Listed {
        key: format!("D/{rel}"),
        size: 1,
        etag: String::new(),
        entry: Some(Ok(entry(rel, 1))),
    };
    let asked = s
        .ingest_listing(vec![with("a"), with("a/b")], None)
        .unwrap();
    assert!(asked.is_empty());
    let l = s.finish_listing(false).unwrap();
    assert_eq!(
        l.entries
            .iter()
            .map(|e| e.path.as_str())
            .collect::<Vec<_>>(),
        ["a/b"]
    );
    assert!(
        l.skipped[0].starts_with("/mnt/D/a (both a file and a folder"),
        "{:?}",
        l.skipped
    );
    s.uploaded(entry("c", 1), Some("t".into()), None);
    assert_eq!(whole(&mut s, &[]).unwrap(), None);
}

#[test]
fn sealed_round_trip_then_a_replay_is_refused() {
    let k = key();
    let (a1, h1, id1) = sealed_object(&k, "Docs", "a", 10, 1);
    let mut s = began(&k, "Docs", "s3://b/");
    let l = list_sealed(
        &mut s,
        vec![a1.clone()],
        &[(a1.key.clone(), h1.clone())],
        None,
    );
    assert_eq!(
        l.entries,
        [Entry {
            mode: Some(0o600),
            ..entry("a", 10)
        }]
    );
    assert!(l.problems.is_empty());
    let (a2, h2, id2) = sealed_object(&k, "Docs", "a", 10, 2);
    s.uploaded(entry("a", 10), Some(a2.etag.clone()), Some(id2.clone()));
    let manifest = whole(&mut s, &[5; 32]).unwrap().expect("a sealed manifest");
    // Sealed whole, handed out in parts of any size all the same.
    for size in [1, usize::MAX] {
        s.dirty = true;
        let mut parts = Vec::new();
        while let Some(part) = s.manifest(&[5; 32], size).unwrap() {
            parts.push(part);
        }
        assert!(
            size == 1 || parts.len() == 1,
            "{size}: {} parts",
            parts.len()
        );
        let plain = k
            .open_blob(&manifest_context("Docs"), parts.concat())
            .expect("the parts joined are the sealed manifest");
        assert!(String::from_utf8(plain).unwrap().contains(&id2));
    }

    // The provider puts the older object back, with a new ETag.
    let replayed = Listed {
        etag: "other".into(),
        ..a1
    };
    let mut s = Session::new("Docs", Layout::Sealed(k), "s3://b/").unwrap();
    let l = list_sealed(
        &mut s,
        vec![replayed.clone()],
        &[(replayed.key.clone(), h1)],
        Some(manifest),
    );
    assert_eq!(l.entries.len(), 1, "listed, so a backup replaces it");
    assert!(
        l.skipped.iter().any(|m| m.contains("replayed")),
        "{:?}",
        l.skipped
    );
    let e = s.check_restore("a").unwrap_err();
    assert!(matches!(e, SessionError::Refused(m) if m.contains("replayed")));
    assert!(s.check_object_id("a", &id1).is_err());
    assert!(s.check_object_id("a", &id2).is_ok());
    assert_eq!(
        whole(&mut s, &[5; 32]).unwrap(),
        None,
        "a listing with a refused object never rewrites it"
    );
    let _ = h2;
}

#[test]
fn sealed_an_object_the_manifest_records_but_the_store_lacks_is_a_problem() {
    let k = key();
    let (a, ha, _) = sealed_object(&k, "Docs", "a", 1, 1);
    let (b, hb, _) = sealed_object(&k, "Docs", "b", 2, 2);
    let mut s = began(&k, "Docs", "/m/");
    let headers = [(a.key.clone(), ha), (b.key.clone(), hb)];
    list_sealed(&mut s, vec![a.clone(), b], &headers, None);
    let manifest = whole(&mut s, &[1; 32]).unwrap().unwrap();
    let mut s = Session::new("Docs", Layout::Sealed(k), "/m/").unwrap();
    let l = list_sealed(&mut s, vec![a], &headers, Some(manifest));
    assert_eq!(l.entries.len(), 1);
    assert!(
        l.problems[0].contains("Docs/b: the manifest records it but the remote does not hold it")
    );
}

#[test]
fn sealed_names_headers_and_manifests_that_fail_are_accounted_for() {
    let k = key();
    let other = Rc::new(Keyring::generate(&[8u8; 32]).unwrap());
    let (a, ha, _) = sealed_object(&k, "Docs", "a", 5, 1);
    let (moved, hm, _) = sealed_object(&k, "Else", "x", 5, 1);
    // A manifest that does not open is refused (see the freshness test);
    // trusted, the listing is rebuilt from the objects.
    let mut s = Session::new("Docs", Layout::Sealed(k.clone()), "/m/")
        .unwrap()
        .remembering(None, true);
    let stray = Listed {
        key: format!("{}plain.txt", s.prefix()),
        size: 4,
        etag: "e".into(),
        entry: None,
    };
    let truncated = Listed {
        size: a.size - 1,
        ..a.clone()
    };
    let objects = vec![stray, truncated, moved.clone()];
    let asked = s
        .ingest_listing(objects, Some(b"not a blob".to_vec()))
        .unwrap();
    assert_eq!(asked, std::slice::from_ref(&a.key));
    s.ingest_read(&a.key, Read::Header(ha)).unwrap();
    let l = s.finish_listing(false).unwrap();
    assert!(
        l.skipped
            .iter()
            .any(|m| m.contains("truncated or extended")),
        "{l:?}"
    );
    assert!(
        l.skipped
            .iter()
            .any(|m| m.contains("not an encrypted name")),
        "{l:?}"
    );
    assert!(
        l.problems.iter().any(|m| m.contains("it was moved")),
        "{l:?}"
    );
    assert!(
        l.skipped
            .iter()
            .any(|m| m.contains("cannot be opened") && m.contains("--trust-remote")),
        "{l:?}"
    );
    assert!(
        s.check_restore("a").is_err(),
        "a truncated object is refused"
    );
    // A header sealed with another key does not open.
    let mut s = began(&k, "Docs", "/m/");
    let (fake, hf, _) = sealed_object(&other, "Docs", "a", 5, 1);
    let _ = hm;
    let asked = s
        .ingest_listing(
            vec![Listed {
                key: a.key.clone(),
                ..fake
            }],
            None,
        )
        .unwrap();
    s.ingest_read(&asked[0], Read::Header(hf)).unwrap();
    s.finish_listing(false).unwrap();
    assert!(s.check_restore("a").is_err());
}

#[test]
fn calls_out_of_order_are_refused() {
    let mut s = Session::new(
        "D",
        Layout::Plain {
            lists_metadata: false,
        },
        "",
    )
    .unwrap();
    assert!(
        Session::new(
            "../D",
            Layout::Plain {
                lists_metadata: false
            },
            ""
        )
        .is_err()
    );
    assert!(s.ingest_read("D/x", Read::Failed("no".into())).is_err());
    let listed = Listed {
        key: "D/x".into(),
        size: 1,
        etag: "e".into(),
        entry: None,
    };
    s.ingest_listing(vec![listed], None).unwrap();
    assert!(
        s.finish_listing(false).is_err(),
        "D/x was asked about but not read"
    );
    assert!(s.ingest_listing(vec![], None).is_err());
    assert!(s.object_key("../x").is_err());
    assert_eq!(s.object_key("a/b").unwrap(), "D/a/b");
}

/// Lists `objects` with `manifest` in a sealed session given `memory`.
fn try_list(
    k: &Rc<Keyring>,
    memory: Option<Freshness>,
    trust: bool,
    objects: &[(Listed, Vec<u8>)],
    manifest: Option<Vec<u8>>,
) -> std::result::Result<Session, SessionError> {
    let mut s = Session::new("Docs", Layout::Sealed(k.clone()), "/m/")
        .unwrap()
        .remembering(memory, trust);
    let listed = objects.iter().map(|(o, _)| o.clone()).collect();
    // As the host gives it: as soon as it is read, before the listing
    // ends, in parts (three here).
    if let Some(m) = manifest {
        let total = m.len() as u64;
        let third = m.len().div_ceil(3).max(1);
        for part in m.chunks(third) {
            s.add_manifest(part.to_vec(), total).unwrap();
        }
    }
    for key in s.ingest_listing(listed, None)? {
        let h = objects
            .iter()
            .find(|(o, _)| o.key == key)
            .unwrap()
            .1
            .clone();
        s.ingest_read(&key, Read::Header(h)).unwrap();
    }
    // Put back what the session handed over, for the assertions to read.
    s.listing = s.finish_listing(false).unwrap();
    Ok(s)
}

fn refused_for(r: std::result::Result<Session, SessionError>, words: &str) {
    match r {
        Err(SessionError::Refused(m)) => {
            assert!(m.contains(words), "{m}");
            assert!(m.contains("--trust-remote"), "says the way out: {m}");
        }
        Err(e) => panic!("refused for another reason: {e:?}"),
        Ok(_) => panic!("accepted, but must be refused ({words})"),
    }
}

#[test]
fn freshness_a_deleted_unopenable_or_older_manifest_is_refused_unless_trusted() {
    let k = key();
    let (a, ha, ida) = sealed_object(&k, "Docs", "a", 3, 1);
    let objects = [(a.clone(), ha)];

    // A new folder: nothing stored, nothing remembered; remembered as begun.
    let mut s = try_list(&k, None, false, &[], None).unwrap();
    assert_eq!(s.remember(), Some(Freshness::default()));
    s.uploaded(entry("a", 3), Some(a.etag.clone()), Some(ida.clone()));
    let gen1 = whole(&mut s, &[1; 32]).unwrap().unwrap();
    let mem1 = s.remember().expect("the written manifest is remembered");
    assert_eq!(mem1.generation, 1);
    assert_eq!(mem1.manifest_sha256, sha256_hex(&gen1));

    // Begun, interrupted before the manifest: its own objects are accepted.
    assert!(try_list(&k, Some(Freshness::default()), false, &objects, None).is_ok());

    // The next run accepts generation 1 (nothing new to remember) and writes 2.
    let mut s = try_list(&k, Some(mem1.clone()), false, &objects, Some(gen1.clone())).unwrap();
    assert_eq!(s.remember(), None);
    s.deleted("a");
    s.uploaded(entry("a", 3), Some("etag-2".into()), Some(ida.clone()));
    let gen2 = whole(&mut s, &[2; 32]).unwrap().unwrap();
    let mem2 = s.remember().unwrap();
    assert_eq!(mem2.generation, 2);

    // Rolled back to generation 1, deleted, or replaced by garbage: refused.
    refused_for(
        try_list(&k, Some(mem2.clone()), false, &objects, Some(gen1.clone())),
        "generation 1, older than generation 2",
    );
    refused_for(
        try_list(&k, Some(mem2.clone()), false, &objects, None),
        "is missing, but this machine wrote or accepted generation 2",
    );
    refused_for(
        try_list(&k, Some(mem2.clone()), false, &[], None),
        "is missing",
    );
    refused_for(
        try_list(
            &k,
            Some(mem2.clone()),
            false,
            &objects,
            Some(b"junk".to_vec()),
        ),
        "cannot be opened",
    );
    // A new machine: objects but no manifest cannot be told from a deletion.
    refused_for(
        try_list(&k, None, false, &objects, None),
        "no memory of the folder",
    );
    // The manifest of another folder does not open for this one.
    let mut other = began(&k, "Else", "/m/");
    other.ingest_listing(vec![], None).unwrap();
    other.finish_listing(false).unwrap();
    other.uploaded(entry("x", 1), Some("e".into()), Some(ida.clone()));
    let elsewhere = whole(&mut other, &[3; 32]).unwrap().unwrap();
    refused_for(
        try_list(&k, Some(mem2.clone()), false, &objects, Some(elsewhere)),
        "cannot be opened",
    );

    // Trusted on purpose: accepted, said so, not remembered until a new
    // manifest (above every generation seen) is written.
    let mut s = try_list(&k, Some(mem2.clone()), true, &objects, Some(gen1.clone())).unwrap();
    assert_eq!(
        s.remember(),
        None,
        "a dry run does not make the override stick"
    );
    assert!(
        s.listing
            .skipped
            .iter()
            .any(|m| m.contains("--trust-remote"))
    );
    whole(&mut s, &[4; 32])
        .unwrap()
        .expect("a new manifest over the old one");
    assert_eq!(s.remember().unwrap().generation, 3);

    // A machine with no memory trusts the first manifest it sees, as it is.
    let s = try_list(&k, None, false, &objects, Some(gen2.clone())).unwrap();
    assert_eq!(s.remember(), Some(mem2.clone()));
    // Equal or newer generations are accepted; a newer one is remembered.
    let s = try_list(&k, Some(mem1), false, &objects, Some(gen2)).unwrap();
    assert_eq!(s.remember(), Some(mem2));
}

#[test]
fn freshness_a_manifest_from_before_generations_counts_as_generation_0() {
    let k = key();
    let (a, ha, ida) = sealed_object(&k, "Docs", "a", 3, 1);
    let record = Record {
        size: 3,
        mtime_ns: entry("a", 3).mtime_ns,
        mode: Some(0o644),
        etag: Tag::new(&a.etag),
        object_id: Some(ida.into()),
    };
    let old = k
        .seal_blob(
            &manifest_context("Docs"),
            manifest::encode([("a", &record)], None),
            &[9; 32],
        )
        .unwrap();
    let objects = [(a, ha)];
    let s = try_list(&k, None, false, &objects, Some(old.clone())).unwrap();
    assert_eq!(s.remember().unwrap().generation, 0);
    let remembered = Freshness {
        generation: 1,
        manifest_sha256: "00".repeat(32),
    };
    refused_for(
        try_list(&k, Some(remembered), false, &objects, Some(old)),
        "generation 0, older than generation 1",
    );
}

#[test]
fn a_plain_folder_beside_poofs_key_is_refused_unless_chosen() {
    let plain = || {
        Session::new(
            "Docs",
            Layout::Plain {
                lists_metadata: true,
            },
            "/mnt/usb/",
        )
        .unwrap()
    };
    // A config that forgot "encrypted": true, facing an encrypted remote.
    let e = plain()
        .beside(true, false)
        .ingest_listing(vec![], None)
        .unwrap_err();
    assert!(
        matches!(&e, SessionError::Refused(m) if m.contains("/mnt/usb/ holds poof's encryption key")
            && m.contains("cryptoggle")),
        "{e:?}"
    );
    // Chosen on purpose, or no key at all: listed as usual.
    assert!(
        plain()
            .beside(true, true)
            .ingest_listing(vec![], None)
            .is_ok()
    );
    assert!(
        plain()
            .beside(false, false)
            .ingest_listing(vec![], None)
            .is_ok()
    );
    assert!(
        plain()
            .beside(false, true)
            .ingest_listing(vec![], None)
            .is_ok()
    );
}

#[test]
fn the_records_are_the_confirmed_ones_with_the_changes_over_them() {
    let record = |size: u64| Record {
        size,
        mtime_ns: 1,
        mode: None,
        etag: Tag::new("e"),
        object_id: None,
    };
    let mut f = Files::confirmed(vec![
        ("a".into(), record(1)),
        ("c".into(), record(3)),
        ("e".into(), record(5)),
    ]);
    f.insert("b", record(2));
    f.insert("c", record(30));
    assert!(f.remove("e"));
    assert!(!f.remove("z"), "nothing was recorded there");
    f.insert("f", record(6));
    assert!(f.remove("f"));
    f.get_mut("a").unwrap().mode = Some(0o600);
    f.get_mut("b").unwrap().mode = Some(0o640);
    assert!(f.get_mut("e").is_none(), "removed");
    let all: Vec<(&str, u64, Option<u32>)> = f.iter().map(|(p, r)| (p, r.size, r.mode)).collect();
    assert_eq!(
        all,
        [
            ("a", 1, Some(0o600)),
            ("b", 2, Some(0o640)),
            ("c", 30, None)
        ]
    );
    assert!(f.contains("c") && !f.contains("e") && !f.contains("f"));
    f.insert("e", record(50));
    assert_eq!(f.get("e").map(|r| r.size), Some(50));
    assert_eq!(f.iter().count(), 4);
}

#[test]
fn kept_entries_go_to_the_remote_side_of_one_plan() {
    let listed = |s: &mut Session, keep: bool| {
        let with = |rel: &str| Listed {
            key: format!("D/{rel}"),
            size: 1,
            etag: String::new(),
            entry: Some(Ok(entry(rel, 1))),
        };
        s.ingest_listing(vec![with("b"), with("a")], None).unwrap();
        s.finish_listing(keep).unwrap()
    };
    let plain = on_a_folder;
    let input = |direction: Direction, local: Vec<Entry>| Input {
        direction,
        ..crate::plan::test_input(local.clone(), local)
    };
    let paths = |es: &[Entry]| es.iter().map(|e| e.path.clone()).collect::<Vec<_>>();

    // Going up, the remote is the target; going down, the source.
    let mut s = plain();
    let l = listed(&mut s, true);
    assert!(l.exists && l.entries.is_empty(), "kept, not handed over");
    let mut up = input(Direction::Up, vec![]);
    up.source = vec![entry("c", 1)];
    s.plan_input(&mut up).unwrap();
    assert_eq!(
        (paths(&up.source), paths(&up.target)),
        (vec!["c".into()], vec!["a".into(), "b".into()])
    );
    // Once used, a second plan would see an empty remote: refused.
    let mut again = input(Direction::Up, vec![]);
    let e = s.plan_input(&mut again).unwrap_err();
    assert!(
        matches!(&e, SessionError::InvalidInput(m) if m.contains("list it again")),
        "{e:?}"
    );

    let mut s = plain();
    listed(&mut s, true);
    let mut down = input(Direction::Down, vec![]);
    down.target = vec![entry("c", 1)];
    s.plan_input(&mut down).unwrap();
    assert_eq!(paths(&down.source), ["a", "b"]);
    assert_eq!(paths(&down.target), ["c"]);

    // The remote's side given as well as kept: refused, not mixed.
    let mut s = plain();
    listed(&mut s, true);
    let mut both = input(Direction::Up, vec![entry("x", 1)]);
    let e = s.plan_input(&mut both).unwrap_err();
    assert!(matches!(e, SessionError::InvalidInput(_)), "{e:?}");

    // Handed over: the input is planned as given.
    let mut s = plain();
    let l = listed(&mut s, false);
    assert_eq!(paths(&l.entries), ["a", "b"]);
    let mut given = input(Direction::Up, vec![entry("x", 1)]);
    s.plan_input(&mut given).unwrap();
    assert_eq!(paths(&given.target), ["x"]);
}

#[test]
fn the_local_side_given_in_parts_goes_to_one_plan_in_order() {
    let session = || {
        let mut s = on_a_folder();
        let with = |rel: &str| Listed {
            key: format!("D/{rel}"),
            size: 1,
            etag: String::new(),
            entry: Some(Ok(entry(rel, 1))),
        };
        s.ingest_listing(vec![with("b")], None).unwrap();
        s.finish_listing(true).unwrap();
        s
    };
    let empty = |direction: Direction| Input {
        direction,
        ..crate::plan::test_input(vec![], vec![])
    };
    let paths = |es: &[Entry]| es.iter().map(|e| e.path.clone()).collect::<Vec<_>>();
    let give = |s: &mut Session, total: u64| {
        s.add_local(vec![entry("a", 1), entry("c", 2)], total)
            .unwrap();
        s.add_local(vec![], total).unwrap();
        s.add_local(vec![entry("d", 3)], total).unwrap();
    };

    // Going up the local side is the source; going down, the target. A
    // total that is wrong either way changes nothing but the room made.
    for (direction, total) in [
        (Direction::Up, 3),
        (Direction::Down, 1),
        (Direction::Up, 50),
    ] {
        let mut s = session();
        give(&mut s, total);
        let mut input = empty(direction);
        s.plan_input(&mut input).unwrap();
        let (local, remote) = match direction {
            Direction::Up => (&input.source, &input.target),
            Direction::Down => (&input.target, &input.source),
        };
        assert_eq!(
            paths(local),
            ["a", "c", "d"],
            "{direction:?}, total {total}"
        );
        assert_eq!(paths(remote), ["b"]);
        assert_eq!(local.iter().map(|e| e.size).collect::<Vec<_>>(), [1, 2, 3]);
        // Once planned, no more parts.
        let e = s.add_local(vec![entry("e", 1)], 1).unwrap_err();
        assert!(
            matches!(&e, SessionError::InvalidInput(m) if m.contains("made already")),
            "{e:?}"
        );
    }

    // The local side given in parts and in the input as well: refused, not mixed.
    let mut s = session();
    give(&mut s, 3);
    let mut both = empty(Direction::Up);
    both.source = vec![entry("x", 1)];
    let e = s.plan_input(&mut both).unwrap_err();
    assert!(
        matches!(&e, SessionError::InvalidInput(m) if m.contains("local files")),
        "{e:?}"
    );

    // Without parts the input's local side is planned as given, and a
    // session that kept no listing leaves the remote's side too.
    let mut s = on_a_folder();
    s.ingest_listing(vec![], None).unwrap();
    s.finish_listing(false).unwrap();
    let mut given = empty(Direction::Up);
    given.source = vec![entry("x", 1)];
    given.target = vec![entry("y", 1)];
    s.plan_input(&mut given).unwrap();
    assert_eq!(
        (paths(&given.source), paths(&given.target)),
        (vec!["x".into()], vec!["y".into()])
    );
}

#[test]
fn a_manifest_given_early_is_the_manifest_given_with_the_listing() {
    let layout = Layout::Plain {
        lists_metadata: false,
    };
    let mut first = Session::new("Docs", layout.clone(), "s3://b/").unwrap();
    for k in first.ingest_listing(vec![listed("a", "1")], None).unwrap() {
        let rel = k.strip_prefix("Docs/").unwrap().to_string();
        first.ingest_read(&k, Read::Entry(entry(&rel, 3))).unwrap();
    }
    first.finish_listing(false).unwrap();
    let manifest = whole(&mut first, &[]).unwrap().unwrap();
    let objects = || vec![listed("a", "1"), listed("b", "2")];

    let mut late = Session::new("Docs", layout.clone(), "s3://b/").unwrap();
    let asked_late = late
        .ingest_listing(objects(), Some(manifest.clone()))
        .unwrap();
    let mut early = Session::new("Docs", layout.clone(), "s3://b/").unwrap();
    early.add_objects(vec![listed("b", "2")]).unwrap();
    let total = manifest.len() as u64;
    let (head, tail) = manifest.split_at(manifest.len() / 2);
    early.add_manifest(head.to_vec(), total).unwrap();
    assert!(early.raw.is_some() && early.given.is_none());
    early.add_objects(vec![]).unwrap();
    assert!(early.given.is_none(), "not read before its last part");
    early.add_manifest(tail.to_vec(), total).unwrap();
    assert!(
        early.raw.is_some() && early.given.is_none(),
        "read at the next call, once the host freed its copy"
    );
    early.add_objects(vec![listed("a", "1")]).unwrap();
    assert!(early.raw.is_none() && early.given.is_some());
    let asked_early = early.ingest_listing(vec![], None).unwrap();
    assert_eq!(asked_early, asked_late);
    assert_eq!(asked_early, ["Docs/b"], "a was vouched for");
    // Given after the last part of the listing: read with the rest.
    let mut last = Session::new("Docs", layout.clone(), "s3://b/").unwrap();
    last.add_objects(objects()).unwrap();
    last.add_manifest(manifest.clone(), total).unwrap();
    assert_eq!(last.ingest_listing(vec![], None).unwrap(), asked_late);

    // Given twice, either way, or to a session that keeps none: refused.
    let mut twice = Session::new("Docs", layout.clone(), "s3://b/").unwrap();
    twice.add_manifest(manifest.clone(), total).unwrap();
    assert!(twice.add_manifest(manifest.clone(), total).is_err());
    assert!(
        twice.add_manifest(vec![], total).is_err(),
        "complete: a part more is one too many"
    );
    let e = twice.ingest_listing(objects(), Some(manifest.clone()));
    assert!(matches!(e, Err(SessionError::InvalidInput(_))), "{e:?}");
    let folder = Layout::Plain {
        lists_metadata: true,
    };
    let mut none = Session::new("Docs", folder, "/mnt/").unwrap();
    assert!(none.add_manifest(manifest.clone(), total).is_err());
    // After the listing: too late.
    assert!(early.add_manifest(manifest.clone(), total).is_err());
    // More bytes than told, parts that disagree on the length, or short of
    // it when the listing is in: refused.
    let fresh = || Session::new("Docs", layout.clone(), "s3://b/").unwrap();
    let mut over = fresh();
    assert!(over.add_manifest(manifest.clone(), total - 1).is_err());
    let mut disagree = fresh();
    disagree.add_manifest(head.to_vec(), total).unwrap();
    assert!(disagree.add_manifest(tail.to_vec(), total + 1).is_err());
    let mut short = fresh();
    short.add_manifest(head.to_vec(), total).unwrap();
    let e = short.ingest_listing(objects(), None).unwrap_err();
    assert!(
        matches!(&e, SessionError::InvalidInput(m) if m.contains("came short")),
        "{e:?}"
    );
    // An empty manifest is one empty part.
    let mut empty = fresh();
    empty.add_manifest(vec![], 0).unwrap();
    assert!(empty.ingest_listing(objects(), None).is_ok());
}

#[test]
fn a_manifest_in_parts_is_the_manifest_whole() {
    let layout = Layout::Plain {
        lists_metadata: false,
    };
    let mut s = Session::new("Docs", layout, "s3://b/").unwrap();
    s.ingest_listing(vec![listed("a", "1"), listed("c", "2")], None)
        .unwrap();
    for k in ["Docs/a", "Docs/c"] {
        let rel = k.strip_prefix("Docs/").unwrap().to_string();
        s.ingest_read(k, Read::Entry(entry(&rel, 3))).unwrap();
    }
    s.finish_listing(false).unwrap();
    // The run's changes over the confirmed records: one new, one gone.
    s.uploaded(entry("b", 5), Some("3".into()), None);
    s.deleted("c");
    let expected = manifest::encode(s.files.iter(), None);
    assert_eq!(
        s.files.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let rows_after = |after| {
        s.files
            .iter_after(after)
            .map(|(p, _)| p.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(rows_after(Some("a")), ["b"]);
    assert_eq!(rows_after(Some("aa")), ["b"]);
    assert!(rows_after(Some("b")).is_empty());

    for size in [1, 2, 7, 40, 1 << 20, usize::MAX] {
        s.dirty = true;
        let mut parts = Vec::new();
        while let Some(part) = s.manifest(&[], size).unwrap() {
            parts.push(part);
        }
        assert_eq!(parts.concat(), expected, "parts of {size}");
        if size >= expected.len() {
            assert_eq!(parts.len(), 1);
        }
        assert_eq!(s.manifest(&[], size).unwrap(), None, "handed over once");
    }

    // A change while the parts are handed over: written again after.
    s.dirty = true;
    let first = s.manifest(&[], 1).unwrap().unwrap();
    s.uploaded(entry("d", 1), Some("4".into()), None);
    let mut all = first;
    while let Some(part) = s.manifest(&[], 1).unwrap() {
        all.extend(part);
    }
    // What was handed over is a whole manifest of the records as they came.
    let doc: serde_json::Value = serde_json::from_slice(&all).expect("a JSON document");
    let paths: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a", "b", "d"]);
    let again = whole(&mut s, &[]).unwrap().expect("changed meanwhile");
    assert_eq!(again, manifest::encode(s.files.iter(), None));
    assert_eq!(whole(&mut s, &[]).unwrap(), None);
}
