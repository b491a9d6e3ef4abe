//! `poof download`: sync every configured path down; deletes local files the
//! remote copy does not have.

use anyhow::Result;

use super::Context;
use crate::cli::SyncArgs;
use crate::engine::sync::Direction;
use crate::exit::Exit;

/// Runs `poof download`.
pub fn run(ctx: &mut Context, args: &SyncArgs) -> Result<Exit> {
    // A restore's overwrites are what it is for: no overwrite limit.
    super::run_sync(ctx, args, None, Direction::Down)
}
