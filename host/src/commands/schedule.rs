//! `poof schedule install|remove|status`, and poof 1.x's `lconfig` and
//! `lpurge`: an unattended `poof backup` (see `crate::schedule`).

use anyhow::Result;

use super::Context;
use crate::cli::{ScheduleCommand, ScheduleInstallArgs, ScheduleKindArgs};
use crate::exit::Exit;
use crate::schedule::{self, Job, Kind};

/// Runs `poof schedule ...`.
pub fn run(ctx: &mut Context, cmd: &ScheduleCommand) -> Result<Exit> {
    match cmd {
        ScheduleCommand::Install(a) => install(ctx, a),
        ScheduleCommand::Remove(a) => remove(ctx, a),
        ScheduleCommand::Status(a) => status(ctx, a),
    }
}

/// The job a scheduled run executes: this binary, with the flags that
/// locate this config, running `backup`.
fn job(ctx: &Context, every: schedule::Every) -> Result<Job> {
    let l = &ctx.locations;
    let bin = std::env::current_exe()?;
    let mut args = Vec::new();
    if l.portable {
        args.push("--portable".to_string());
    }
    args.extend(["--confdir".to_string(), l.confdir.display().to_string()]);
    if l.poofconf != l.confdir.join("poof.conf") {
        args.extend(["--poofconf".to_string(), l.poofconf.display().to_string()]);
    }
    if l.cloudconf_from_flag {
        args.extend(["--cloudconf".to_string(), l.cloudconf.display().to_string()]);
    }
    args.push("backup".into());
    Ok(Job {
        bin,
        args,
        log: l.logfile(),
        every,
    })
}

/// Runs `poof schedule install` (and `lconfig`).
pub fn install(ctx: &mut Context, a: &ScheduleInstallArgs) -> Result<Exit> {
    let kind = a.kind.unwrap_or_else(Kind::default_here);
    let done = schedule::install(kind, &job(ctx, a.every)?, a.dry_run)?;
    for w in &done.warnings {
        ctx.out.warn(w);
    }
    for d in &done.did {
        ctx.out.line(d);
    }
    ctx.out.line(&format!(
        "poof backup runs every {} ({}); its output goes to {}",
        schedule::human_every(a.every),
        kind.name(),
        ctx.locations.logfile().display()
    ));
    ctx.out.event(serde_json::json!({
        "event": "schedule", "kind": kind.name(), "every_seconds": a.every.0,
        "log": ctx.locations.logfile(), "dry_run": a.dry_run, "warnings": done.warnings,
    }));
    Ok(Exit::Success)
}

fn kinds(k: Option<Kind>) -> Vec<Kind> {
    k.map_or_else(|| Kind::ALL.to_vec(), |k| vec![k])
}

/// Runs `poof schedule remove` (and `lpurge`).
pub fn remove(ctx: &mut Context, a: &ScheduleKindArgs) -> Result<Exit> {
    let mut any = false;
    for kind in kinds(a.kind) {
        let done = schedule::remove(kind, a.dry_run)?;
        for w in &done.warnings {
            ctx.out.warn(w);
        }
        for d in &done.did {
            any = true;
            ctx.out.line(d);
        }
    }
    if !any {
        ctx.out.line("no unattended run of poof is installed");
    }
    Ok(Exit::Success)
}

/// Runs `poof schedule status`.
pub fn status(ctx: &mut Context, a: &ScheduleKindArgs) -> Result<Exit> {
    for kind in kinds(a.kind) {
        let st = schedule::status(kind)?;
        let text = st.as_deref().unwrap_or("not installed");
        ctx.out.line(&format!("{:8} {text}", kind.name()));
        ctx.out.event(serde_json::json!({
            "event": "schedule", "kind": kind.name(), "installed": st.is_some(), "detail": st,
        }));
    }
    ctx.out
        .line(&format!("log      {}", ctx.locations.logfile().display()));
    Ok(Exit::Success)
}
