//! The cron scheduler: poof's block in the current user's crontab, between
//! two marker comments.
//!
//! Invariant: only the lines between `CRON_BEGIN` and `CRON_END` are poof's;
//! every other line of the table is written back as it was read, and an
//! install replaces the block rather than adding a second one.
//!
//! Test hook: the crontab program is `$POOF_CRONTAB` when set (tests point
//! it to a fake that keeps the table in a file), else `crontab`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::{Done, Every, Job, Scheduler};
use crate::exit::ConfigError;

/// The first line of poof's block in a crontab.
pub const CRON_BEGIN: &str =
    "# BEGIN poof: managed by `poof schedule install/remove`; edit it with poof";
/// The last line of poof's block in a crontab.
pub const CRON_END: &str = "# END poof";

/// The cron time fields for an interval: every N minutes (N dividing 60),
/// every N hours (N dividing 24), or once a day.
pub fn cron_fields(every: Every) -> Result<String, ConfigError> {
    let m = every.0 / 60;
    if every.0.is_multiple_of(60) && m < 60 && 60u64.is_multiple_of(m) {
        return Ok(if m == 1 {
            "* * * * *".into()
        } else {
            format!("*/{m} * * * *")
        });
    }
    let h = every.0 / 3600;
    if every.0.is_multiple_of(3600) && h < 24 && 24u64.is_multiple_of(h) {
        return Ok(if h == 1 {
            "0 * * * *".into()
        } else {
            format!("0 */{h} * * *")
        });
    }
    if every.0 == 86_400 {
        return Ok("0 0 * * *".into());
    }
    Err(ConfigError(
        "cron can run poof every N minutes (N dividing 60), every N hours (N dividing 24) or once a day; \
         choose --every accordingly, or use --kind systemd"
            .into(),
    ))
}

/// Quotes a word for `sh`, and escapes `%`, which cron turns into a newline.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''")).replace('%', "\\%")
}

/// poof's block for a crontab, marker lines included.
pub fn cron_block(job: &Job) -> Result<String, ConfigError> {
    let mut cmd = sh_quote(&job.bin.to_string_lossy());
    for a in &job.args {
        cmd.push(' ');
        cmd.push_str(&sh_quote(a));
    }
    // The run logs to its own rotated file; stderr (warnings and errors)
    // is left to cron, which mails it where it can.
    Ok(format!(
        "{CRON_BEGIN}\n{} {cmd} >/dev/null\n{CRON_END}\n",
        cron_fields(job.every)?
    ))
}

/// `text` without poof's block; and whether it had one.
pub fn strip_cron_block(text: &str) -> (String, bool) {
    let mut out = String::new();
    let (mut inside, mut found) = (false, false);
    for line in text.lines() {
        if line == CRON_BEGIN {
            inside = true;
            found = true;
        } else if inside && line == CRON_END {
            inside = false;
        } else if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    (out, found)
}

/// The crontab program: `$POOF_CRONTAB` when set, else `crontab`.
fn crontab_program() -> std::ffi::OsString {
    std::env::var_os("POOF_CRONTAB").unwrap_or_else(|| "crontab".into())
}

/// The current crontab; `None` when there is no crontab program at all.
fn read_crontab() -> Result<Option<String>> {
    let prog = crontab_program();
    let out = match Command::new(&prog).arg("-l").stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("cannot run {}: {e}", prog.to_string_lossy()),
    };
    if out.status.success() {
        return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("no crontab") {
        return Ok(Some(String::new()));
    }
    bail!(
        "`{} -l` failed: {}; check that cron is installed and that you may use it",
        prog.to_string_lossy(),
        err.trim()
    )
}

/// Replaces the current crontab with `text`.
fn write_crontab(text: &str) -> Result<()> {
    let prog = crontab_program();
    let mut child = Command::new(&prog)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", prog.to_string_lossy()))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "`{} -` refused the new table: {}",
            prog.to_string_lossy(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The cron scheduler, which keeps poof's entry in the user's crontab.
pub(super) struct Cron;

impl Scheduler for Cron {
    fn files(&self) -> Vec<PathBuf> {
        vec![]
    }

    fn install(&self, job: &Job, dry_run: bool) -> Result<Done> {
        let mut done = Done::default();
        let would = if dry_run { "would write" } else { "wrote" };
        let block = cron_block(job)?;
        let Some(table) = read_crontab()? else {
            bail!("there is no crontab program here; install cron, or use --kind systemd");
        };
        let (mut table, _) = strip_cron_block(&table);
        table.push_str(&block);
        if !dry_run {
            write_crontab(&table)?;
        }
        done.did.push(format!(
            "{would} poof's line in your crontab: {}",
            block.lines().nth(1).unwrap_or("")
        ));
        Ok(done)
    }

    fn status(&self) -> Result<Option<String>> {
        Ok(match read_crontab()? {
            Some(t) if strip_cron_block(&t).1 => {
                let line = t
                    .lines()
                    .skip_while(|l| *l != CRON_BEGIN)
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                Some(format!("in your crontab: {line}"))
            }
            _ => None,
        })
    }

    fn remove(&self, dry_run: bool) -> Result<Done> {
        let mut done = Done::default();
        let did = if dry_run { "would remove" } else { "removed" };
        let Some(table) = read_crontab()? else {
            return Ok(done);
        };
        let (rest, found) = strip_cron_block(&table);
        if found {
            if !dry_run {
                write_crontab(&rest)?;
            }
            done.did
                .push(format!("{did} poof's line from your crontab"));
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::tests::job;

    #[test]
    fn intervals_map_to_cron() {
        assert_eq!(cron_fields(Every(21_600)).unwrap(), "0 */6 * * *");
        assert_eq!(cron_fields(Every(900)).unwrap(), "*/15 * * * *");
        assert_eq!(cron_fields(Every(3600)).unwrap(), "0 * * * *");
        assert_eq!(cron_fields(Every(86_400)).unwrap(), "0 0 * * *");
        assert!(cron_fields(Every(7 * 3600)).is_err());
        assert!(cron_fields(Every(2 * 86_400)).is_err());
    }

    #[test]
    fn the_cron_block_is_quoted_and_replaced_not_duplicated() {
        let block = cron_block(&job()).unwrap();
        assert_eq!(
            block,
            format!(
                "{CRON_BEGIN}\n0 */6 * * * '/opt/po of/poof' '--confdir' '/home/j/.config/poof' 'backup' >/dev/null\n{CRON_END}\n"
            )
        );
        let table = format!("MAILTO=me\n{block}5 4 * * * other\n");
        let (rest, found) = strip_cron_block(&table);
        assert!(found);
        assert_eq!(rest, "MAILTO=me\n5 4 * * * other\n");
        assert_eq!(strip_cron_block(&rest), (rest.clone(), false));
        assert_eq!(sh_quote("it's 100%"), "'it'\\''s 100\\%'");
    }
}
