//! poof's host: every side effect (command line, files, remotes), none of the
//! decisions. What to copy, delete or refuse is decided by the guest
//! (`engine`), and carried out here.

pub mod alloc;
pub mod child;
pub mod cli;
pub mod cloudconf;
pub mod commands;
pub mod config;
pub mod crypt;
pub mod engine;
pub mod exit;
pub mod filters;
pub mod fsx;
pub mod harden;
pub mod knobs;
pub mod layout;
pub mod lock;
pub mod logging;
pub mod neuter;
pub mod output;
pub mod pathguard;
pub mod pool;
pub mod remote;
pub mod s3;
pub mod schedule;
pub mod store;
pub mod sync;
#[cfg(test)]
mod testkit;
pub mod walk;
pub mod wipe;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::Context;
use crate::config::Locations;
use crate::engine::Guest;
use crate::output::Output;

/// Runs poof with the process's arguments and the embedded guest.
pub fn main(guest: &'static Guest) -> ExitCode {
    let cli = Cli::parse();
    let out = Output {
        verbose: cli.verbose > 0,
        quiet: cli.quiet,
        json: cli.json,
        progress: match (cli.progress, cli.no_progress) {
            (_, true) => Some(false),
            (true, false) => Some(true),
            (false, false) => None,
        },
    };
    if let Err(e) = logging::install(&logging::Settings {
        quiet: cli.quiet,
        verbose: cli.verbose,
        json: cli.json,
        file: cli.log_file.clone(),
        max_size: cli.log_file_max_size,
        max_backups: cli.log_file_max_backups.unwrap_or(0),
    }) {
        eprintln!("poof: error: {e:#}");
        return exit::Exit::Config.into();
    }
    knobs::set_checkers(usize::from(cli.checkers));
    knobs::set_bwlimit(cli.bwlimit.flatten());
    let result = Locations::resolve(
        cli.confdir.clone(),
        cli.poofconf.clone(),
        cli.cloudconf.clone(),
        cli.portable,
    )
    .map_err(anyhow::Error::from)
    .and_then(|mut locations| {
        locations.passphrase_file = cli.passphrase_file.clone();
        locations.passphrase_command = cli.passphrase_command.clone();
        locations.profile = cli.profile.clone();
        locations.out = out;
        locations.passphrase_env_file = std::env::var_os(crypt::keys::ENV_FILE)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from);
        for file in [&locations.passphrase_file, &locations.passphrase_env_file] {
            if let Some(w) = file.as_deref().and_then(crypt::keys::exposed) {
                out.warn(&w);
            }
        }
        let mut ctx = Context {
            guest,
            pool: engine::pool::Pool::for_run(guest),
            locations,
            trust_remote: cli.trust_remote,
            out,
        };
        match &cli.command {
            Command::Backup(args) => commands::backup::run(&mut ctx, args),
            Command::Download(args) => commands::download::run(&mut ctx, args),
            Command::Ls(args) => commands::ls::run(&mut ctx, args),
            Command::Upload(args) => commands::upload::run(&mut ctx, args),
            Command::Neuter(args) => commands::neuter::run(&mut ctx, args),
            Command::Schedule(cmd) => commands::schedule::run(&mut ctx, cmd),
            Command::Lconfig(args) => commands::schedule::install(&mut ctx, args),
            Command::Lpurge(args) => commands::schedule::remove(&mut ctx, args),
            Command::Config(args) => commands::config::run_config(&mut ctx, args),
            Command::Cconfig(args) => commands::config::run_cconfig(&mut ctx, args.show_secrets),
            Command::Paths => commands::paths::run(&mut ctx),
            Command::Verify(args) => commands::verify::run(&mut ctx, args),
            Command::Check(args) => commands::check::run(&mut ctx, args),
            Command::Migrate(args) => commands::migrate::run(&mut ctx, args),
            Command::Econfig(args) => commands::econfig::run(&mut ctx, args),
            Command::Cryptoggle(args) => commands::cryptoggle::run(&mut ctx, args),
            Command::Completions { shell } => commands::docs::completions(*shell),
            Command::Man => commands::docs::man(),
            Command::Version => commands::version::run(&mut ctx),
            Command::Guest(cmd) => commands::guest::run(&mut ctx, cmd),
        }
    });
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            out.error(&format!("{e:#}"));
            exit::classify(&e).into()
        }
    }
}
