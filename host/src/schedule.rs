//! Unattended runs: a line in the user's crontab, a systemd user timer, or a
//! launchd agent, each running `poof backup` every so often and appending
//! its output to poof's log file (`CONFDIR/poof.log`).
//!
//! Invariants:
//! - only what poof wrote is touched: the crontab block between poof's two
//!   marker comments, the units `poof.service` and `poof.timer` (and the
//!   `timers.target.wants` link to the timer), the plist `org.pypi.poof.plist`;
//! - installing twice replaces, never duplicates; removing what is not there
//!   succeeds;
//! - the files are written even when the scheduler cannot be told (no user
//!   systemd session, say), and the run says what the user must do.
//!
//! Test hook: the crontab program is `$POOF_CRONTAB` when set (tests point
//! it to a fake that keeps the table in a file), else `crontab`.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::exit::ConfigError;

/// Which scheduler holds the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A line in the current user's crontab.
    Cron,
    /// A systemd user timer (~/.config/systemd/user/poof.timer).
    Systemd,
    /// A launchd agent (~/Library/LaunchAgents/org.pypi.poof.plist), macOS only.
    Launchd,
}

impl Kind {
    /// Every kind, for `status`, `remove` and `neuter`.
    pub const ALL: [Kind; 3] = [Kind::Cron, Kind::Systemd, Kind::Launchd];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cron => "cron",
            Kind::Systemd => "systemd",
            Kind::Launchd => "launchd",
        }
    }

    /// The scheduler this machine uses: launchd on macOS, a systemd user
    /// timer where systemd runs, cron elsewhere.
    pub fn default_here() -> Kind {
        if cfg!(target_os = "macos") {
            Kind::Launchd
        } else if Path::new("/run/systemd/system").is_dir() {
            Kind::Systemd
        } else {
            Kind::Cron
        }
    }
}

/// How often a scheduled run happens, in seconds (at least a minute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every(pub u64);

impl Every {
    /// poof 1.x's interval: every 6 hours.
    pub const DEFAULT: Every = Every(6 * 3600);
}

/// Parses `--every`: a number with `m`, `h` or `d` (e.g. `30m`, `6h`, `1d`).
pub fn parse_every(s: &str) -> Result<Every, String> {
    let bad =
        || format!("{s:?} is not an interval; write minutes, hours or days, like 30m, 6h or 1d");
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "m" | "min" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    if !(60..=30 * 86_400).contains(&secs) {
        return Err(format!("{s:?}: choose an interval from 1m to 30d"));
    }
    Ok(Every(secs))
}

/// What a scheduled run executes.
#[derive(Debug, Clone)]
pub struct Job {
    /// The poof binary.
    pub bin: PathBuf,
    /// Its arguments (global flags, then `backup`).
    pub args: Vec<String>,
    /// The log file its output is appended to.
    pub log: PathBuf,
    /// How often.
    pub every: Every,
}

/// The first line of poof's block in a crontab.
pub const CRON_BEGIN: &str =
    "# BEGIN poof: managed by `poof schedule install/remove`; edit it with poof";
/// The last line of poof's block in a crontab.
pub const CRON_END: &str = "# END poof";
/// The launchd label, as poof 1.x's.
pub const LAUNCHD_LABEL: &str = "org.pypi.poof";

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
    Ok(format!(
        "{CRON_BEGIN}\n{} {cmd} >> {} 2>&1\n{CRON_END}\n",
        cron_fields(job.every)?,
        sh_quote(&job.log.to_string_lossy())
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

/// The folder of systemd user units: `$XDG_CONFIG_HOME/systemd/user` or
/// `~/.config/systemd/user`.
pub fn systemd_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| dirs::home_dir().map(|h| h.join(".config")))?;
    Some(base.join("systemd/user"))
}

/// Quotes a word for a systemd `ExecStart=` line.
fn systemd_quote(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    format!("\"{escaped}\"")
}

/// `poof.service` and `poof.timer`.
pub fn systemd_units(job: &Job) -> (String, String) {
    let mut exec = systemd_quote(&job.bin.to_string_lossy());
    for a in &job.args {
        exec.push(' ');
        exec.push_str(&systemd_quote(a));
    }
    let log = job.log.to_string_lossy().replace('%', "%%");
    let service = format!(
        "# Installed by `poof schedule install`; removed by `poof schedule remove` and `poof neuter`.\n\
         [Unit]\nDescription=poof backup\n\n\
         [Service]\nType=oneshot\nExecStart={exec}\n\
         StandardOutput=append:{log}\nStandardError=append:{log}\n"
    );
    let timer = format!(
        "# Installed by `poof schedule install`; removed by `poof schedule remove` and `poof neuter`.\n\
         [Unit]\nDescription=run poof backup every {}\n\n\
         [Timer]\nOnBootSec=15min\nOnUnitActiveSec={}s\nUnit=poof.service\n\n\
         [Install]\nWantedBy=timers.target\n",
        human_every(job.every),
        job.every.0
    );
    (service, timer)
}

/// An interval in words: `30m`, `6h`, `1d`.
pub fn human_every(e: Every) -> String {
    match e.0 {
        s if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The launchd agent, like poof 1.x's `lconfig` wrote.
pub fn launchd_plist(job: &Job) -> String {
    let mut args = String::new();
    for a in std::iter::once(job.bin.to_string_lossy().into_owned()).chain(job.args.clone()) {
        let _ = writeln!(args, "        <string>{}</string>", xml_escape(&a));
    }
    let log = xml_escape(&job.log.to_string_lossy());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>Label</key>
    <string>{LAUNCHD_LABEL}</string>
    <key>ProgramArguments</key>
    <array>
{args}    </array>
    <key>StartInterval</key>
    <integer>{}</integer>
    <key>RunAtLoad</key>
    <false/>
    <key>StandardOutPath</key>
    <string>{log}</string>
    <key>StandardErrorPath</key>
    <string>{log}</string>
</dict>
</plist>
"#,
        job.every.0
    )
}

/// Where the launchd agent lives: `~/Library/LaunchAgents/org.pypi.poof.plist`.
pub fn launchd_path() -> Option<PathBuf> {
    dirs::home_dir().map(|h| h.join(format!("Library/LaunchAgents/{LAUNCHD_LABEL}.plist")))
}

/// The files a kind of entry consists of (empty for cron, which lives in
/// the crontab).
pub fn files_of(kind: Kind) -> Vec<PathBuf> {
    match kind {
        Kind::Cron => vec![],
        Kind::Systemd => systemd_dir()
            .map(|d| {
                vec![
                    d.join("poof.service"),
                    d.join("poof.timer"),
                    d.join("timers.target.wants/poof.timer"),
                ]
            })
            .unwrap_or_default(),
        Kind::Launchd => launchd_path().into_iter().collect(),
    }
}

/// Runs a helper program; returns its error output when it failed.
fn try_run(prog: &str, args: &[&str]) -> Result<(), String> {
    match Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Err(format!("cannot run {prog}: {e}")),
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().expect("a unit file has a folder");
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// What an install or a removal did, and what the user should know.
#[derive(Debug, Default)]
pub struct Done {
    /// What was done, one line each.
    pub did: Vec<String>,
    /// What did not work but is no failure of the entry itself.
    pub warnings: Vec<String>,
}

/// Installs (or replaces) the entry of `kind` for `job`.
pub fn install(kind: Kind, job: &Job, dry_run: bool) -> Result<Done> {
    let mut done = Done::default();
    let would = if dry_run { "would write" } else { "wrote" };
    match kind {
        Kind::Cron => {
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
        }
        Kind::Systemd => {
            let dir = systemd_dir().ok_or_else(|| {
                ConfigError("cannot tell where your home is (HOME is not set)".into())
            })?;
            let (service, timer) = systemd_units(job);
            done.did
                .push(format!("{would} {}", dir.join("poof.service").display()));
            done.did
                .push(format!("{would} {}", dir.join("poof.timer").display()));
            if dry_run {
                return Ok(done);
            }
            write_file(&dir.join("poof.service"), &service)?;
            write_file(&dir.join("poof.timer"), &timer)?;
            let reload = try_run("systemctl", &["--user", "daemon-reload"])
                .and_then(|()| try_run("systemctl", &["--user", "enable", "--now", "poof.timer"]));
            match reload {
                Ok(()) => done.did.push("enabled and started poof.timer".into()),
                Err(why) => {
                    // What `systemctl --user enable` would have done, so that
                    // the timer starts with the next user session.
                    let wants = dir.join("timers.target.wants");
                    fs::create_dir_all(&wants)
                        .with_context(|| format!("creating {}", wants.display()))?;
                    let link = wants.join("poof.timer");
                    let _ = fs::remove_file(&link);
                    std::os::unix::fs::symlink(dir.join("poof.timer"), &link)
                        .with_context(|| format!("creating {}", link.display()))?;
                    done.did
                        .push(format!("enabled poof.timer ({})", link.display()));
                    done.warnings.push(format!(
                        "systemctl --user could not start the timer ({why}); there is probably no user systemd session here. \
                         The timer starts with your next login session; to run it without one, run `loginctl enable-linger`"
                    ));
                }
            }
        }
        Kind::Launchd => {
            let path = launchd_path().ok_or_else(|| {
                ConfigError("cannot tell where your home is (HOME is not set)".into())
            })?;
            if !cfg!(target_os = "macos") {
                return Err(ConfigError(
                    "launchd exists only on macOS; use --kind cron or --kind systemd here".into(),
                )
                .into());
            }
            done.did.push(format!("{would} {}", path.display()));
            if dry_run {
                return Ok(done);
            }
            let _ = try_run("launchctl", &["unload", &path.to_string_lossy()]);
            write_file(&path, &launchd_plist(job))?;
            if let Err(why) = try_run("launchctl", &["load", "-w", &path.to_string_lossy()]) {
                done.warnings.push(format!(
                    "launchctl could not load {} ({why}); it loads at your next login",
                    path.display()
                ));
            }
        }
    }
    Ok(done)
}

/// Whether an entry of `kind` is installed, in words when it is.
pub fn status(kind: Kind) -> Result<Option<String>> {
    Ok(match kind {
        Kind::Cron => match read_crontab()? {
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
        },
        Kind::Systemd | Kind::Launchd => {
            let present: Vec<String> = files_of(kind)
                .into_iter()
                .filter(|p| fs::symlink_metadata(p).is_ok())
                .map(|p| p.display().to_string())
                .collect();
            (!present.is_empty()).then(|| present.join(", "))
        }
    })
}

/// Removes the entry of `kind`, if there is one.
pub fn remove(kind: Kind, dry_run: bool) -> Result<Done> {
    let mut done = Done::default();
    let did = if dry_run { "would remove" } else { "removed" };
    match kind {
        Kind::Cron => {
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
        }
        Kind::Systemd | Kind::Launchd => {
            let files = files_of(kind);
            if files.iter().all(|f| fs::symlink_metadata(f).is_err()) {
                return Ok(done);
            }
            if !dry_run {
                let stop = match kind {
                    Kind::Systemd => {
                        try_run("systemctl", &["--user", "disable", "--now", "poof.timer"])
                    }
                    _ if cfg!(target_os = "macos") => {
                        try_run("launchctl", &["unload", "-w", &files[0].to_string_lossy()])
                    }
                    _ => Ok(()),
                };
                if let Err(why) = stop
                    && kind == Kind::Systemd
                {
                    done.warnings.push(format!(
                        "systemctl --user could not stop poof.timer ({why}); its files are removed all the same"
                    ));
                }
            }
            for f in &files {
                if fs::symlink_metadata(f).is_ok() {
                    if !dry_run {
                        fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
                    }
                    done.did.push(format!("{did} {}", f.display()));
                }
            }
            if kind == Kind::Systemd && !dry_run {
                let _ = try_run("systemctl", &["--user", "daemon-reload"]);
                // Folders left empty by the removal go too, up to `systemd/`.
                if let Some(dir) = systemd_dir() {
                    for d in [dir.join("timers.target.wants"), dir.clone()]
                        .into_iter()
                        .chain(dir.parent().map(Path::to_path_buf))
                    {
                        let _ = fs::remove_dir(d);
                    }
                }
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            bin: "/opt/po of/poof".into(),
            args: vec![
                "--confdir".into(),
                "/home/j/.config/poof".into(),
                "backup".into(),
            ],
            log: "/home/j/.config/poof/poof.log".into(),
            every: Every::DEFAULT,
        }
    }

    #[test]
    fn intervals_parse_and_map_to_cron() {
        assert_eq!(parse_every("6h"), Ok(Every(21_600)));
        assert_eq!(parse_every("30m"), Ok(Every(1800)));
        assert_eq!(parse_every("1d"), Ok(Every(86_400)));
        for bad in ["", "6", "h", "6x", "0m", "31d", "-1h"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
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
                "{CRON_BEGIN}\n0 */6 * * * '/opt/po of/poof' '--confdir' '/home/j/.config/poof' 'backup' >> '/home/j/.config/poof/poof.log' 2>&1\n{CRON_END}\n"
            )
        );
        let table = format!("MAILTO=me\n{block}5 4 * * * other\n");
        let (rest, found) = strip_cron_block(&table);
        assert!(found);
        assert_eq!(rest, "MAILTO=me\n5 4 * * * other\n");
        assert_eq!(strip_cron_block(&rest), (rest.clone(), false));
        assert_eq!(sh_quote("it's 100%"), "'it'\\''s 100\\%'");
    }

    #[test]
    fn systemd_units_run_backup_and_log() {
        let (service, timer) = systemd_units(&job());
        assert!(service.contains(
            "ExecStart=\"/opt/po of/poof\" \"--confdir\" \"/home/j/.config/poof\" \"backup\"\n"
        ));
        assert!(service.contains("StandardOutput=append:/home/j/.config/poof/poof.log\n"));
        assert!(timer.contains("OnUnitActiveSec=21600s\n"));
        assert!(timer.contains("WantedBy=timers.target\n"));
    }

    #[test]
    fn the_launchd_plist_is_poof_1x_shaped() {
        let mut j = job();
        j.args.push("a<b&c".into());
        let plist = launchd_plist(&j);
        assert!(plist.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist"));
        assert!(plist.contains("<key>Label</key>\n    <string>org.pypi.poof</string>"));
        assert!(plist.contains(
            "<array>\n        <string>/opt/po of/poof</string>\n        <string>--confdir</string>\n        <string>/home/j/.config/poof</string>\n        <string>backup</string>\n        <string>a&lt;b&amp;c</string>\n    </array>"
        ));
        assert!(plist.contains("<key>StartInterval</key>\n    <integer>21600</integer>"));
        assert!(plist.contains(
            "<key>StandardOutPath</key>\n    <string>/home/j/.config/poof/poof.log</string>"
        ));
        assert!(plist.contains("<key>StandardErrorPath</key>"));
        assert!(plist.trim_end().ends_with("</dict>\n</plist>"));
    }
}
