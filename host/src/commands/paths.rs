//! `poof paths`: every file and folder poof may create on this machine, so
//! that a user (or an auditor) knows what `neuter` has to remove.

use anyhow::Result;

use super::Context;
use crate::exit::Exit;

/// Runs `poof paths`.
pub fn run(ctx: &mut Context) -> Result<Exit> {
    let l = &ctx.locations;
    let rows = [
        ("config folder", l.confdir.clone()),
        ("poof.conf", l.poofconf.clone()),
        ("cloud config (rclone-poof.conf)", l.cloudconf.clone()),
        ("run lock", l.poofconf.with_extension("lock")),
    ];
    if ctx.out.json {
        for (what, path) in &rows {
            ctx.out
                .event(serde_json::json!({"event": "path", "what": what, "path": path}));
        }
    } else {
        for (what, path) in &rows {
            println!("{what:32} {}", path.display());
        }
    }
    Ok(Exit::Success)
}
