//! `poof guest`: what an auditor needs to check the embedded guest: its hash,
//! its exact bytes, the contract it implements, and a live sandbox probe.

use std::io::Write;

use anyhow::{Context as _, Result, bail};

use super::Context;
use crate::cli::GuestCommand;
use crate::engine::Compiled;
use crate::exit::{ConfigError, Exit};

/// The WIT contract, exactly as both sides compiled it.
pub const WIT: &[(&str, &str)] = &[
    ("world.wit", include_str!("../../../wit/world.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("audit.wit", include_str!("../../../wit/audit.wit")),
    ("sync.wit", include_str!("../../../wit/sync.wit")),
    ("crypto.wit", include_str!("../../../wit/crypto.wit")),
    ("wipe.wit", include_str!("../../../wit/wipe.wit")),
    ("session.wit", include_str!("../../../wit/session.wit")),
    ("check.wit", include_str!("../../../wit/check.wit")),
    ("legacy.wit", include_str!("../../../wit/legacy.wit")),
];

/// Runs `poof guest ...`.
pub fn run(ctx: &mut Context, cmd: &GuestCommand) -> Result<Exit> {
    match cmd {
        GuestCommand::Hash => crate::outln!("{}", ctx.guest.sha256()),
        GuestCommand::Export { file } => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(file)
                .map_err(|e| {
                    ConfigError(format!(
                        "{}: cannot create it ({e}); choose a new file name",
                        file.display()
                    ))
                })?;
            f.write_all(ctx.guest.wasm())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing {}", file.display()))?;
            ctx.out.line(&format!(
                "wrote {} bytes, sha256:{}",
                ctx.guest.wasm().len(),
                ctx.guest.sha256()
            ));
        }
        GuestCommand::Verify => {
            let fresh = ctx.guest.precompile()?;
            let embedded = ctx.guest.precompiled();
            if embedded.is_empty() {
                bail!("this binary embeds no precompiled guest; it compiles the guest at start-up");
            }
            if fresh != embedded && ctx.guest.compiled()? == Compiled::AtStartup {
                // The copy is not used here (wasmtime refused it for this
                // CPU, or it is not of this component): what runs is the
                // component compiled here, which is what verify would check.
                ctx.out.line(&format!(
                    "the precompiled guest embedded in this binary is not used on this machine \
                     (compiled for a CPU with features this one lacks, or from another \
                     component); the guest runs compiled here from the embedded component \
                     sha256:{}",
                    ctx.guest.sha256()
                ));
                return Ok(Exit::Success);
            }
            if fresh != embedded {
                bail!(
                    "the precompiled guest embedded in this binary, which runs here, differs \
                     from the embedded component compiled here ({} bytes against {}). Either \
                     this CPU has features the build machine's lacked (check on a machine like \
                     it, see docs/AUDIT.md) or the binary was altered: do not trust it until \
                     checked, or rebuild it from source",
                    embedded.len(),
                    fresh.len()
                );
            }
            ctx.out.line(&format!(
                "the precompiled guest ({} bytes) is exactly the embedded component sha256:{} compiled here",
                embedded.len(),
                ctx.guest.sha256()
            ));
        }
        GuestCommand::Precompile { file } => {
            std::fs::write(file, ctx.guest.precompile()?)
                .with_context(|| format!("writing {}", file.display()))?;
        }
        GuestCommand::Wit => {
            for (name, text) in WIT {
                crate::outln!("// wit/{name}\n{text}");
            }
        }
        GuestCommand::Probe { read, connect } => {
            let probes = ctx.pool.lease()?.probe_sandbox(read, connect)?;
            let mut escaped = false;
            for p in &probes {
                let verdict = if p.reached { "REACHED" } else { "denied" };
                escaped |= p.reached;
                crate::outln!("{verdict:8} {}: {}", p.attempt, p.detail);
            }
            if escaped {
                bail!("the guest reached outside its sandbox; report this as a security bug");
            }
            ctx.out
                .line("the guest could reach nothing outside its sandbox");
        }
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    /// `poof guest wit` must print every file of the contract.
    #[test]
    fn every_wit_file_is_printed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        for f in std::fs::read_dir(dir).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                super::WIT.iter().any(|(n, _)| *n == name),
                "wit/{name} is missing from `poof guest wit` (host/src/commands/guest.rs)"
            );
        }
    }
}
