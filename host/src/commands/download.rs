//! `poof download`: sync every configured path down; deletes local files the
//! remote copy does not have.

use anyhow::Result;

use super::Context;
use crate::cli::SyncArgs;
use crate::config::PoofConf;
use crate::engine::sync::Direction;
use crate::exit::Exit;
use crate::{remote, sync};

/// Runs `poof download`.
pub fn run(ctx: &mut Context, args: &SyncArgs) -> Result<Exit> {
    let conf = PoofConf::load(&ctx.locations.poofconf)?;
    let remote = remote::open(&conf.remote);
    let mut guest = ctx.guest.instantiate()?;
    let opts = sync::Options {
        direction: Direction::Down,
        dry_run: args.dry_run,
    };
    sync::run(&conf, remote.as_ref(), &mut guest, opts, &mut ctx.out)
}
