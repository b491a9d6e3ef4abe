//! The wipe policy: which local files, symbolic links and emptied folders
//! `poof upload` may remove.
//!
//! The host backs a path up, then checks each of its files: it hashes the
//! local file, learns the SHA-256 of the remote copy (read back, or the
//! stored one when the user switched the stronger check off), and names the
//! folders on the files' paths that are symbolic links. Given those facts,
//! `plan` says which files may be wiped and why the others are kept, which
//! links go, and which folders may be removed once emptied.
//! Invariants:
//! - a file is wiped only when its local and remote SHA-256 are both known,
//!   both 32 bytes, and equal;
//! - nothing of a path whose backup did not complete is wiped;
//! - a file behind a link is never wiped itself: the link goes instead (the
//!   link only), and only when every file behind it may go; otherwise every
//!   file behind it is kept, and the reason names the link;
//! - the folders listed are the ancestors of the files wiped and the links
//!   removed, deepest first, never the configured folder itself; folders
//!   that held no such file (empty before, or only behind a link) are never
//!   listed;
//! - every path and link is checked (`paths::check`) before anything is
//!   planned, and one given twice is refused (as is a link that is a file or
//!   lies behind another link), so a hostile input cannot steer the host
//!   outside its root or get a file wiped on another file's evidence;
//! - every input file is in exactly one of `wipe`, `keep` and a link's files.

use std::collections::{BTreeMap, BTreeSet};

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
    /// The folders on the files' paths that are symbolic links.
    pub links: Vec<String>,
}

/// A file that must stay, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// Path relative to the configured folder.
    pub path: String,
    /// Why it is kept, in words.
    pub reason: String,
}

/// A symbolic link that may be removed (the link only), with the files the
/// backup went through it for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRemoval {
    /// The link, relative to the configured folder.
    pub link: String,
    /// The files behind it, every one proved equal to its remote copy.
    pub files: Vec<String>,
}

/// What may be wiped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Files whose remote copy was proved equal, on no link: they may be removed.
    pub wipe: Vec<String>,
    /// Files that must stay, with the reason.
    pub keep: Vec<Kept>,
    /// Links that may be removed, because every file behind them may go.
    pub links: Vec<LinkRemoval>,
    /// Folders that may be removed once emptied, deepest first.
    pub folders: Vec<String>,
}

/// Why an input was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WipeError {
    /// The input breaks the contract (an unsafe or repeated path).
    InvalidInput(String),
}

/// Length of a SHA-256 digest.
const SHA256_LEN: usize = 32;

/// Decides which of the checked files, links and folders may be wiped.
pub fn plan(input: Input) -> Result<Plan, WipeError> {
    let mut seen = BTreeSet::new();
    for f in &input.files {
        check_path(&f.path)?;
        if !seen.insert(f.path.as_str()) {
            return Err(WipeError::InvalidInput(format!(
                "{:?} is listed twice",
                f.path
            )));
        }
    }
    let mut links = BTreeSet::new();
    for l in &input.links {
        check_path(l)?;
        if !links.insert(l.as_str()) {
            return Err(WipeError::InvalidInput(format!(
                "the symbolic link {l:?} is listed twice"
            )));
        }
        if seen.contains(l.as_str()) {
            return Err(WipeError::InvalidInput(format!(
                "{l:?} is listed both as a file and as a symbolic link on a file's path"
            )));
        }
    }
    for l in &links {
        if let Some(outer) = paths::ancestors(l).find(|a| links.contains(a)) {
            return Err(WipeError::InvalidInput(format!(
                "the symbolic link {l:?} lies behind the symbolic link {outer:?}, \
                 which a walk that never follows a link cannot see"
            )));
        }
    }

    let mut out = Plan::default();
    // Files behind each link, with their own verdict, in path order.
    let mut behind: BTreeMap<&str, Vec<(String, Option<String>)>> = BTreeMap::new();
    let mut files = input.files;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for f in files {
        let reason = verdict(&f, input.sync_complete);
        let link = paths::ancestors(&f.path).find_map(|a| links.get(a).copied());
        if let Some(link) = link {
            behind.entry(link).or_default().push((f.path, reason));
            continue;
        }
        match reason {
            None => out.wipe.push(f.path),
            Some(reason) => out.keep.push(Kept {
                path: f.path,
                reason,
            }),
        }
    }
    for (link, files) in behind {
        let Some(first_kept) = files
            .iter()
            .find(|(_, r)| r.is_some())
            .map(|(p, _)| p.clone())
        else {
            out.links.push(LinkRemoval {
                link: link.to_string(),
                files: files.into_iter().map(|(p, _)| p).collect(),
            });
            continue;
        };
        for (path, reason) in files {
            let reason = reason.unwrap_or_else(|| {
                format!(
                    "it is behind the symbolic link {link}, which stays because {first_kept} behind it was not verified"
                )
            });
            out.keep.push(Kept { path, reason });
        }
    }
    out.keep.sort_by(|a, b| a.path.cmp(&b.path));
    out.folders = emptied_folders(&out);
    Ok(out)
}

/// Fails unless `path` is a safe relative path.
fn check_path(path: &str) -> Result<(), WipeError> {
    paths::check(path).map_err(|why| {
        WipeError::InvalidInput(format!("{path:?} is not a safe relative path: {why}"))
    })
}

/// The folders above the files wiped and the links removed, deepest first
/// (then in path order); the configured folder itself is no ancestor.
fn emptied_folders(plan: &Plan) -> Vec<String> {
    let removed = plan
        .wipe
        .iter()
        .map(String::as_str)
        .chain(plan.links.iter().map(|l| l.link.as_str()));
    let mut folders: BTreeSet<&str> = BTreeSet::new();
    for path in removed {
        folders.extend(paths::ancestors(path));
    }
    let mut folders: Vec<String> = folders.into_iter().map(str::to_string).collect();
    folders.sort_by(|a, b| {
        b.matches('/')
            .count()
            .cmp(&a.matches('/').count())
            .then_with(|| a.cmp(b))
    });
    folders
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
            links: vec![],
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
            links: vec![],
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
                links: vec![],
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
            links: vec![],
        })
        .unwrap_err();
        assert_eq!(err, WipeError::InvalidInput("\"x\" is listed twice".into()));
    }

    #[test]
    fn an_empty_input_wipes_nothing() {
        let p = plan(Input {
            sync_complete: true,
            files: vec![],
            links: vec![],
        })
        .unwrap();
        assert_eq!(p, Plan::default());
    }

    fn same(path: &str) -> Checked {
        file(path, Ok([1; 32]), RemoteCheck::Hash(h(1)))
    }

    fn with_links(files: Vec<Checked>, links: &[&str]) -> Result<Plan, WipeError> {
        plan(Input {
            sync_complete: true,
            files,
            links: links.iter().map(|l| l.to_string()).collect(),
        })
    }

    #[test]
    fn a_link_goes_when_every_file_behind_it_is_verified() {
        let p = with_links(
            vec![same("d/l/b"), same("d/l/a/x"), same("top"), same("d/m")],
            &["d/l"],
        )
        .unwrap();
        assert_eq!(p.wipe, ["d/m", "top"]);
        assert!(p.keep.is_empty(), "{:?}", p.keep);
        assert_eq!(
            p.links,
            [LinkRemoval {
                link: "d/l".into(),
                files: vec!["d/l/a/x".into(), "d/l/b".into()],
            }]
        );
        // The folders above the link, never the link itself or what is behind it.
        assert_eq!(p.folders, ["d"]);
    }

    #[test]
    fn a_link_with_one_file_kept_stays_with_every_file_behind_it() {
        let p = with_links(
            vec![
                same("l/a"),
                file("l/b", Ok([1; 32]), RemoteCheck::Missing),
                file("l/c", Ok([1; 32]), RemoteCheck::Hash(h(2))),
                same("other/f"),
            ],
            &["l"],
        )
        .unwrap();
        assert_eq!(p.wipe, ["other/f"]);
        assert!(p.links.is_empty());
        let kept: Vec<(&str, &str)> = p
            .keep
            .iter()
            .map(|k| (k.path.as_str(), k.reason.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                (
                    "l/a",
                    "it is behind the symbolic link l, which stays because l/b behind it was not verified"
                ),
                ("l/b", "the remote holds no copy of it"),
                (
                    "l/c",
                    "the remote copy differs from the local file (it changed after the backup, or the copy is damaged)"
                ),
            ]
        );
        assert_eq!(p.folders, ["other"]);
    }

    #[test]
    fn folders_are_listed_deepest_first_and_never_the_root() {
        let p = with_links(
            vec![
                same("a/b/c/f"),
                same("a/x"),
                same("z/y/g"),
                same("top"),
                same("k/l/f"),
                file("kept/f", Err("denied"), RemoteCheck::Hash(h(1))),
            ],
            &["k/l"],
        )
        .unwrap();
        assert_eq!(p.folders, ["a/b/c", "a/b", "z/y", "a", "k", "z"]);
        assert!(!p.folders.iter().any(|f| f.is_empty() || f == "kept"));
        // Every input file is in exactly one place.
        let placed =
            p.wipe.len() + p.keep.len() + p.links.iter().map(|l| l.files.len()).sum::<usize>();
        assert_eq!(placed, 6);
    }

    #[test]
    fn nothing_behind_a_link_goes_after_an_incomplete_backup() {
        let p = plan(Input {
            sync_complete: false,
            files: vec![same("l/f")],
            links: vec!["l".into()],
        })
        .unwrap();
        assert!(p.links.is_empty() && p.wipe.is_empty() && p.folders.is_empty());
        assert_eq!(
            p.keep[0].reason,
            "the backup of this folder did not complete"
        );
    }

    #[test]
    fn unsafe_repeated_or_impossible_links_are_refused() {
        for bad in ["../out", "/etc", "a//b", "a/./b", ""] {
            let err = with_links(vec![same("a/f")], &[bad]).unwrap_err();
            assert!(
                matches!(&err, WipeError::InvalidInput(m) if m.contains("not a safe relative path")),
                "{bad}: {err:?}"
            );
        }
        let err = with_links(vec![same("l/f")], &["l", "l"]).unwrap_err();
        assert_eq!(
            err,
            WipeError::InvalidInput("the symbolic link \"l\" is listed twice".into())
        );
        let err = with_links(vec![same("l")], &["l"]).unwrap_err();
        assert!(
            matches!(&err, WipeError::InvalidInput(m) if m.contains("both as a file")),
            "{err:?}"
        );
        let err = with_links(vec![same("l/m/f")], &["l/m", "l"]).unwrap_err();
        assert!(
            matches!(&err, WipeError::InvalidInput(m) if m.contains("lies behind the symbolic link \"l\"")),
            "{err:?}"
        );
    }

    #[test]
    fn a_link_with_no_file_behind_it_is_left_alone() {
        let p = with_links(vec![same("f")], &["unused"]).unwrap();
        assert_eq!(p.wipe, ["f"]);
        assert!(p.links.is_empty() && p.folders.is_empty());
    }
}
