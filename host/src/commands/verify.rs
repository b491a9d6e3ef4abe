//! `poof verify`: check the configuration and the remote, and say in words
//! what is wrong. It changes nothing.
//!
//! It checks what poof 1.x checked (the config files exist and parse, at
//! least one path besides poof's own config folder, no placeholder values:
//! the scaffold's placeholder path is refused until replaced) and then the
//! live things: the credentials work and the bucket (or folder) is
//! reachable. With `--create-bucket` it first creates a missing bucket (the
//! one change it makes), and says whether it did. It also says what would undo a bad backup: poof keeps one
//! copy, not a history, so a backup of files ransomware rewrote replaces it
//! unless the bucket keeps earlier versions; it recommends turning bucket
//! versioning on where it is off. That report never fails the run.

use anyhow::Result;

use super::Context;
use crate::cli::VerifyArgs;
use crate::config::{PoofConf, RemoteSpec};
use crate::exit::{ConfigError, Exit};
use crate::remote::{self, Remote};
use crate::store::{Setting, Store};

/// One line of the report on what protects the copy.
struct Finding {
    /// `versioning` or `object lock`.
    what: &'static str,
    /// For `--json`: `on`, `suspended`, `off`, `not-offered`, `unknown` or
    /// `not-applicable`.
    state: &'static str,
    /// In words.
    words: String,
    /// What to do about it, when something should be done.
    advice: Option<String>,
}

/// Versioning and Object Lock, as the store reports them, with a
/// recommendation wherever a bad backup could not be undone.
fn protection(store: &dyn Store) -> [Finding; 2] {
    const ONLY_COPY: &str = "a backup that overwrites or deletes a file replaces the only \
                             copy, so a bad one (files rewritten by ransomware) cannot be undone";
    let Some(p) = store.protection() else {
        let words = format!("does not apply to {}: {ONLY_COPY}", store.describe());
        return [
            Finding {
                what: "versioning",
                state: "not-applicable",
                words,
                advice: Some(
                    "keep another copy of what matters (a second disk, or a file system \
                     with snapshots such as btrfs or ZFS)"
                        .into(),
                ),
            },
            Finding {
                what: "object lock",
                state: "not-applicable",
                words: format!("does not apply to {}", store.describe()),
                advice: None,
            },
        ];
    };
    let turn_on = format!(
        "turn it on with `{}` (or in the provider's console), and add a lifecycle rule \
         that removes noncurrent versions after some days so that they do not pile up",
        p.enable_versioning
    );
    let versioning = match p.versioning {
        Setting::On(_) => Finding {
            what: "versioning",
            state: "on",
            words: "on: an overwritten or deleted object keeps its earlier versions, \
                    so a bad backup can be undone"
                .into(),
            advice: None,
        },
        Setting::Suspended => Finding {
            what: "versioning",
            state: "suspended",
            words: format!("suspended: {ONLY_COPY}"),
            advice: Some(turn_on),
        },
        Setting::Off => Finding {
            what: "versioning",
            state: "off",
            words: format!("off: {ONLY_COPY}"),
            // Garage answers "never turned on" and refuses to turn it on.
            advice: Some(format!(
                "{turn_on}; a store that does not offer versioning (Garage reads as off \
                 but refuses to turn it on) needs another copy elsewhere instead"
            )),
        },
        Setting::NotOffered => Finding {
            what: "versioning",
            state: "not-offered",
            words: format!("not offered by this server: {ONLY_COPY}"),
            advice: Some(
                "keep another copy of what matters elsewhere (another bucket or disk)".into(),
            ),
        },
        Setting::Unknown(why) => Finding {
            what: "versioning",
            state: "unknown",
            words: format!("unknown: {why}"),
            advice: Some(format!(
                "check it in the provider's console; if it is off, {turn_on}"
            )),
        },
    };
    let (state, words) = match p.object_lock {
        Setting::On(how) => ("on", format!("on ({how})")),
        Setting::Suspended => ("suspended", "suspended".into()),
        Setting::Off => ("off", "off".into()),
        Setting::NotOffered => ("not-offered", "not offered by this server".into()),
        Setting::Unknown(why) => ("unknown", format!("unknown: {why}")),
    };
    let object_lock = Finding {
        what: "object lock",
        state,
        words,
        advice: None,
    };
    [versioning, object_lock]
}

/// Whether encryption is on, which key it uses, and whether the passphrase
/// opens it (checked when a passphrase can be had: a file, the environment,
/// or a terminal to ask on).
fn encryption(ctx: &Context, conf: &PoofConf, remote: &dyn Remote) -> Result<String> {
    use crate::crypt::{Crypt, keys};
    use std::io::IsTerminal;
    if let Some((legacy, _)) = crate::remote::open_legacy(conf, &ctx.locations, ctx.pool)? {
        let mut words = format!(
            "poof 1.x's rclone crypt ({}): its passwords reveal and its keys derive; poof reads \
             it (download, check) and does not write it: `poof migrate` moves it to poof's own format",
            legacy.describe()
        );
        for p in &conf.paths {
            let listing = legacy.list(&p.cloud)?;
            words += &format!(
                "; {}: {} files readable, {} objects skipped",
                p.cloud,
                listing.entries.len(),
                listing.skipped.len() + listing.problems.len()
            );
        }
        return Ok(words);
    }
    let found = keys::find(ctx.pool, &ctx.locations, remote)?;
    if !conf.encrypted {
        return Ok(match found {
            Some(_) => "off (plain layout); a key exists: `poof cryptoggle` turns it on".into(),
            None => "off (plain layout); `poof econfig` then `poof cryptoggle` turn it on".into(),
        });
    }
    let Some((wrapped, source)) = found else {
        return Err(ConfigError(format!(
            "{} says \"encrypted\": true, but there is no key here or in {}; run `poof econfig`",
            conf.file.display(),
            remote.describe()
        ))
        .into());
    };
    let src = keys::existing(&ctx.locations);
    if !src.non_interactive() && !std::io::stdin().is_terminal() {
        let id = keys::key_id(ctx.pool, &wrapped, &source)?;
        return Ok(format!(
            "on (key id {id}, from {source}); the passphrase was not checked: pass \
             --passphrase-file or --passphrase-command, or set POOF_PASSPHRASE_FILE or {}, to check it",
            keys::ENV
        ));
    }
    let crypt = Crypt::unlock(ctx.pool, wrapped, keys::passphrase(src)?, &source)?;
    Ok(format!(
        "on (key id {}, from {source}); the passphrase opens the key",
        crypt.key_id()
    ))
}

/// Runs `poof verify`.
pub fn run(ctx: &mut Context, args: &VerifyArgs) -> Result<Exit> {
    let conf = PoofConf::load(&ctx.locations.poofconf)?;
    let report = |what: &str, verdict: &str| {
        ctx.out.line(&format!("{what:14} {verdict}"));
        ctx.out
            .event(serde_json::json!({"event": "check", "what": what, "result": verdict}));
    };
    report("poof.conf", &format!("{} is valid", conf.file.display()));
    let own = conf
        .paths
        .iter()
        .filter(|p| p.local == ctx.locations.confdir)
        .count();
    for p in &conf.paths {
        let state = if p.local.is_dir() {
            "exists"
        } else {
            "missing: it will be skipped"
        };
        report(
            "path",
            &format!("{} -> {} ({state})", p.local.display(), p.cloud),
        );
    }
    let placeholder = |p: &crate::config::SyncPath| {
        p.cloud.starts_with("BOGUS-")
            || p.local
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("BOGUS-"))
    };
    if let Some(p) = conf.paths.iter().find(|p| placeholder(p)) {
        return Err(ConfigError(format!(
            "{}: path {} -> {} is the scaffold's placeholder; replace it with a folder you want \
             to back up and its cloud folder name",
            conf.file.display(),
            p.local.display(),
            p.cloud
        ))
        .into());
    }
    if conf.paths.len() == own {
        return Err(ConfigError(format!(
            "{}: the only path is poof's own config folder (`poof config --with-config-folder` \
             puts it there); add the folders you want to back up",
            conf.file.display()
        ))
        .into());
    }
    if args.create_bucket && matches!(conf.remote, RemoteSpec::Folder(_)) {
        return Err(ConfigError(format!(
            "{}: the remote is a folder, and --create-bucket is for S3 buckets; create the folder \
             yourself (poof does not, so that a disk that is not mounted is never taken for an \
             empty remote)",
            conf.file.display()
        ))
        .into());
    }
    let remote = remote::open(&conf, &ctx.locations)?;
    if args.create_bucket {
        report("bucket", &remote.store().create()?);
    }
    for line in remote.verify()? {
        report("remote", &line);
    }
    for f in protection(remote.store()) {
        ctx.out.line(&format!("{:14} {}", f.what, f.words));
        if let Some(advice) = &f.advice {
            ctx.out.line(&format!("{:14} recommended: {advice}", ""));
        }
        ctx.out.event(serde_json::json!({
            "event": "check", "what": f.what, "result": f.words,
            "state": f.state, "advice": f.advice,
        }));
    }
    report("encryption", &encryption(ctx, &conf, remote.as_ref())?);
    report("verdict", "poof is ready");
    Ok(Exit::Success)
}
