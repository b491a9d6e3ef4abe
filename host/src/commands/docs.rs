//! `poof man` and `poof completions`: the man page and shell completions,
//! generated from the same clap definitions as `--help`, so they cannot drift.
//! `docs/poof.1` is a committed copy, kept current by a test.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::Exit;

/// The man page, poof(1), in roff, with an ENVIRONMENT section.
pub fn man_page() -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    let page = String::from_utf8_lossy(&out).into_owned();
    let env = environment_section();
    let page = match page.find("\n.SH VERSION") {
        Some(i) => format!("{}\n{}{}", &page[..i], env.trim_end(), &page[i..]),
        None => page + &env,
    };
    Ok(page.into_bytes())
}

/// The variables poof reads besides its flags' (secrets, never flags).
const OTHER_VARIABLES: [(&str, &str); 3] = [
    (
        "POOF_PASSPHRASE",
        "The encryption passphrase, when no --passphrase-file, --passphrase-command or POOF_PASSPHRASE_FILE gives it.",
    ),
    (
        "POOF_PASSPHRASE_FILE",
        "A file holding the encryption passphrase (one trailing newline is stripped).",
    ),
    (
        "POOF_NEW_PASSPHRASE",
        "The new passphrase of poof econfig --change-passphrase.",
    ),
];

/// ENVIRONMENT: every flag that a POOF_* variable can give (from the clap
/// definitions, each once), then the passphrase variables.
fn environment_section() -> String {
    fn walk(cmd: &clap::Command, seen: &mut std::collections::BTreeMap<String, String>) {
        for arg in cmd.get_arguments() {
            if let Some(var) = arg.get_env() {
                let flag = arg.get_long().unwrap_or_else(|| arg.get_id().as_str());
                seen.entry(var.to_string_lossy().into_owned())
                    .or_insert_with(|| format!("Same as --{flag}."));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, seen);
        }
    }
    let mut vars = std::collections::BTreeMap::new();
    walk(&Cli::command(), &mut vars);
    let roff = |s: &str| s.replace('\\', "\\\\").replace('-', "\\-");
    let mut out =
        String::from(".SH ENVIRONMENT\nA flag given on the command line wins over its variable.\n");
    let entries = vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(OTHER_VARIABLES);
    for (var, what) in entries {
        out += &format!(".TP\n\\fB{}\\fR\n{}\n", roff(var), roff(what));
    }
    out
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
