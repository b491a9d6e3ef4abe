//! What `poof cryptoggle --purge-plain` may delete of a plain cloud folder
//! once it is backed up encrypted.
//!
//! The host lists the plain objects under the folder's prefix and the
//! encrypted copy's files; `pair` says which plain objects to read back,
//! each with its encrypted copy; the host reads both in full and hashes
//! them; `plan` says what may go. Invariants:
//! - a folder's plain objects go all together or not at all: every one of
//!   them must name a usable path whose encrypted copy has the same size
//!   and was read back with the same SHA-256 (both known, both 32 bytes);
//!   any listing problem on either side keeps them all;
//! - every plain object is in `delete`, or (when anything is held) the
//!   reason it stays, or the reason the whole folder stays, is in `holds`;
//! - the plain manifest goes only after every object, and only when every
//!   object may go;
//! - every key is checked to lie under the prefix, every path with
//!   `paths::check`, and a key or a path given twice is refused, so a
//!   hostile input cannot get an object deleted on another's evidence.

use std::collections::{BTreeMap, BTreeSet};

use crate::check::{self, Listing};
use crate::paths;
use crate::wipe::RemoteCheck;

/// One object a store lists under a plain cloud folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainObject {
    /// Its key, relative to the store's root.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What a plain cloud folder and its encrypted copy hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listings {
    /// The plain folder's key prefix (`CLOUD/`).
    pub prefix: String,
    /// Every object the store lists under `prefix`.
    pub plain: Vec<PlainObject>,
    /// What could not be listed (or read) under `prefix`, in the host's words.
    pub plain_problems: Vec<String>,
    /// The key of the plain folder's manifest, when the store holds one.
    pub manifest: Option<String>,
    /// The encrypted copy's files (path and plain size) and its problems.
    pub sealed: Listing,
}

/// A plain object whose content must be compared with its encrypted copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The plain object's key.
    pub key: String,
    /// The file's path in the cloud folder: the encrypted copy to read.
    pub path: String,
}

/// One plain object and its encrypted copy, both read back in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The plain object's key (one of `pair`'s).
    pub key: String,
    /// SHA-256 of the plain object, or why it could not be read.
    pub plain: Result<Vec<u8>, String>,
    /// What the encrypted copy gave.
    pub sealed: RemoteCheck,
}

/// Why a plain folder's objects stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The plain object concerned, or `None` for the whole folder.
    pub key: Option<String>,
    /// Why, in words.
    pub reason: String,
}

/// What may be deleted of one plain cloud folder: everything or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every plain object's key (in key order) when each one's encrypted
    /// copy was proved equal; else empty.
    pub delete: Vec<String>,
    /// The plain manifest, to delete once every object of `delete` is gone.
    pub then_delete: Option<String>,
    /// How many plain objects were proved equal to their encrypted copy.
    pub verified: u64,
    /// Why nothing is deleted; empty exactly when everything may go.
    pub holds: Vec<Hold>,
}

/// Why an input was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeError {
    /// The input breaks the contract (a key outside the prefix, an unsafe
    /// path, something given twice, a check missing or not asked for).
    InvalidInput(String),
}

/// The plain objects sorted into those to compare and those held.
struct Sorted {
    pairs: Vec<Pair>,
    holds: Vec<Hold>,
}

/// Which plain objects to read back, each with its encrypted copy: those
/// whose path is usable and whose encrypted copy has the same size.
pub fn pair(listings: &Listings) -> Result<Vec<Pair>, PurgeError> {
    Ok(sort(listings)?.pairs)
}

/// Decides what may be deleted, from the listings and a check for each of
/// `pair`'s pairs.
pub fn plan(listings: &Listings, checks: Vec<Checked>) -> Result<Plan, PurgeError> {
    let Sorted { pairs, mut holds } = sort(listings)?;
    let mut checks: BTreeMap<String, Checked> = {
        let mut by_key = BTreeMap::new();
        for c in checks {
            if let Some(c) = by_key.insert(c.key.clone(), c) {
                return Err(PurgeError::InvalidInput(format!(
                    "{:?} is checked twice",
                    c.key
                )));
            }
        }
        by_key
    };
    let mut verified = 0;
    for p in &pairs {
        let Some(c) = checks.remove(&p.key) else {
            return Err(PurgeError::InvalidInput(format!(
                "{:?} was not checked",
                p.key
            )));
        };
        let gone = c.sealed == RemoteCheck::Missing;
        let reason = match check::judge(c.plain, c.sealed) {
            check::Verdict::Same => {
                verified += 1;
                continue;
            }
            check::Verdict::Differs if gone => {
                "its encrypted copy was not there when read back".to_string()
            }
            check::Verdict::Differs => "its encrypted copy holds other content (the SHA-256 \
                differs): the file changed after this plain copy was made, or one of the \
                copies was altered"
                .to_string(),
            check::Verdict::Failed(why) => format!("could not be compared: {why}"),
        };
        holds.push(Hold {
            key: Some(p.key.clone()),
            reason,
        });
    }
    if let Some(key) = checks.into_keys().next() {
        return Err(PurgeError::InvalidInput(format!(
            "{key:?} was checked but not asked for"
        )));
    }
    if !holds.is_empty() {
        return Ok(Plan {
            verified,
            holds,
            ..Plan::default()
        });
    }
    let delete: BTreeSet<String> = listings.plain.iter().map(|o| o.key.clone()).collect();
    Ok(Plan {
        delete: delete.into_iter().collect(),
        then_delete: listings.manifest.clone(),
        verified,
        holds,
    })
}

/// Checks the listings and sorts the plain objects.
fn sort(l: &Listings) -> Result<Sorted, PurgeError> {
    let folder = l.prefix.strip_suffix('/').unwrap_or_default();
    if let Err(why) = paths::check(folder) {
        return Err(PurgeError::InvalidInput(format!(
            "the prefix {:?} is not a safe folder followed by `/`: {why}",
            l.prefix
        )));
    }
    if let Some(m) = &l.manifest {
        if let Err(why) = paths::check(m) {
            return Err(PurgeError::InvalidInput(format!(
                "the manifest {m:?} is not a safe key: {why}"
            )));
        }
        if m.starts_with(&l.prefix) {
            return Err(PurgeError::InvalidInput(format!(
                "the manifest {m:?} lies among the folder's objects"
            )));
        }
    }
    let sealed = check::sizes("encrypted copy", &l.sealed.files)
        .map_err(|check::CheckError::InvalidInput(m)| PurgeError::InvalidInput(m))?;
    let mut holds: Vec<Hold> = l
        .plain_problems
        .iter()
        .map(|p| folder_hold(format!("the plain folder could not be listed in full: {p}")))
        .chain(l.sealed.problems.iter().map(|p| {
            folder_hold(format!(
                "the encrypted copy could not be listed in full: {p}"
            ))
        }))
        .collect();
    let never_backed_up = sealed.is_empty() && l.sealed.problems.is_empty();
    let mut seen = BTreeSet::new();
    let mut pairs = Vec::new();
    let mut missing = 0;
    for o in &l.plain {
        if !seen.insert(o.key.as_str()) {
            return Err(PurgeError::InvalidInput(format!(
                "{:?} is listed twice",
                o.key
            )));
        }
        let Some(rel) = o.key.strip_prefix(&l.prefix) else {
            return Err(PurgeError::InvalidInput(format!(
                "{:?} is not under {:?}",
                o.key, l.prefix
            )));
        };
        let mut hold = |reason: String| {
            holds.push(Hold {
                key: Some(o.key.clone()),
                reason,
            })
        };
        if let Err(why) = paths::check(rel) {
            hold(format!(
                "not a file poof backs up ({why}), so there is no encrypted copy to compare it with"
            ));
            continue;
        }
        match sealed.get(rel) {
            None if never_backed_up => missing += 1,
            None => hold("it has no encrypted copy".into()),
            Some(&size) if size != o.size => hold(format!(
                "its encrypted copy holds {size} bytes, the plain object {}",
                o.size
            )),
            Some(_) => pairs.push(Pair {
                key: o.key.clone(),
                path: rel.to_string(),
            }),
        }
    }
    if missing > 0 {
        holds.push(folder_hold(format!(
            "this folder was never backed up encrypted: its encrypted copy holds no file, so \
             none of its {missing} plain objects can be compared with one"
        )));
    }
    Ok(Sorted { pairs, holds })
}

fn folder_hold(reason: String) -> Hold {
    Hold { key: None, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Listed;

    fn h(b: u8) -> Vec<u8> {
        vec![b; 32]
    }

    /// Plain objects under `Docs/` and encrypted files, by (path, size).
    fn listings(plain: &[(&str, u64)], sealed: &[(&str, u64)]) -> Listings {
        Listings {
            prefix: "Docs/".into(),
            plain: plain
                .iter()
                .map(|(k, s)| PlainObject {
                    key: format!("Docs/{k}"),
                    size: *s,
                })
                .collect(),
            plain_problems: vec![],
            manifest: Some(".poof/manifests/Docs.json".into()),
            sealed: Listing {
                files: sealed
                    .iter()
                    .map(|(p, s)| Listed {
                        path: p.to_string(),
                        size: *s,
                    })
                    .collect(),
                problems: vec![],
            },
        }
    }

    /// The checks the host would make: `sealed[i]` for the i-th pair, the
    /// plain object hashing to `h(1)`.
    fn checks(pairs: &[Pair], sealed: &[RemoteCheck]) -> Vec<Checked> {
        pairs
            .iter()
            .zip(sealed)
            .map(|(p, s)| Checked {
                key: p.key.clone(),
                plain: Ok(h(1)),
                sealed: s.clone(),
            })
            .collect()
    }

    fn held(plan: &Plan) -> Vec<(Option<&str>, &str)> {
        plan.holds
            .iter()
            .map(|h| (h.key.as_deref(), h.reason.as_str()))
            .collect()
    }

    #[test]
    fn a_folder_whose_every_copy_matches_goes_whole_with_its_manifest_last() {
        let l = listings(
            &[("b/c.txt", 3), ("a.txt", 5)],
            &[("a.txt", 5), ("b/c.txt", 3)],
        );
        let pairs = pair(&l).unwrap();
        assert_eq!(
            pairs,
            [
                Pair {
                    key: "Docs/b/c.txt".into(),
                    path: "b/c.txt".into()
                },
                Pair {
                    key: "Docs/a.txt".into(),
                    path: "a.txt".into()
                },
            ]
        );
        let same = [RemoteCheck::Hash(h(1)), RemoteCheck::Hash(h(1))];
        let p = plan(&l, checks(&pairs, &same)).unwrap();
        assert_eq!(
            p,
            Plan {
                delete: vec!["Docs/a.txt".into(), "Docs/b/c.txt".into()],
                then_delete: Some(".poof/manifests/Docs.json".into()),
                verified: 2,
                holds: vec![],
            }
        );
    }

    #[test]
    fn an_encrypted_file_without_a_plain_object_is_no_obstacle() {
        let l = listings(&[("a.txt", 5)], &[("a.txt", 5), ("new.txt", 9)]);
        let pairs = pair(&l).unwrap();
        let p = plan(&l, checks(&pairs, &[RemoteCheck::Hash(h(1))])).unwrap();
        assert_eq!(p.delete, ["Docs/a.txt"]);
    }

    #[test]
    fn a_missing_encrypted_copy_keeps_the_whole_folder() {
        // Listed but absent, absent from the listing, or gone when read back.
        let l = listings(&[("a.txt", 5), ("extra.txt", 2)], &[("a.txt", 5), ("z", 1)]);
        let pairs = pair(&l).unwrap();
        assert_eq!(pairs.len(), 1, "extra.txt is not read");
        let p = plan(&l, checks(&pairs, &[RemoteCheck::Hash(h(1))])).unwrap();
        assert!(p.delete.is_empty() && p.then_delete.is_none(), "{p:?}");
        assert_eq!(p.verified, 1);
        assert_eq!(
            held(&p),
            [(Some("Docs/extra.txt"), "it has no encrypted copy")]
        );
        let p = plan(&l, checks(&pairs, &[RemoteCheck::Missing])).unwrap();
        assert!(p.delete.is_empty());
        assert_eq!(
            held(&p)[..1],
            [(Some("Docs/extra.txt"), "it has no encrypted copy")]
        );
        assert_eq!(
            held(&p)[1],
            (
                Some("Docs/a.txt"),
                "its encrypted copy was not there when read back"
            )
        );
    }

    #[test]
    fn different_content_keeps_the_whole_folder() {
        let l = listings(&[("a.txt", 5), ("b.txt", 5)], &[("a.txt", 5), ("b.txt", 5)]);
        let pairs = pair(&l).unwrap();
        let p = plan(
            &l,
            checks(&pairs, &[RemoteCheck::Hash(h(1)), RemoteCheck::Hash(h(2))]),
        )
        .unwrap();
        assert!(p.delete.is_empty() && p.then_delete.is_none());
        assert_eq!(p.verified, 1);
        assert_eq!(p.holds.len(), 1);
        assert_eq!(p.holds[0].key.as_deref(), Some("Docs/b.txt"));
        assert!(p.holds[0].reason.contains("other content"), "{p:?}");
        // A different size is found without reading anything.
        let l = listings(&[("a.txt", 5)], &[("a.txt", 6)]);
        assert!(pair(&l).unwrap().is_empty());
        let p = plan(&l, vec![]).unwrap();
        assert_eq!(
            held(&p),
            [(
                Some("Docs/a.txt"),
                "its encrypted copy holds 6 bytes, the plain object 5"
            )]
        );
    }

    #[test]
    fn a_copy_that_could_not_be_read_keeps_the_whole_folder() {
        let l = listings(&[("a.txt", 5)], &[("a.txt", 5)]);
        let pairs = pair(&l).unwrap();
        let mut c = checks(&pairs, &[RemoteCheck::Failed("tampered with".into())]);
        let p = plan(&l, c.clone()).unwrap();
        assert_eq!(
            held(&p),
            [(Some("Docs/a.txt"), "could not be compared: tampered with")]
        );
        c[0].plain = Err("timeout".into());
        c[0].sealed = RemoteCheck::Hash(h(1));
        let p = plan(&l, c).unwrap();
        assert_eq!(
            held(&p),
            [(Some("Docs/a.txt"), "could not be compared: timeout")]
        );
    }

    #[test]
    fn a_folder_never_backed_up_encrypted_says_so() {
        let l = listings(&[("a.txt", 5), ("b.txt", 1)], &[]);
        assert!(pair(&l).unwrap().is_empty());
        let p = plan(&l, vec![]).unwrap();
        assert!(p.delete.is_empty());
        assert_eq!(p.holds.len(), 1, "{p:?}");
        assert_eq!(p.holds[0].key, None);
        assert!(
            p.holds[0].reason.contains("never backed up encrypted")
                && p.holds[0].reason.contains("none of its 2 plain objects"),
            "{p:?}"
        );
    }

    #[test]
    fn an_empty_folder_deletes_only_a_manifest_left_behind() {
        let l = listings(&[], &[]);
        assert!(pair(&l).unwrap().is_empty());
        let p = plan(&l, vec![]).unwrap();
        assert_eq!(
            p,
            Plan {
                then_delete: Some(".poof/manifests/Docs.json".into()),
                ..Plan::default()
            }
        );
        let l = Listings {
            manifest: None,
            ..listings(&[], &[("a", 1)])
        };
        assert_eq!(plan(&l, vec![]).unwrap(), Plan::default());
    }

    #[test]
    fn a_listing_problem_or_an_unusable_name_keeps_the_whole_folder() {
        let mut l = listings(&[("a.txt", 5)], &[("a.txt", 5)]);
        l.plain_problems.push("Docs/x: denied".into());
        l.sealed
            .problems
            .push("E(Docs)/y: cannot read its header".into());
        let pairs = pair(&l).unwrap();
        let p = plan(&l, checks(&pairs, &[RemoteCheck::Hash(h(1))])).unwrap();
        assert!(p.delete.is_empty());
        assert_eq!(p.verified, 1);
        assert_eq!(
            held(&p),
            [
                (
                    None,
                    "the plain folder could not be listed in full: Docs/x: denied"
                ),
                (
                    None,
                    "the encrypted copy could not be listed in full: E(Docs)/y: cannot read its header"
                ),
            ]
        );
        let l = listings(&[("a.txt", 5), ("b//c", 1)], &[("a.txt", 5)]);
        let pairs = pair(&l).unwrap();
        let p = plan(&l, checks(&pairs, &[RemoteCheck::Hash(h(1))])).unwrap();
        assert!(p.delete.is_empty());
        assert_eq!(p.holds.len(), 1);
        assert_eq!(p.holds[0].key.as_deref(), Some("Docs/b//c"));
        assert!(p.holds[0].reason.starts_with("not a file poof backs up"));
    }

    #[test]
    fn malformed_input_is_refused() {
        let bad = |l: &Listings, c: Vec<Checked>| match plan(l, c) {
            Err(PurgeError::InvalidInput(m)) => m,
            Ok(p) => panic!("accepted: {p:?}"),
        };
        let mut l = listings(&[("a", 1)], &[("a", 1)]);
        l.plain[0].key = "Other/a".into();
        assert!(bad(&l, vec![]).contains("is not under"));
        let l = listings(&[("a", 1), ("a", 1)], &[("a", 1)]);
        assert!(bad(&l, vec![]).contains("listed twice"));
        let l = listings(&[("a", 1)], &[("a", 1), ("a", 1)]);
        assert!(bad(&l, vec![]).contains("listed twice"));
        let l = listings(&[], &[("../a", 1)]);
        assert!(bad(&l, vec![]).contains("not a safe relative path"));
        for prefix in ["Docs", "/Docs/", "../", ""] {
            let l = Listings {
                prefix: prefix.into(),
                ..listings(&[], &[])
            };
            assert!(bad(&l, vec![]).contains("not a safe folder"), "{prefix}");
        }
        let l = Listings {
            manifest: Some("Docs/m.json".into()),
            ..listings(&[], &[])
        };
        assert!(bad(&l, vec![]).contains("among the folder's objects"));
        // Every pair checked once, and nothing else.
        let l = listings(&[("a", 1)], &[("a", 1)]);
        let one = checks(&pair(&l).unwrap(), &[RemoteCheck::Hash(h(1))]);
        assert!(bad(&l, vec![]).contains("was not checked"));
        assert!(bad(&l, [one.clone(), one.clone()].concat()).contains("checked twice"));
        let mut other = one.clone();
        other[0].key = "Docs/b".into();
        assert!(bad(&l, [one, other].concat()).contains("not asked for"));
    }
}
