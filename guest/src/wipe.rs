//! The wipe policy: which local files `poof upload` may remove.
//!
//! The host backs a path up, then checks each of its files: it hashes the
//! local file and learns the SHA-256 of the remote copy (read back, or the
//! stored one when the user switched the stronger check off). Given those
//! facts, `plan` says which files may be wiped and why the others are kept.
//! Invariants:
//! - a file is wiped only when its local and remote SHA-256 are both known,
//!   both 32 bytes, and equal;
//! - nothing of a path whose backup did not complete is wiped;
//! - every path is checked (`paths::check`) before anything is planned, and a
//!   path given twice is refused, so a hostile input cannot steer the host
//!   outside its root or get a file wiped on another file's evidence;
//! - every input file is in exactly one of `wipe` and `keep`.

use std::collections::BTreeSet;

use crate::paths;

/// What the remote side says about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteCheck {
    /// The SHA-256 of the remote copy (read back, or stored with it).
    Hash(Vec<u8>),
    /// The remote holds no copy of the file.
    Missing,
    /// The remote copy could not be checked; the host's reason.
    Failed(String),
}

/// One local file, checked against its remote copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Path relative to the configured folder.
    pub path: String,
    /// The local file's SHA-256, or why it could not be read.
    pub local: Result<Vec<u8>, String>,
    /// What the remote side says.
    pub remote: RemoteCheck,
}

/// The facts for one configured path.
#[derive(Debug, Clone)]
pub struct Input {
    /// True when the backup of this path ran in full, without any error.
    pub sync_complete: bool,
    /// Every local file of the path, checked.
    pub files: Vec<Checked>,
}

/// A file that must stay, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// Path relative to the configured folder.
    pub path: String,
    /// Why it is kept, in words.
    pub reason: String,
}

/// What may be wiped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Files whose remote copy was proved equal: they may be removed.
    pub wipe: Vec<String>,
    /// Files that must stay, with the reason.
    pub keep: Vec<Kept>,
}

/// Why an input was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WipeError {
    /// The input breaks the contract (an unsafe or repeated path).
    InvalidInput(String),
}

/// Length of a SHA-256 digest.
const SHA256_LEN: usize = 32;

/// Decides which of the checked files may be wiped.
pub fn plan(input: Input) -> Result<Plan, WipeError> {
    let mut seen = BTreeSet::new();
    for f in &input.files {
        if let Err(why) = paths::check(&f.path) {
            return Err(WipeError::InvalidInput(format!(
                "{:?} is not a safe relative path: {why}",
                f.path
            )));
        }
        if !seen.insert(f.path.as_str()) {
            return Err(WipeError::InvalidInput(format!(
                "{:?} is listed twice",
                f.path
            )));
        }
    }
    let mut out = Plan::default();
    for f in input.files {
        match verdict(&f, input.sync_complete) {
            None => out.wipe.push(f.path),
            Some(reason) => out.keep.push(Kept {
                path: f.path,
                reason,
            }),
        }
    }
    out.wipe.sort();
    out.keep.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// `None` when the file may be wiped; otherwise why it must stay.
fn verdict(f: &Checked, sync_complete: bool) -> Option<String> {
    if !sync_complete {
        return Some("the backup of this folder did not complete".into());
    }
    let local = match &f.local {
        Ok(h) if h.len() == SHA256_LEN => h,
        Ok(h) => {
            return Some(format!(
                "the local hash has {} bytes, not {SHA256_LEN}",
                h.len()
            ));
        }
        Err(why) => return Some(format!("the local file could not be read: {why}")),
    };
    match &f.remote {
        RemoteCheck::Hash(h) if h.len() != SHA256_LEN => Some(format!(
            "the remote hash has {} bytes, not {SHA256_LEN}",
            h.len()
        )),
        RemoteCheck::Hash(h) if h == local => None,
        RemoteCheck::Hash(_) => Some(
            "the remote copy differs from the local file (it changed after the backup, or the copy is damaged)"
                .into(),
        ),
        RemoteCheck::Missing => Some("the remote holds no copy of it".into()),
        RemoteCheck::Failed(why) => Some(format!("the remote copy could not be checked: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, local: Result<[u8; 32], &str>, remote: RemoteCheck) -> Checked {
        Checked {
            path: path.into(),
            local: local.map(|h| h.to_vec()).map_err(str::to_string),
            remote,
        }
    }

    fn h(b: u8) -> Vec<u8> {
        vec![b; 32]
    }

    #[test]
    fn only_files_with_matching_hashes_are_wiped() {
        let p = plan(Input {
            sync_complete: true,
            files: vec![
                file("same", Ok([1; 32]), RemoteCheck::Hash(h(1))),
                file("differs", Ok([1; 32]), RemoteCheck::Hash(h(2))),
                file("gone", Ok([1; 32]), RemoteCheck::Missing),
                file("error", Ok([1; 32]), RemoteCheck::Failed("timeout".into())),
                file("unreadable", Err("denied"), RemoteCheck::Hash(h(1))),
                file("short", Ok([1; 32]), RemoteCheck::Hash(vec![1; 31])),
                file("a/b/also-same", Ok([3; 32]), RemoteCheck::Hash(h(3))),
            ],
        })
        .unwrap();
        assert_eq!(p.wipe, ["a/b/also-same", "same"]);
        let kept: Vec<(&str, &str)> = p
            .keep
            .iter()
            .map(|k| (k.path.as_str(), k.reason.as_str()))
            .collect();
        assert_eq!(kept.len(), 5);
        assert!(kept.contains(&(
            "differs",
            "the remote copy differs from the local file (it changed after the backup, or the copy is damaged)"
        )));
        assert!(kept.contains(&("gone", "the remote holds no copy of it")));
        assert!(kept.contains(&("error", "the remote copy could not be checked: timeout")));
        assert!(kept.contains(&("unreadable", "the local file could not be read: denied")));
        assert!(kept.contains(&("short", "the remote hash has 31 bytes, not 32")));
    }

    #[test]
    fn nothing_is_wiped_after_an_incomplete_backup() {
        let p = plan(Input {
            sync_complete: false,
            files: vec![file("same", Ok([1; 32]), RemoteCheck::Hash(h(1)))],
        })
        .unwrap();
        assert!(p.wipe.is_empty());
        assert_eq!(
            p.keep[0].reason,
            "the backup of this folder did not complete"
        );
    }

    #[test]
    fn hostile_paths_and_duplicates_are_refused() {
        for bad in ["../etc/passwd", "/etc/passwd", "a/./b", "a//b", ""] {
            let err = plan(Input {
                sync_complete: true,
                files: vec![file(bad, Ok([1; 32]), RemoteCheck::Hash(h(1)))],
            })
            .unwrap_err();
            assert!(
                matches!(&err, WipeError::InvalidInput(m) if m.contains("not a safe relative path")),
                "{bad}: {err:?}"
            );
        }
        let err = plan(Input {
            sync_complete: true,
            files: vec![
                file("x", Ok([1; 32]), RemoteCheck::Hash(h(1))),
                file("x", Ok([2; 32]), RemoteCheck::Hash(h(2))),
            ],
        })
        .unwrap_err();
        assert_eq!(err, WipeError::InvalidInput("\"x\" is listed twice".into()));
    }

    #[test]
    fn an_empty_input_wipes_nothing() {
        let p = plan(Input {
            sync_complete: true,
            files: vec![],
        })
        .unwrap();
        assert_eq!(p, Plan::default());
    }
}
