//! `poof download`: sync every configured path down; deletes local files the
//! remote copy does not have.

use anyhow::Result;

use super::Context;
use crate::cli::SyncArgs;
use crate::config::PoofConf;
use crate::engine::sync::Direction;
use crate::exit::Exit;
use crate::lock::RunLock;
use crate::{remote, sync};

/// Runs `poof download`.
pub fn run(ctx: &mut Context, args: &SyncArgs) -> Result<Exit> {
    let conf = PoofConf::load(&ctx.locations.poofconf)?;
    let remote = remote::open_for_sync(&conf, &ctx.locations, ctx.guest)?;
    let _lock = if args.dry_run {
        None
    } else {
        let lock = RunLock::acquire(&conf.file)?;
        if let Some(stale) = &lock.stale {
            ctx.out.verbose(&format!("an earlier run ended without cleaning up ({stale}); its lock was free and is taken over"));
        }
        Some(lock)
    };
    let mut guest = ctx.guest.instantiate()?;
    let opts = sync::Options {
        direction: Direction::Down,
        dry_run: args.dry_run,
        max_delete: args.max_delete,
        confirmed: args.yes,
        transfers: usize::from(args.transfers),
        checksum: args.checksum,
        keep_target_extras: false,
    };
    Ok(sync::run(&conf, remote.as_ref(), &mut guest, opts, &ctx.out)?.exit)
}
