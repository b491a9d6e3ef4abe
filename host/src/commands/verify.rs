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
use crate::remote;

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
    report("verdict", "poof is ready");
    Ok(Exit::Success)
}
