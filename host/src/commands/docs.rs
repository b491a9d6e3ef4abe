//! `poof man` and `poof completions`: the man page and shell completions,
//! generated from the same clap definitions as `--help`, so they cannot drift.
//! `docs/poof.1` is a committed copy, kept current by a test.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::Exit;

/// The man page, poof(1), in roff: clap's sections, then EXIT STATUS,
/// ENVIRONMENT and FILES (before VERSION).
pub fn man_page() -> Result<Vec<u8>> {
    let mut out = Vec::new();
    // `--help` ends with the exit codes; here they are EXIT STATUS, not EXTRA.
    clap_mangen::Man::new(Cli::command().after_help(None::<&str>)).render(&mut out)?;
    let page = String::from_utf8_lossy(&out).into_owned();
    let ours = [
        exit_status_section(),
        environment_section(),
        FILES.to_string(),
    ]
    .concat();
    let page = match page.find("\n.SH VERSION") {
        Some(i) => format!("{}\n{}{}", &page[..i], ours.trim_end(), &page[i..]),
        None => page + &ours,
    };
    Ok(page.into_bytes())
}

/// Escapes text for roff.
fn roff(s: &str) -> String {
    s.replace('\\', "\\\\").replace('-', "\\-")
}

/// EXIT STATUS: every code of `Exit`, with what it means.
fn exit_status_section() -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    for (code, what) in Exit::ALL {
        out += &format!(".TP\n\\fB{}\\fR\n{}\n", code as u8, roff(what));
    }
    out
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

/// The variables of the AWS CLI that poof reads, as the AWS CLI reads them
/// (host/src/cloudconf/aws.rs), after the cloud config file's section.
const AWS_VARIABLES: &[(&str, &str)] = &[
    (
        "AWS_ACCESS_KEY_ID",
        "S3 access key, with AWS_SECRET_ACCESS_KEY (not used with --profile).",
    ),
    ("AWS_SECRET_ACCESS_KEY", "S3 secret key."),
    ("AWS_SESSION_TOKEN", "S3 session token of temporary keys."),
    (
        "AWS_PROFILE",
        "The profile of ~/.aws/credentials and ~/.aws/config, when --profile is not given [default: default].",
    ),
    (
        "AWS_SHARED_CREDENTIALS_FILE",
        "Another file instead of ~/.aws/credentials.",
    ),
    ("AWS_CONFIG_FILE", "Another file instead of ~/.aws/config."),
    (
        "AWS_REGION",
        "The region, over the profile's (AWS_DEFAULT_REGION when unset).",
    ),
    (
        "AWS_DEFAULT_REGION",
        "The region, when AWS_REGION is unset.",
    ),
    (
        "AWS_ENDPOINT_URL_S3",
        "The S3 endpoint, over the profile's (AWS_ENDPOINT_URL when unset).",
    ),
    (
        "AWS_ENDPOINT_URL",
        "The endpoint of S3 and STS, when no endpoint of its own is set.",
    ),
    (
        "AWS_ENDPOINT_URL_STS",
        "The STS endpoint of web identity (AWS_ENDPOINT_URL when unset).",
    ),
    (
        "AWS_CA_BUNDLE",
        "A file of CA certificates to trust besides the built-in roots.",
    ),
    (
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "Web identity: the token file, with AWS_ROLE_ARN (exchanged through STS).",
    ),
    ("AWS_ROLE_ARN", "Web identity: the role to assume."),
    ("AWS_ROLE_SESSION_NAME", "Web identity: the session name."),
    (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "The container endpoint's path (ECS).",
    ),
    (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "The container endpoint's URL (ECS, EKS Pod Identity).",
    ),
    (
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "The token sent to the container endpoint.",
    ),
    (
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "A file holding that token.",
    ),
    (
        "AWS_EC2_METADATA_DISABLED",
        "true: never ask the EC2 instance metadata service.",
    ),
    (
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "Another address of the instance metadata service.",
    ),
    (
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
        "IPv4 or IPv6: which default address of the instance metadata service.",
    ),
    (
        "AWS_METADATA_SERVICE_TIMEOUT",
        "Seconds to wait for the instance metadata service.",
    ),
    (
        "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
        "How many times to ask the instance metadata service.",
    ),
    (
        "AWS_EC2_METADATA_V1_DISABLED",
        "true: never fall back to IMDSv1.",
    ),
];

/// The system's variables poof reads, and the crontab program's.
const SYSTEM_VARIABLES: &[(&str, &str)] = &[
    (
        "HOME",
        "Where ~ is: ~/.aws, the config folder and the schedule entries are under it.",
    ),
    (
        "XDG_CONFIG_HOME",
        "On Linux, the config folder is $XDG_CONFIG_HOME/poof and the systemd user units are in $XDG_CONFIG_HOME/systemd/user [default: ~/.config].",
    ),
    (
        "POOF_CRONTAB",
        "The crontab program poof schedule runs [default: crontab].",
    ),
];

/// ENVIRONMENT: every flag that a POOF_* variable can give (from the clap
/// definitions, each once), the passphrase variables, the AWS CLI's and
/// the system's.
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
    let mut out =
        String::from(".SH ENVIRONMENT\nA flag given on the command line wins over its variable.\n");
    let entries = vars
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(OTHER_VARIABLES)
        .chain(AWS_VARIABLES.iter().copied())
        .chain(SYSTEM_VARIABLES.iter().copied());
    for (var, what) in entries {
        out += &format!(".TP\n\\fB{}\\fR\n{}\n", roff(var), roff(what));
    }
    out
}

/// FILES: what `poof paths` lists (`Locations::own_files`, the schedule's
/// entries), the per-folder `.poofignore` and the AWS CLI's files.
const FILES: &str = r#".SH FILES
.TP
\fICONFDIR\fR
poof's config folder: \-\-confdir (or POOF_CONFDIR); else with \-\-portable, or when a poof.conf sits beside the binary and neither \-\-confdir nor \-\-poofconf is given, the binary's folder; else on Linux $XDG_CONFIG_HOME/poof, or ~/.config/poof without XDG_CONFIG_HOME; on macOS ~/Library/Application Support/poof (macOS builds are never run: not supported). \fBpoof paths\fR prints every file below as this machine resolves it.
.TP
\fICONFDIR\fR/poof.conf
The folders to back up and where their copies go (\-\-poofconf).
.TP
\fICONFDIR\fR/rclone\-poof.conf
The cloud config file, poof 1.x's (\-\-cloudconf).
.TP
\fICONFDIR\fR/poof.key
The encryption key, wrapped with the passphrase (poof econfig).
.TP
\fICONFDIR\fR/poof.key.next
The new key while poof econfig \-\-rotate runs.
.TP
\fICONFDIR\fR/freshness.json
What this machine remembers of encrypted folders' manifests, to refuse one rolled back (\-\-trust\-remote).
.TP
\fICONFDIR\fR/poof.lock
The lock that lets one run at a time use a poof.conf; beside poof.conf, named after it.
.TP
\fICONFDIR\fR/poof.log, poof.log.1 to poof.log.3
The log of scheduled runs, rotated at 5 MiB, three older files kept. \-\-log\-file FILE writes FILE, which \-\-log\-file\-max\-size rotates to FILE.1, FILE.2 and on.
.TP
\fICONFDIR\fR/poof.status
The outcome of the last upload (neuter refuses after a partial one).
.TP
\fIFOLDER\fR/.poofignore
Exclude patterns, read only at the root of each configured folder (one in a subfolder is an ordinary file).
.TP
~/.aws/credentials
S3 keys of [NAME] profiles (AWS_SHARED_CREDENTIALS_FILE).
.TP
~/.aws/config
[profile NAME] sections: region, endpoint, keys, credential_process, web identity (AWS_CONFIG_FILE).
.TP
~/.config/systemd/user/poof.service, poof.timer
The systemd user timer of poof schedule install, with a link in timers.target.wants (under $XDG_CONFIG_HOME/systemd/user when it is set).
.TP
~/Library/LaunchAgents/org.pypi.poof.plist
The launchd agent of poof schedule install (macOS).
"#;

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
    use clap::CommandFactory;

    use crate::cli::Cli;
    use crate::exit::Exit;

    fn page() -> String {
        String::from_utf8(super::man_page().unwrap()).unwrap()
    }

    #[test]
    fn the_man_page_has_exit_status_environment_and_files() {
        let page = page();
        for section in [".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH FILES"] {
            assert!(page.contains(&format!("\n{section}\n")), "no {section}");
        }
        // The exit codes are not also an EXTRA section.
        assert!(!page.contains(".SH EXTRA"));
        // --help still ends with every code.
        let after = Cli::command().get_after_help().unwrap().to_string();
        for (code, what) in Exit::ALL {
            let code = code as u8;
            assert!(
                after.contains(&format!("{code} ")),
                "--help lacks exit code {code}"
            );
            assert!(
                page.contains(&format!(".TP\n\\fB{code}\\fR\n")),
                "{code}: {what}"
            );
        }
    }

    #[test]
    fn every_aws_variable_poof_reads_is_in_environment() {
        let env = super::environment_section();
        let sources = [
            include_str!("../cloudconf/aws.rs"),
            include_str!("../cloudconf.rs"),
        ];
        let mut named = 0;
        for src in sources {
            for (i, _) in src.match_indices("\"AWS_") {
                let var: String = src[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if var.len() > "AWS_".len() {
                    named += 1;
                    let shown = format!("\\fB{}\\fR", super::roff(&var));
                    assert!(env.contains(&shown), "ENVIRONMENT lacks {var}");
                }
            }
        }
        assert!(
            named >= 20,
            "only {named} AWS variables found in the sources"
        );
    }

    #[test]
    fn files_names_every_file_poof_keeps() {
        let l = crate::config::Locations::resolve(Some("/c".into()), None, None, false).unwrap();
        for (what, path) in l.own_files() {
            let name = path.file_name().unwrap().to_string_lossy();
            let name = super::roff(&name);
            // The rotated logs are named as a range.
            let name = name.trim_end_matches(|c: char| c.is_ascii_digit());
            assert!(super::FILES.contains(name), "FILES lacks {what} ({name})");
        }
    }

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
