//! `poof man` and `poof completions`: the man page and shell completions,
//! generated from the same clap definitions as `--help`, so they cannot drift.
//! `docs/poof.1` is a committed copy, kept current by a test.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::Exit;

/// The man page, poof(1), in roff.
pub fn man_page() -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(out)
}

/// Runs `poof man`.
pub fn man() -> Result<Exit> {
    crate::output::write_stdout(&String::from_utf8_lossy(&man_page()?));
    Ok(Exit::Success)
}

/// Runs `poof completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> Result<Exit> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "poof", &mut out);
    crate::output::write_stdout(&String::from_utf8_lossy(&out));
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    /// `docs/poof.1` must be what `poof man` prints. Run with
    /// `POOF_BLESS=1` to rewrite it after changing the command line.
    #[test]
    fn the_committed_man_page_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/poof.1");
        let fresh = super::man_page().unwrap();
        if std::env::var_os("POOF_BLESS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "docs/poof.1 is out of date; run `POOF_BLESS=1 cargo xtask test` (or the host's unit tests with POOF_BLESS=1) and commit it"
        );
    }
}
