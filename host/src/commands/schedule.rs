//! `poof schedule install|remove|status`, and poof 1.x's `lconfig` and
//! `lpurge`: an unattended `poof backup` (see `crate::schedule`).

use anyhow::Result;

use super::Context;
use crate::cli::{ScheduleCommand, ScheduleInstallArgs, ScheduleKindArgs};
use crate::config::PoofConf;
use crate::crypt::keys;
use crate::exit::{ConfigError, Exit};
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
/// locate this config, name the AWS profile and give the passphrase's
/// source, running `backup`.
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
    if let Some(profile) = &l.profile {
        args.extend(["--profile".to_string(), profile.clone()]);
    }
    args.extend(passphrase_source(ctx)?);
    args.extend(schedule::log_flags(&l.logfile()));
    args.push("backup".into());
    Ok(Job { bin, args, every })
}

/// The flags that give a scheduled run its passphrase: `--passphrase-file`
/// with an absolute path (from the flag, else from `POOF_PASSPHRASE_FILE`),
/// or `--passphrase-command`; never the passphrase itself. A scheduled run
/// has no terminal to ask on, so an encrypted config without a source is
/// refused (exit 2) rather than given a job that fails every time. Warns
/// when the file can be read by other users.
fn passphrase_source(ctx: &Context) -> Result<Vec<String>> {
    let l = &ctx.locations;
    // The order every run reads them in (`keys::existing`); the two flags
    // exclude each other.
    if let Some(cmd) = l
        .passphrase_command
        .as_ref()
        .filter(|_| l.passphrase_file.is_none())
    {
        return Ok(vec!["--passphrase-command".into(), cmd.clone()]);
    }
    if let Some(file) = l
        .passphrase_file
        .as_ref()
        .or(l.passphrase_env_file.as_ref())
    {
        let abs = std::path::absolute(file)
            .map_err(|e| ConfigError(format!("{}: {e}", file.display())))?;
        if !abs.is_file() {
            return Err(ConfigError(format!(
                "{}: no such file; a scheduled run would find no passphrase in it",
                abs.display()
            ))
            .into());
        }
        if let Some(w) = keys::exposed(&abs) {
            ctx.out.warn(&w);
        }
        return Ok(vec!["--passphrase-file".into(), abs.display().to_string()]);
    }
    let conf = match PoofConf::load(&l.poofconf) {
        Ok(c) => c,
        // No config yet: the scheduled run will say so, as it would have.
        Err(_) if !l.poofconf.exists() => return Ok(vec![]),
        Err(e) => return Err(e.into()),
    };
    if conf.encrypted {
        return Err(ConfigError(format!(
            "{} says \"encrypted\": true, and a scheduled run has no terminal to ask for the \
             passphrase on: pass --passphrase-file FILE or --passphrase-command CMD (or set {}) \
             to `poof schedule install`, which writes that source into the job (never the \
             passphrase itself; {} is not written there)",
            conf.file.display(),
            keys::ENV_FILE,
            keys::ENV
        ))
        .into());
    }
    Ok(vec![])
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
        "poof backup runs every {} ({}); it logs to {}",
        schedule::human_every(a.every),
        kind.name(),
        log_words(ctx)
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
    ctx.out.line(&format!("log      {}", log_words(ctx)));
    Ok(Exit::Success)
}

/// Where scheduled runs log, and how the file is rotated.
fn log_words(ctx: &Context) -> String {
    format!(
        "{} (time-stamped; rotated at {}B, the {} before kept as poof.log.1 to poof.log.{})",
        ctx.locations.logfile().display(),
        schedule::LOG_MAX_SIZE,
        schedule::LOG_MAX_BACKUPS,
        schedule::LOG_MAX_BACKUPS
    )
}
