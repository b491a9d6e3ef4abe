//! `poof neuter`: remove poof from this machine (see `crate::neuter`).

use anyhow::Result;

use super::Context;
use crate::cli::NeuterArgs;
use crate::exit::Exit;
use crate::neuter;

/// Runs `poof neuter`.
pub fn run(ctx: &mut Context, args: &NeuterArgs) -> Result<Exit> {
    if args.dry_run {
        ctx.out.line("dry run: nothing will be removed");
    }
    let r = neuter::run(
        &ctx.locations,
        neuter::Options {
            keep_binary: args.keep_binary,
            yes: args.yes,
            dry_run: args.dry_run,
        },
        &ctx.out,
    )?;
    let clean = neuter::print(&r, &ctx.out);
    if ctx.locations.portable {
        ctx.out.line(
            "portable mode: what poof put on this host is gone; what is on the stick stays (see above)",
        );
    }
    Ok(if clean { Exit::Success } else { Exit::Partial })
}
