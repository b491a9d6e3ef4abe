//! Timing one child process: wall time, CPU time (user + system) and peak
//! resident memory, read from GNU time (`/usr/bin/time`), plus the facts
//! about the machine and the tools that go into the report.
//!
//! Invariant: the numbers are the child's own (GNU time reports the
//! `rusage` of the process it waited for), and the wall time is measured
//! around the whole child, start to exit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{capture, exec, root};

const GNU_TIME: &str = "/usr/bin/time";

/// What one run of a child cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Wall time, seconds.
    pub wall: f64,
    /// User plus system CPU time, seconds.
    pub cpu: f64,
    /// Peak resident set size, KiB.
    pub rss_kib: u64,
    /// CPU time the S3 server spent meanwhile, seconds.
    pub server_cpu: f64,
    /// After a restore: how long the `sync` run after it, untimed, took to
    /// write what the tool left in the page cache, seconds; 0 otherwise.
    pub flush: f64,
}

/// The median of each field over several samples (each field on its own).
pub fn median(samples: &[Sample]) -> Sample {
    let med = |f: fn(&Sample) -> f64| {
        let mut v: Vec<f64> = samples.iter().map(f).collect();
        median_of(&mut v)
    };
    Sample {
        wall: med(|s| s.wall),
        cpu: med(|s| s.cpu),
        server_cpu: med(|s| s.server_cpu),
        flush: med(|s| s.flush),
        // The worst case is what a memory target is about.
        rss_kib: samples.iter().map(|s| s.rss_kib).max().unwrap_or(0),
    }
}

/// The median of `v` (the mean of the middle two for an even count); 0 when empty.
pub fn median_of(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Makes sure GNU time is installed (Debian's package `time`, installed with
/// apt-get when missing and running as root); returns its path.
pub fn ensure_gnu_time() -> Result<PathBuf> {
    let works = || {
        Command::new(GNU_TIME)
            .args(["-f", "%e", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !works() {
        let uid = capture(Command::new("id").arg("-u")).unwrap_or_default();
        if uid.trim() != "0" {
            bail!("{GNU_TIME} is missing; install GNU time (Debian: apt-get install time)");
        }
        exec(Command::new("apt-get").args(["install", "-y", "-q", "time"]))
            .context("installing GNU time with apt-get")?;
        if !works() {
            bail!("{GNU_TIME} still does not work after installing the package `time`");
        }
    }
    Ok(PathBuf::from(GNU_TIME))
}

/// Runs `cmd` under GNU time with its output in `log` (stdout) and
/// `log.err` (stderr); returns what it cost and its standard output.
/// Fails, showing the end of its stderr, when it fails.
pub fn timed(cmd: &Command, log: &Path) -> Result<(Sample, String)> {
    let usage = log.with_extension("time");
    let err = log.with_extension("err");
    let mut run = Command::new(GNU_TIME);
    run.args(["-f", "%e %U %S %M", "-o"])
        .arg(&usage)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log)?)
        .stderr(std::fs::File::create(&err)?);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => run.env(k, v),
            None => run.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        run.current_dir(dir);
    }
    let started = Instant::now();
    let status = run
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let wall = started.elapsed().as_secs_f64();
    let stdout = std::fs::read_to_string(log).unwrap_or_default();
    if !status.success() {
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        bail!(
            "{cmd:?} failed with {status}; the end of its stderr ({}):\n{}",
            err.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let text = std::fs::read_to_string(&usage)?;
    // GNU time may put "Command exited with ..." first; the numbers are last.
    let line = text.lines().last().unwrap_or_default();
    let f: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| -> Result<f64> {
        f.get(i)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("cannot read GNU time's output {line:?}"))
    };
    Ok((
        Sample {
            wall,
            cpu: num(1)? + num(2)?,
            rss_kib: num(3)? as u64,
            server_cpu: 0.0,
            flush: 0.0,
        },
        stdout,
    ))
}

/// The facts about the machine and the tools that make a result reproducible.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// CPUs online.
    pub nproc: String,
    /// The CPU's model name.
    pub cpu: String,
    /// Total memory.
    pub memory: String,
    /// The kernel.
    pub kernel: String,
    /// The load average when the benchmark started (other work skews it).
    pub load: String,
    /// `poof version`'s first line.
    pub poof: String,
    /// `rclone version`'s first line.
    pub rclone: String,
    /// `s5cmd version`, when it is installed.
    pub s5cmd: Option<String>,
    /// `garage --version`.
    pub garage: String,
    /// `rustc -V`.
    pub rustc: String,
    /// The date and time, UTC.
    pub date: String,
    /// The commit the workspace is at, with `+changes` when it has uncommitted changes.
    pub commit: String,
}

/// Collects the facts.
pub fn facts(poof: &Path, rclone: &Path, s5cmd: Option<&Path>, garage: &str) -> Facts {
    let first_line = |cmd: &mut Command| {
        capture(cmd)
            .ok()
            .and_then(|s| s.lines().next().map(|l| l.trim().to_string()))
            .unwrap_or_else(|| "unknown".into())
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let mem_kib: f64 = field(&meminfo, "MemTotal")
        .trim_end_matches(" kB")
        .parse()
        .unwrap_or(0.0);
    let dirty = capture(
        Command::new("git")
            .current_dir(root())
            .args(["status", "--porcelain"]),
    )
    .map(|s| !s.trim().is_empty())
    .unwrap_or(false);
    Facts {
        nproc: first_line(&mut Command::new("nproc")),
        cpu: field(&cpuinfo, "model name"),
        memory: format!("{:.1} GiB", mem_kib / 1024.0 / 1024.0),
        kernel: first_line(Command::new("uname").arg("-r")),
        load: std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "unknown".into()),
        poof: first_line(Command::new(poof).arg("version")),
        rclone: first_line(Command::new(rclone).arg("version")),
        s5cmd: s5cmd.map(|p| first_line(Command::new(p).arg("version"))),
        garage: first_line(Command::new(garage).arg("--version")),
        rustc: first_line(Command::new("rustc").arg("-V")),
        date: first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
        commit: format!(
            "{}{}",
            first_line(Command::new("git").current_dir(root()).args([
                "rev-parse",
                "--short",
                "HEAD"
            ])),
            if dirty { "+changes" } else { "" }
        ),
    }
}
