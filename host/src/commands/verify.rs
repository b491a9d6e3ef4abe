//! `poof verify`: check the configuration and the remote, and say in words
//! what is wrong. It changes nothing.
//!
//! It checks what poof 1.x checked (the config files exist and parse, at
//! least one path besides poof's own config folder, no placeholder values)
//! and then the live things: the credentials work and the bucket (or folder)
//! is reachable.

use anyhow::Result;

use super::Context;
use crate::config::PoofConf;
use crate::exit::{ConfigError, Exit};
use crate::remote::{self, Remote};

/// Whether encryption is on, which key it uses, and whether the passphrase
/// opens it (checked when a passphrase can be had: a file, the environment,
/// or a terminal to ask on).
fn encryption(ctx: &Context, conf: &PoofConf, remote: &dyn Remote) -> Result<String> {
    use crate::crypt::{Crypt, keys};
    use std::io::IsTerminal;
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
            "on (key id {id}, from {source}); the passphrase was not checked: set {} or pass --passphrase-file to check it",
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
pub fn run(ctx: &mut Context) -> Result<Exit> {
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
    if conf.paths.len() == own {
        return Err(ConfigError(format!(
            "{}: the only path is poof's own config folder (the scaffold's); add the folders you want to back up",
            conf.file.display()
        ))
        .into());
    }
    let remote = remote::open(&conf, &ctx.locations)?;
    for line in remote.verify()? {
        report("remote", &line);
    }
    report("encryption", &encryption(ctx, &conf, remote.as_ref())?);
    report("verdict", "poof is ready");
    Ok(Exit::Success)
}
