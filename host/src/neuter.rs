//! Neuter: poof removes itself from the machine (threat level 4).
//!
//! What goes: the schedule entries poof installed (every kind), then poof's
//! own files in its config folder (`poof.conf`, the cloud config file, the
//! run lock, the log and the status file), the config folder itself once it
//! is empty, and the running binary (unless `--keep-binary`).
//!
//! Invariants:
//! - only files poof knows by name are removed, never through a link (a link
//!   is removed itself); anything else found in the config folder is left
//!   and named, so a `--confdir` pointing at the wrong folder loses nothing;
//! - a cloud config file outside the config folder is left and named: it may
//!   be shared with rclone;
//! - in portable mode nothing on the stick is removed (the binary, its
//!   `poof.conf` and the rest stay there, and are named); only what poof put
//!   on the host goes;
//! - after an upload that ended partially (recorded in `poof.status`), neuter
//!   refuses unless `--yes`: the config is what restores the files left.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use crate::config::Locations;
use crate::exit::Refused;
use crate::output::Output;
use crate::schedule::{self, Kind};

/// How to neuter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep the binary.
    pub keep_binary: bool,
    /// Go ahead even after a partial upload.
    pub yes: bool,
    /// Say what would go, remove nothing.
    pub dry_run: bool,
}

/// What a neuter did.
#[derive(Debug, Default)]
pub struct Report {
    /// What was removed (or would be, on a dry run).
    pub removed: Vec<String>,
    /// What was left on purpose, with the reason.
    pub left: Vec<String>,
    /// What could not be removed, with the reason.
    pub failures: Vec<String>,
}

/// The last upload's outcome, as `upload` records it: its exit code.
pub fn last_upload_exit(locations: &Locations) -> Option<u64> {
    let text = fs::read_to_string(locations.statusfile()).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("exit")?.as_u64()
}

/// Records the outcome of an upload in `poof.status` (best effort).
pub fn record_upload(locations: &Locations, exit: u8) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let text = json!({"command": "upload", "exit": exit, "unix_time": now}).to_string();
    let _ = fs::write(locations.statusfile(), text + "\n");
}

/// poof's own files in the config folder, by what they are.
fn own_files(l: &Locations) -> Vec<(&'static str, PathBuf)> {
    l.own_files()
}

/// Why the local key must be kept, if it must: it is the only copy of the
/// key when the remote does not hold the same wrapped key (`.poof/key`),
/// and removing it would lose every encrypted backup.
fn key_must_stay(l: &Locations) -> Option<String> {
    let local = fs::read(l.keyfile()).ok()?;
    let stored = crate::config::PoofConf::load(&l.poofconf)
        .map_err(anyhow::Error::from)
        .and_then(|conf| crate::remote::open(&conf, l))
        .and_then(|remote| remote.read_reserved(crate::remote::RESERVED_KEY));
    match stored {
        Ok(Some(s)) if s == local => None,
        Ok(Some(_)) => {
            Some("the remote holds another wrapped key; run `poof econfig` to see which".into())
        }
        Ok(None) => {
            Some("the remote holds no copy of it; run `poof econfig` to store one there".into())
        }
        Err(e) => Some(format!("the remote's copy could not be checked ({e:#})")),
    }
}

/// Removes poof from this machine.
pub fn run(l: &Locations, opts: Options, out: &Output) -> Result<Report> {
    if !opts.yes
        && let Some(code) = last_upload_exit(l).filter(|c| *c != 0)
    {
        return Err(Refused(format!(
            "the last upload ended with exit code {code}: some files were not verified or wiped, and poof's config \
             ({}) is what restores them; fix the cause and run upload again, or pass --yes to neuter anyway",
            l.confdir.display()
        ))
        .into());
    }
    let mut r = Report::default();
    let (did, would) = if opts.dry_run {
        ("would remove", true)
    } else {
        ("removed", false)
    };
    for kind in Kind::ALL {
        match schedule::remove(kind, would) {
            Ok(done) => {
                r.removed.extend(done.did);
                for w in done.warnings {
                    out.warn(&w);
                }
            }
            Err(e) => r
                .failures
                .push(format!("the {} schedule entry: {e:#}", kind.name())),
        }
    }
    let exe = std::env::current_exe().ok();
    if l.portable {
        for (what, p) in own_files(l) {
            if fs::symlink_metadata(&p).is_ok() {
                r.left.push(format!(
                    "{} ({what}): on the portable stick; take the stick with you",
                    p.display()
                ));
            }
        }
        if let Some(exe) = &exe {
            r.left.push(format!(
                "{} (the poof binary): on the portable stick",
                exe.display()
            ));
        }
        return Ok(r);
    }
    let keep_key = key_must_stay(l);
    for (what, p) in own_files(l) {
        if p == l.keyfile()
            && let Some(why) = &keep_key
        {
            r.left.push(format!(
                "{} ({what}): kept, because {why}; without it and the passphrase the encrypted \
                 backups cannot be read",
                p.display()
            ));
            continue;
        }
        if p == l.cloudconf && !p.starts_with(&l.confdir) {
            if p.exists() {
                r.left.push(format!(
                    "{} (cloud config): outside poof's config folder, it may be shared with rclone; remove it yourself if it is poof's",
                    p.display()
                ));
            }
            continue;
        }
        remove_file(&p, what, did, would, &mut r);
    }
    match fs::read_dir(&l.confdir) {
        Ok(entries) => {
            let others: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            let others: Vec<PathBuf> = if would {
                // On a dry run poof's own files are still there.
                let own: Vec<PathBuf> = own_files(l).into_iter().map(|(_, p)| p).collect();
                others.into_iter().filter(|p| !own.contains(p)).collect()
            } else {
                others
            };
            if others.is_empty() {
                if !would && let Err(e) = fs::remove_dir(&l.confdir) {
                    r.failures.push(format!("{}: {e}", l.confdir.display()));
                } else {
                    r.removed
                        .push(format!("{did} {} (config folder)", l.confdir.display()));
                }
            } else {
                for o in others {
                    r.left.push(format!(
                        "{}: not one of poof's files; remove it yourself if you want it gone",
                        o.display()
                    ));
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => r.failures.push(format!("{}: {e}", l.confdir.display())),
    }
    match (&exe, opts.keep_binary) {
        (Some(exe), false) => remove_file(exe, "the poof binary", did, would, &mut r),
        (Some(exe), true) => r.left.push(format!(
            "{} (the poof binary): --keep-binary",
            exe.display()
        )),
        (None, false) => r
            .failures
            .push("cannot tell where the poof binary is; remove it yourself".into()),
        (None, true) => {}
    }
    Ok(r)
}

fn remove_file(p: &Path, what: &str, did: &str, would: bool, r: &mut Report) {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => r.left.push(format!(
            "{} ({what}) is a folder; poof removes only its own files",
            p.display()
        )),
        Ok(_) => {
            if would {
                r.removed.push(format!("{did} {} ({what})", p.display()));
                return;
            }
            match fs::remove_file(p) {
                Ok(()) => r.removed.push(format!("{did} {} ({what})", p.display())),
                Err(e) => r
                    .failures
                    .push(format!("{} ({what}): {e}; remove it yourself", p.display())),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => r.failures.push(format!("{} ({what}): {e}", p.display())),
    }
}

/// Prints a report; returns true when everything went.
pub fn print(r: &Report, out: &Output) -> bool {
    for line in &r.removed {
        out.line(line);
        out.event(json!({"event": "neuter", "done": line}));
    }
    for line in &r.left {
        out.line(&format!("left {line}"));
        out.event(json!({"event": "neuter", "left": line}));
    }
    for f in &r.failures {
        out.error(&format!("could not remove {f}"));
    }
    r.failures.is_empty()
}
