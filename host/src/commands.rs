//! One module per subcommand; each turns its arguments into actions.

pub mod backup;
pub mod check;
pub mod config;
pub mod cryptoggle;
pub mod docs;
pub mod download;
pub mod econfig;
pub mod guest;
pub mod ls;
pub mod migrate;
pub mod neuter;
pub mod paths;
pub mod schedule;
pub mod upload;
pub mod verify;
pub mod version;

use crate::config::Locations;
use crate::engine::Guest;
use crate::engine::pool::Pool;
use crate::output::Output;

/// What every command gets: the embedded guest, poof's locations and the output.
pub struct Context {
    /// The embedded guest component (its bytes, hash and compiled form).
    pub guest: &'static Guest,
    /// The run's guest instances: every guest call goes through one of them.
    pub pool: &'static Pool,
    /// poof's config folder and file.
    pub locations: Locations,
    /// `--trust-remote`: accept encrypted manifests the guest would refuse.
    pub trust_remote: bool,
    /// Where messages go.
    pub out: Output,
}

/// Takes the run lock of `conf`, unless this is a dry run (which only reads);
/// says so when an earlier run died holding it.
pub fn lock_unless_dry_run(
    ctx: &Context,
    conf: &crate::config::PoofConf,
    dry_run: bool,
) -> anyhow::Result<Option<crate::lock::RunLock>> {
    if dry_run {
        return Ok(None);
    }
    let lock = crate::lock::RunLock::acquire(&conf.file)?;
    if let Some(stale) = &lock.stale {
        ctx.out.verbose(&format!(
            "an earlier run ended without cleaning up ({stale}); its lock was free and is taken over"
        ));
    }
    Ok(Some(lock))
}

/// The sync options that the flags shared by backup, download and upload
/// give, with backup's and upload's `--max-overwrite`.
pub fn sync_options(
    args: &crate::cli::SyncArgs,
    max_overwrite: Option<crate::engine::sync::Limit>,
    direction: crate::engine::sync::Direction,
    keep_target_extras: bool,
) -> crate::sync::Options {
    crate::sync::Options {
        direction,
        dry_run: args.dry_run,
        max_delete: args.max_delete,
        max_overwrite,
        confirmed: args.yes,
        transfers: usize::from(args.transfers),
        checksum: args.checksum,
        keep_target_extras,
        restore_elsewhere: false,
    }
}

/// Runs `backup` (up) or `download` (down): lock, plan, run.
pub fn run_sync(
    ctx: &mut Context,
    args: &crate::cli::SyncArgs,
    max_overwrite: Option<crate::engine::sync::Limit>,
    direction: crate::engine::sync::Direction,
) -> anyhow::Result<crate::exit::Exit> {
    let conf = crate::config::PoofConf::load(&ctx.locations.poofconf)?;
    let filters = crate::filters::Filters::from_args(&args.filter)?;
    let remote = crate::remote::open_for_sync(&conf, &ctx.locations, ctx.pool, ctx.trust_remote)?;
    if direction == crate::engine::sync::Direction::Up {
        remote.check_writable()?;
    }
    let _lock = lock_unless_dry_run(ctx, &conf, args.dry_run)?;
    let mut guest = ctx.pool.lease()?;
    let opts = sync_options(args, max_overwrite, direction, false);
    Ok(crate::sync::run(&conf, remote.as_ref(), &mut guest, opts, &filters, &ctx.out)?.exit)
}

/// The configured path a `CLOUDDIR[/SUBPATH]` argument names (`poof ls`,
/// `download --path`), and the rest of the argument (`SUBPATH`, empty when
/// none): the path whose cloud folder is the argument or its longest
/// leading part. Refused as a usage error (exit 2), listing the configured
/// cloud folders, when no path matches.
pub fn find_cloud<'a>(
    conf: &'a crate::config::PoofConf,
    arg: &'a str,
) -> Result<(&'a crate::config::SyncPath, &'a str), crate::exit::ConfigError> {
    let arg = arg.trim_matches('/');
    conf.paths
        .iter()
        .filter_map(|p| match arg.strip_prefix(p.cloud.as_str())? {
            "" => Some((p, "")),
            rest => rest.strip_prefix('/').map(|sub| (p, sub)),
        })
        .max_by_key(|(p, _)| p.cloud.len())
        .ok_or_else(|| {
            let mut known: Vec<String> = conf
                .paths
                .iter()
                .map(|p| format!("{} ({})", p.cloud, p.local.display()))
                .collect();
            known.sort();
            crate::exit::ConfigError(format!(
                "no configured path is kept in the cloud folder {arg:?}; the configured ones \
                 (in {}) are: {}",
                conf.file.display(),
                known.join(", ")
            ))
        })
}
