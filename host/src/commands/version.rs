//! `poof version`: the version, the build target and the embedded guest's
//! identity. It instantiates the guest, so it also proves the guest loads.

use anyhow::Result;

use super::Context;
use crate::engine::Compiled;
use crate::exit::Exit;

/// The platform this binary was built for, e.g. `x86_64-linux-gnu`.
pub fn build_target() -> String {
    let env = if cfg!(target_env = "musl") {
        "-musl"
    } else if cfg!(target_env = "gnu") {
        "-gnu"
    } else {
        ""
    };
    format!("{}-{}{env}", std::env::consts::ARCH, std::env::consts::OS)
}

/// Runs `poof version`.
pub fn run(ctx: &mut Context) -> Result<Exit> {
    let info = ctx.pool.lease()?.info()?;
    crate::outln!("poof {}", env!("CARGO_PKG_VERSION"));
    crate::outln!("target:   {}", build_target());
    let how = match ctx.guest.compiled()? {
        Compiled::InPlace => "precompiled, run in place",
        Compiled::Precompiled => "precompiled",
        Compiled::AtStartup => "compiled at start-up",
    };
    crate::outln!("guest:    sha256:{} ({how})", ctx.guest.sha256());
    crate::outln!("contract: {} (guest {})", info.contract, info.version);
    Ok(Exit::Success)
}
