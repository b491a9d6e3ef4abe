//! `poof backup`: sync every configured path up; never touches local data.

use anyhow::Result;

use super::Context;
use crate::cli::SyncArgs;
use crate::config::PoofConf;
use crate::engine::sync::Direction;
use crate::exit::Exit;
use crate::{remote, sync};

/// Runs `poof backup`.
pub fn run(ctx: &mut Context, args: &SyncArgs) -> Result<Exit> {
    let conf = PoofConf::load(&ctx.locations.poofconf)?;
    let remote = remote::open(&conf.remote);
    let mut guest = ctx.guest.instantiate()?;
    let opts = sync::Options {
        direction: Direction::Up,
        dry_run: args.dry_run,
    };
    sync::run(&conf, remote.as_ref(), &mut guest, opts, &mut ctx.out)
}
