//! `poof paths`: every file and folder poof may create on this machine, so
//! that a user (or an auditor) knows what `neuter` has to remove.

use anyhow::Result;

use super::Context;
use crate::exit::Exit;

/// Runs `poof paths`.
pub fn run(ctx: &mut Context) -> Result<Exit> {
    let l = &ctx.locations;
    let mut rows = vec![("config folder", l.confdir.clone())];
    rows.extend(l.own_files());
    if let Some(d) = crate::schedule::systemd_dir() {
        rows.push(("systemd user service", d.join("poof.service")));
        rows.push(("systemd user timer", d.join("poof.timer")));
        rows.push((
            "systemd timer link",
            d.join("timers.target.wants/poof.timer"),
        ));
    }
    if let Some(p) = crate::schedule::launchd_path() {
        rows.push(("launchd agent (macOS)", p));
    }
    rows.push((
        "crontab entry (between poof's markers)",
        std::path::PathBuf::from("crontab -l"),
    ));
    if let Ok(exe) = std::env::current_exe() {
        rows.push(("the poof binary", exe));
    }
    if l.portable {
        rows.push(("portable mode: state kept in", l.confdir.clone()));
    }
    if ctx.out.json {
        for (what, path) in &rows {
            ctx.out
                .event(serde_json::json!({"event": "path", "what": what, "path": path}));
        }
    } else {
        for (what, path) in &rows {
            crate::outln!("{what:40} {}", path.display());
        }
    }
    Ok(Exit::Success)
}
