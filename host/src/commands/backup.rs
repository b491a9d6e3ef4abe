//! `poof backup`: sync every configured path up; never touches local data.

use anyhow::Result;

use super::Context;
use crate::cli::BackupArgs;
use crate::engine::sync::Direction;
use crate::exit::Exit;

/// Runs `poof backup`.
pub fn run(ctx: &mut Context, args: &BackupArgs) -> Result<Exit> {
    super::run_sync(ctx, &args.sync, args.max_overwrite, Direction::Up)
}
