//! What `poof check` finds when it compares a folder with its copy.
//!
//! The host lists both sides and hashes files; this module says which files
//! are on one side only, which differ by size, which must be hashed, and
//! what two hashes of a file mean. Invariants:
//! - every path is checked (`paths::check`) and a path listed twice on one
//!   side is refused, so the host is never asked to read a file outside its
//!   root, or to report one file on another's evidence;
//! - every file of either listing is in exactly one of `only_here`,
//!   `only_on_copy`, `differs_by_size` and `to_hash`, each in path order;
//! - a file is `Same` only when both SHA-256 hashes are known, both 32
//!   bytes, and equal; a listing problem is always a difference.

use std::collections::BTreeMap;

use crate::paths;
use crate::wipe::RemoteCheck;

/// One file of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Path relative to the configured folder.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// One side's listing, as the host read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Every file, each path once.
    pub files: Vec<Listed>,
    /// What could not be listed, in the host's words.
    pub problems: Vec<String>,
}

/// How the two listings pair up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pairing {
    /// The listing problems of both sides, the local ones first.
    pub unlisted: Vec<String>,
    /// Files in the local folder only.
    pub only_here: Vec<String>,
    /// Files on the copy only.
    pub only_on_copy: Vec<String>,
    /// Files on both sides whose sizes differ.
    pub differs_by_size: Vec<String>,
    /// Files on both sides with the same size, whose contents must be compared.
    pub to_hash: Vec<String>,
}

/// What the comparison of one file's contents found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Both hashes are known, 32 bytes, and equal.
    Same,
    /// Both sides were read and differ (or the copy is gone).
    Differs,
    /// One side could not be read or hashed; why, in words.
    Failed(String),
}

/// Why an input was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    /// The input breaks the contract (an unsafe or repeated path).
    InvalidInput(String),
}

/// Length of a SHA-256 digest.
const SHA256_LEN: usize = 32;

/// Pairs the local listing with the copy's.
pub fn pair(local: Listing, copy: Listing) -> Result<Pairing, CheckError> {
    let here = sizes("local", &local.files)?;
    let there = sizes("copy", &copy.files)?;
    let mut out = Pairing {
        unlisted: local.problems.into_iter().chain(copy.problems).collect(),
        ..Pairing::default()
    };
    for (path, size) in &here {
        match there.get(path) {
            None => out.only_here.push(path.to_string()),
            Some(s) if s == size => out.to_hash.push(path.to_string()),
            Some(_) => out.differs_by_size.push(path.to_string()),
        }
    }
    out.only_on_copy = there
        .keys()
        .filter(|p| !here.contains_key(*p))
        .map(|p| p.to_string())
        .collect();
    Ok(out)
}

/// The sizes of one side's files by path, after checking every path.
pub(crate) fn sizes<'a>(
    side: &str,
    files: &'a [Listed],
) -> Result<BTreeMap<&'a str, u64>, CheckError> {
    let mut out = BTreeMap::new();
    for f in files {
        if let Err(why) = paths::check(&f.path) {
            return Err(CheckError::InvalidInput(format!(
                "{side} {:?} is not a safe relative path: {why}",
                f.path
            )));
        }
        if out.insert(f.path.as_str(), f.size).is_some() {
            return Err(CheckError::InvalidInput(format!(
                "{side} {:?} is listed twice",
                f.path
            )));
        }
    }
    Ok(out)
}

/// Judges one file from the local file's SHA-256 (or why it could not be
/// read) and what the copy's side says. The local side's failure is told
/// first.
pub fn judge(local: Result<Vec<u8>, String>, copy: RemoteCheck) -> Verdict {
    let local = match local {
        Ok(h) if h.len() == SHA256_LEN => h,
        Ok(h) => {
            return Verdict::Failed(format!(
                "the local hash has {} bytes, not {SHA256_LEN}",
                h.len()
            ));
        }
        Err(why) => return Verdict::Failed(why),
    };
    match copy {
        RemoteCheck::Hash(h) if h.len() != SHA256_LEN => Verdict::Failed(format!(
            "the remote hash has {} bytes, not {SHA256_LEN}",
            h.len()
        )),
        RemoteCheck::Hash(h) if h == local => Verdict::Same,
        RemoteCheck::Hash(_) | RemoteCheck::Missing => Verdict::Differs,
        RemoteCheck::Failed(why) => Verdict::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(files: &[(&str, u64)], problems: &[&str]) -> Listing {
        Listing {
            files: files
                .iter()
                .map(|(p, s)| Listed {
                    path: p.to_string(),
                    size: *s,
                })
                .collect(),
            problems: problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn the_listings_pair_into_one_place_per_file() {
        let p = pair(
            listing(
                &[("z-same", 5), ("a/here", 1), ("bigger", 9), ("same", 0)],
                &["x: denied"],
            ),
            listing(
                &[("same", 0), ("bigger", 8), ("copy-only", 3), ("z-same", 5)],
                &["the store said no"],
            ),
        )
        .unwrap();
        assert_eq!(
            p,
            Pairing {
                unlisted: vec!["x: denied".into(), "the store said no".into()],
                only_here: vec!["a/here".into()],
                only_on_copy: vec!["copy-only".into()],
                differs_by_size: vec!["bigger".into()],
                to_hash: vec!["same".into(), "z-same".into()],
            }
        );
    }

    #[test]
    fn two_empty_listings_pair_into_nothing() {
        let p = pair(Listing::default(), Listing::default()).unwrap();
        assert_eq!(p, Pairing::default());
    }

    #[test]
    fn unsafe_and_repeated_paths_are_refused() {
        for bad in ["../etc/passwd", "/etc/passwd", "a//b", "a/./b", ""] {
            let err = pair(listing(&[(bad, 1)], &[]), Listing::default()).unwrap_err();
            assert!(
                matches!(&err, CheckError::InvalidInput(m) if m.starts_with("local ") && m.contains("not a safe relative path")),
                "{bad}: {err:?}"
            );
            let err = pair(Listing::default(), listing(&[(bad, 1)], &[])).unwrap_err();
            assert!(
                matches!(&err, CheckError::InvalidInput(m) if m.starts_with("copy ")),
                "{bad}: {err:?}"
            );
        }
        let err = pair(Listing::default(), listing(&[("x", 1), ("x", 2)], &[])).unwrap_err();
        assert_eq!(
            err,
            CheckError::InvalidInput("copy \"x\" is listed twice".into())
        );
    }

    #[test]
    fn only_two_equal_hashes_are_the_same() {
        let h = |b: u8| vec![b; 32];
        assert_eq!(judge(Ok(h(1)), RemoteCheck::Hash(h(1))), Verdict::Same);
        assert_eq!(judge(Ok(h(1)), RemoteCheck::Hash(h(2))), Verdict::Differs);
        assert_eq!(judge(Ok(h(1)), RemoteCheck::Missing), Verdict::Differs);
        assert_eq!(
            judge(Ok(h(1)), RemoteCheck::Failed("timeout".into())),
            Verdict::Failed("timeout".into())
        );
        assert_eq!(
            judge(
                Err("/src/a: denied".into()),
                RemoteCheck::Failed("timeout".into())
            ),
            Verdict::Failed("/src/a: denied".into())
        );
        assert_eq!(
            judge(Err("/src/a: denied".into()), RemoteCheck::Hash(h(1))),
            Verdict::Failed("/src/a: denied".into())
        );
        assert_eq!(
            judge(Ok(vec![1; 31]), RemoteCheck::Hash(vec![1; 31])),
            Verdict::Failed("the local hash has 31 bytes, not 32".into())
        );
        assert_eq!(
            judge(Ok(h(1)), RemoteCheck::Hash(vec![1; 33])),
            Verdict::Failed("the remote hash has 33 bytes, not 32".into())
        );
    }
}
