//! `cargo xtask bench`: poof against rclone, and against s5cmd on the plain
//! rows, side by side, on one Garage node on loopback, and
//! `docs/BENCHMARKS.md` written from the result.
//!
//! For each data set (see `data`), each run, and each tool in turn (the order
//! rotates every run): a full upload into a fresh bucket, a no-op re-sync, a
//! re-sync after 1% of the files changed, and a full restore into an empty
//! folder, checked against the source. Around that: the ceiling (one PUT and
//! one GET stream of 256 MiB without poof, the disk's read speed) and
//! `poof version`'s cold start. `--smoke` runs everything once on tiny data
//! and writes no docs, so CI keeps the benchmark working; nor does a run of
//! only some data sets (`--sets`).
//!
//! Invariant: all tools get the same data, server, transfers count and
//! conditions; every timed run is checked to have done its work (poof's
//! `--json` summary counts and s5cmd's `--json` lines, restored trees
//! compared with the source), so a fast wrong answer never counts.

mod data;
mod measure;
mod report;
mod scale;
pub(crate) mod tools;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use crate::{build, root, test};
use data::DataSet;
use measure::Sample;
use tools::{Copied, Garage, Job, Mode, Tool, Tools};

/// How to run the benchmark, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tiny data sets, one run, no docs.
    pub smoke: bool,
    /// Runs per row.
    pub runs: usize,
    /// Files transferred at once, by every tool.
    pub transfers: u16,
    /// Data sets to run (`A`, `B`, `C`, and `D` for the scale rows); all
    /// by default.
    pub sets: Vec<String>,
    /// A poof binary to measure instead of building one (`--poof PATH`).
    pub poof: Option<PathBuf>,
}

const USAGE: &str =
    "usage: cargo xtask bench [--smoke] [--runs N] [--transfers N] [--sets A,B,C,D] [--poof PATH]";

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut o = Options {
            smoke: false,
            runs: 3,
            transfers: 8,
            sets: vec!["A".into(), "B".into(), "C".into(), "D".into()],
            poof: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || {
                it.next()
                    .with_context(|| format!("{a} needs a value; {USAGE}"))
            };
            match a.as_str() {
                "--smoke" => o.smoke = true,
                "--runs" => o.runs = value()?.parse().context("--runs takes a number")?,
                "--transfers" => {
                    o.transfers = value()?.parse().context("--transfers takes a number")?;
                }
                "--sets" => {
                    o.sets = value()?
                        .split(',')
                        .map(|s| s.trim().to_uppercase())
                        .collect();
                }
                "--poof" => o.poof = Some(PathBuf::from(value()?)),
                _ => bail!("unknown argument {a:?}; {USAGE}"),
            }
        }
        if o.runs == 0 || o.transfers == 0 {
            bail!("--runs and --transfers must be at least 1");
        }
        if o.smoke {
            o.runs = 1;
        }
        Ok(o)
    }
}

/// The four timed steps of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Everything into an empty bucket.
    Upload,
    /// Again, with nothing changed.
    NoOp,
    /// Again, after 1% of the files changed.
    Change,
    /// Everything back into an empty folder.
    Restore,
}

impl Step {
    const ALL: [Step; 4] = [Step::Upload, Step::NoOp, Step::Change, Step::Restore];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Step::Upload => "full upload",
            Step::NoOp => "no-op re-sync",
            Step::Change => "re-sync, 1% changed",
            Step::Restore => "full restore",
        }
    }
}

/// Every sample of one step of one data set, per tool.
#[derive(Debug, Clone)]
pub struct Row {
    /// The data set.
    pub set: &'static str,
    /// Plain or encrypted.
    pub mode: Mode,
    /// The step.
    pub step: Step,
    /// poof's samples, one per run.
    pub poof: Vec<Sample>,
    /// rclone's samples, one per run.
    pub rclone: Vec<Sample>,
    /// s5cmd's samples, one per run (plain rows, when it is installed).
    pub s5cmd: Vec<Sample>,
}

/// The ceiling: what the server and the disk can do without poof.
#[derive(Debug, Clone, Default)]
pub struct Ceiling {
    /// Size of the object, bytes.
    pub bytes: u64,
    /// One PUT stream, MB/s (median).
    pub put_mbs: f64,
    /// One GET stream, MB/s (median).
    pub get_mbs: f64,
    /// Reading the A files through the page cache, MB/s.
    pub cached_read_mbs: f64,
    /// Reading the A files with `O_DIRECT` (the device), MB/s, when it works.
    pub direct_read_mbs: Option<f64>,
}

/// Everything one benchmark run found.
#[derive(Debug, Clone)]
pub struct Results {
    /// How it was run.
    pub opts: Options,
    /// The data sets.
    pub sets: Vec<(&'static str, String, u64)>,
    /// The timed rows.
    pub rows: Vec<Row>,
    /// The scale rows (data set D), smallest first.
    pub scale: Vec<scale::ScaleRow>,
    /// The ceiling.
    pub ceiling: Ceiling,
    /// `poof version` wall times, ms, in order.
    pub version_ms: Vec<f64>,
    /// Why there are no encrypted rows, if there are none.
    pub encrypted_note: Option<String>,
    /// The machine and the versions.
    pub facts: measure::Facts,
    /// rclone's flags, for the report.
    pub rclone_flags: String,
    /// s5cmd's global flags, for the report.
    pub s5cmd_flags: String,
    /// Why there are no s5cmd columns, if there are none.
    pub s5cmd_note: Option<String>,
}

/// Runs the benchmark with the given arguments (those after `bench`).
pub fn run(args: &[String]) -> Result<()> {
    let opts = Options::parse(args)?;
    let started = Instant::now();
    measure::ensure_gnu_time()?;
    let built = match &opts.poof {
        Some(p) => p
            .canonicalize()
            .with_context(|| format!("{}", p.display()))?,
        None => build::run(true)?,
    };
    let rclone = test::ensure_rclone()?;
    let (s5cmd, s5cmd_note) = match tools::ensure_s5cmd() {
        Ok(p) => (Some(p), None),
        // The suite runs the smoke mode: there, a peer that cannot be
        // installed is a failure to see, not a column to drop quietly.
        Err(e) if opts.smoke => return Err(e.context("the smoke run measures s5cmd too")),
        Err(e) => {
            eprintln!("bench: s5cmd could not be installed, so its columns are left out: {e:#}");
            (
                None,
                Some(format!(
                    "s5cmd: not measured, it could not be installed ({e:#})"
                )),
            )
        }
    };
    let base = root().join("target/bench-data");
    let sets: Vec<DataSet> = data::sets(&base, opts.smoke)
        .into_iter()
        .filter(|s| opts.sets.iter().any(|n| n == s.name))
        .collect();
    let scale = opts
        .sets
        .iter()
        .any(|n| n == "D")
        .then(|| data::scale(&base, opts.smoke));
    if sets.is_empty() && scale.is_none() {
        bail!("no data set selected; {USAGE}");
    }
    for s in sets.iter().chain(&scale) {
        s.ensure()?;
    }
    let garage = Garage::start()?;
    let work = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&base)
        .context("creating the benchmark's scratch folder")?;
    // A copy, so that a build running meanwhile cannot swap the binary mid-run.
    let poof = work.path().join("poof");
    std::fs::copy(&built, &poof).with_context(|| format!("copying {}", built.display()))?;
    let tools = Tools::new(
        (poof.clone(), rclone.clone(), s5cmd.clone()),
        opts.transfers,
        work.path().to_path_buf(),
        &garage,
    )?;
    let mut results = Results {
        opts: opts.clone(),
        sets: sets
            .iter()
            .chain(&scale)
            .map(|s| (s.name, s.what.clone(), s.bytes()))
            .collect(),
        rows: Vec::new(),
        scale: Vec::new(),
        ceiling: Ceiling::default(),
        version_ms: Vec::new(),
        encrypted_note: None,
        facts: measure::facts(&poof, &rclone, s5cmd.as_deref(), garage.binary()?),
        rclone_flags: tools.rclone_sync_flags(),
        s5cmd_flags: tools.s5cmd_sync_flags(),
        s5cmd_note,
    };
    let outcome = measure_all(&opts, &sets, &garage, &tools, &mut results).and_then(|()| {
        if let Some(d) = &scale {
            results.scale = scale::run(&garage, &tools, d, opts.smoke, opts.runs.max(3))?;
        }
        Ok(())
    });
    if let Err(e) = outcome {
        let kept = work.keep();
        return Err(e.context(format!("the logs are kept in {}", kept.display())));
    }
    drop(garage);

    let text = report::render(&results);
    println!("\n{text}");
    if opts.smoke || opts.sets.len() < 4 {
        eprintln!(
            "bench: {} run done in {:.0} s (docs/BENCHMARKS.md is only written by a full run)",
            if opts.smoke { "smoke" } else { "partial" },
            started.elapsed().as_secs_f64()
        );
    } else {
        let path = root().join("docs/BENCHMARKS.md");
        report::write(&path, &text)?;
        eprintln!(
            "bench: done in {:.0} s; wrote {}",
            started.elapsed().as_secs_f64(),
            path.display()
        );
    }
    Ok(())
}

/// The smoke run CI does: tiny data, one run, no docs.
pub fn smoke() -> Result<()> {
    run(&["--smoke".to_string()])
}

fn measure_all(
    opts: &Options,
    sets: &[DataSet],
    garage: &Garage,
    tools: &Tools,
    results: &mut Results,
) -> Result<()> {
    if sets.is_empty() {
        return Ok(());
    }
    for s in sets {
        let (bytes, secs) = s.read_all()?;
        eprintln!(
            "bench: read set {} once ({:.0} MB/s), so every tool finds it in the page cache",
            s.name,
            bytes as f64 / secs / 1e6
        );
    }
    results.version_ms = version_cold_start(tools, opts.runs * 10)?;
    let first_a = sets
        .iter()
        .find(|s| s.name == "A")
        .unwrap_or(&sets[0])
        .clone();
    results.ceiling = ceiling(opts, &first_a, garage, tools)?;
    warm_up(&first_a, garage, tools)?;

    let mut modes = vec![Mode::Plain];
    if tools::poof_can_encrypt(&tools.poof) {
        modes.push(Mode::Encrypted);
    } else {
        results.encrypted_note =
            Some("encrypted rows: not yet available (this poof has no `econfig` command)".into());
        eprintln!("bench: encrypted rows: not yet available");
    }
    for mode in modes {
        for set in sets {
            // Restored trees stay until the set's runs are over: ext4 passes
            // over the inodes of files deleted within the last minute or more
            // when it creates files (`recently_deleted`, seen with `perf`), so
            // deleting one tool's restore made the next one's up to three
            // times as costly in CPU, whichever tool came next.
            let mut restored = Vec::new();
            for run in 0..opts.runs {
                let outcome = run_set(
                    garage,
                    tools,
                    set,
                    mode,
                    run,
                    &mut results.rows,
                    &mut restored,
                );
                if mode == Mode::Encrypted
                    && let Err(e) = &outcome
                {
                    // poof's encryption is new: report, and keep the plain rows.
                    results.encrypted_note = Some(format!("encrypted rows failed: {e:#}"));
                    results.rows.retain(|r| r.mode == Mode::Plain);
                    eprintln!("bench: encrypted rows failed: {e:#}");
                    return Ok(());
                }
                outcome?;
            }
            for dest in restored {
                std::fs::remove_dir_all(&dest)
                    .with_context(|| format!("removing {}", dest.display()))?;
            }
        }
    }
    Ok(())
}

/// Runs `sync`: everything the machine holds unwritten goes to disk.
/// Returns how long that took, in seconds.
fn write_back_all() -> Result<f64> {
    let started = std::time::Instant::now();
    let synced = Command::new("sync").status().context("running sync")?;
    ensure!(synced.success(), "sync failed: {synced}");
    Ok(started.elapsed().as_secs_f64())
}

/// Drops a written tree's files from the page cache (`posix_fadvise`
/// `DONTNEED`, through Python's `os`, which the benchmark already needs for
/// its tools' virtual environments; xtask has no unsafe code).
fn drop_from_page_cache(dir: &std::path::Path) -> Result<()> {
    const DROP: &str = "import os, sys\n\
        for d, _, fs in os.walk(sys.argv[1]):\n\
        \x20   for f in fs:\n\
        \x20       fd = os.open(os.path.join(d, f), os.O_RDONLY)\n\
        \x20       os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)\n\
        \x20       os.close(fd)\n";
    let status = Command::new("python3")
        .args(["-c", DROP])
        .arg(dir)
        .status()
        .context("running python3")?;
    ensure!(
        status.success(),
        "dropping {} from the page cache failed",
        dir.display()
    );
    Ok(())
}

/// One run of the four steps on one data set, every tool (s5cmd on the
/// plain rows only); the folders restored into are added to `restored`.
fn run_set(
    garage: &Garage,
    tools: &Tools,
    set: &DataSet,
    mode: Mode,
    run: usize,
    rows: &mut Vec<Row>,
    restored: &mut Vec<std::path::PathBuf>,
) -> Result<()> {
    let mut order = vec![Tool::Poof, Tool::Rclone];
    if mode == Mode::Plain && tools.s5cmd.is_some() {
        order.push(Tool::S5cmd);
    }
    // Each tool goes first in turn (with two tools: they swap every run).
    let first = run % order.len();
    order.rotate_left(first);
    let label = |tool: Tool| {
        format!(
            "{}-{}-{}-r{}",
            set.name.to_lowercase(),
            mode.name(),
            tool.name(),
            run + 1
        )
    };
    let bucket = |tool: Tool| format!("bench-{}", label(tool));
    for &tool in &order {
        garage.create_bucket(&bucket(tool))?;
    }
    let n = set.files.len() as u64;
    let mut changed = Vec::new();
    for step in Step::ALL {
        if step == Step::Change {
            changed = set.change(run as u64)?;
        }
        for &tool in &order {
            let log = format!("{}-{step:?}", label(tool));
            let bucket = bucket(tool);
            let job = Job {
                tool,
                mode,
                bucket: &bucket,
                cloud: set.name,
            };
            if step == Step::Restore {
                // What earlier steps left unwritten (Garage's new objects) is
                // written first, so that the `sync` after the restore times
                // only what the restore left.
                write_back_all()?;
            }
            let server_before = garage.cpu_seconds();
            let (mut sample, copied, expect) = if step == Step::Restore {
                let dest = tools.work.join(format!("restore-{}", label(tool)));
                let (mut s, c) = tools.sync(&job, true, &dest, &log)?;
                // s5cmd gives restored files the objects' upload times.
                set.check_copy(&dest, &changed, tool != Tool::S5cmd)
                    .with_context(|| format!("{} restored {} wrongly", tool.name(), set.name))?;
                // What the tool left unwritten (rclone and s5cmd do not sync
                // files; poof does) is written now, outside every timed step,
                // instead of during the next tool's; then the tree leaves the
                // page cache, so that kept trees do not crowd the next steps'
                // memory (with 1 GiB trees kept in it, every tool's restore of
                // A took 2 to 5 times the CPU, reclaiming pages).
                s.flush = write_back_all()?;
                drop_from_page_cache(&dest)?;
                restored.push(dest);
                (s, c, n)
            } else {
                let (s, c) = tools.sync(&job, false, &set.dir, &log)?;
                let expect = match step {
                    Step::NoOp => 0,
                    Step::Change => changed.len() as u64,
                    _ => n,
                };
                (s, c, expect)
            };
            sample.server_cpu = garage.cpu_seconds() - server_before;
            if let Copied(Some(c)) = copied
                && c != expect
            {
                bail!(
                    "{} {}: {} copied {c} files, not {expect} (see {})",
                    set.name,
                    step.name(),
                    tool.name(),
                    tools.log(&log).display()
                );
            }
            eprintln!(
                "bench: {} {} {} run {}: {} {:.2} s wall, {:.2} s CPU, {:.0} MiB; Garage {:.2} s CPU{}",
                set.name,
                mode.name(),
                step.name(),
                run + 1,
                tool.name(),
                sample.wall,
                sample.cpu,
                sample.rss_kib as f64 / 1024.0,
                sample.server_cpu,
                if step == Step::Restore {
                    format!("; then sync {:.2} s", sample.flush)
                } else {
                    String::new()
                }
            );
            record(rows, set.name, mode, step, tool, sample);
        }
    }
    set.revert(&changed)
}

fn record(rows: &mut Vec<Row>, set: &'static str, mode: Mode, step: Step, tool: Tool, s: Sample) {
    let i = match rows
        .iter()
        .position(|r| r.set == set && r.mode == mode && r.step == step)
    {
        Some(i) => i,
        None => {
            rows.push(Row {
                set,
                mode,
                step,
                poof: Vec::new(),
                rclone: Vec::new(),
                s5cmd: Vec::new(),
            });
            rows.len() - 1
        }
    };
    match tool {
        Tool::Poof => rows[i].poof.push(s),
        Tool::Rclone => rows[i].rclone.push(s),
        Tool::S5cmd => rows[i].s5cmd.push(s),
    }
}

/// `poof version`, `n` times, each a new process; wall times in ms.
fn version_cold_start(tools: &Tools, n: usize) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut cmd = tools.poof_cmd(&tools.work);
        cmd.arg("version");
        let t = Instant::now();
        let o = cmd.output()?;
        out.push(t.elapsed().as_secs_f64() * 1e3);
        if !o.status.success() {
            bail!(
                "poof version failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    Ok(out)
}

/// One PUT and one GET stream of the set's first file, with rclone and no
/// parallelism (a single PUT, no multi-thread download), plus the disk's
/// read speed over the set.
fn ceiling(opts: &Options, set: &DataSet, garage: &Garage, tools: &Tools) -> Result<Ceiling> {
    let file = set.dir.join(&set.files[0].rel);
    let bytes = set.files[0].size;
    let bucket = "bench-ceiling";
    garage.create_bucket(bucket)?;
    let object = format!("poof-backup:{bucket}/object");
    let fetched = tools.work.join("ceiling-get.bin");
    let (mut put, mut get) = (Vec::new(), Vec::new());
    for run in 0..opts.runs {
        let mut cmd = tools.rclone_cmd();
        cmd.arg("copyto")
            .arg(&file)
            .arg(&object)
            .args(["--transfers", "1", "--s3-upload-cutoff", "5G"])
            // Without --ignore-times, the second run would find the object
            // already there and send nothing.
            .args(["--s3-disable-checksum", "--ignore-times"]);
        let (s, _) = measure::timed(&cmd, &tools.log(&format!("ceiling-put-r{run}")))?;
        put.push(bytes as f64 / s.wall / 1e6);
        let mut cmd = tools.rclone_cmd();
        cmd.arg("copyto")
            .arg(&object)
            .arg(&fetched)
            .args(["--transfers", "1", "--multi-thread-streams", "0"])
            .args(["--ignore-checksum", "--ignore-times"]);
        let (s, _) = measure::timed(&cmd, &tools.log(&format!("ceiling-get-r{run}")))?;
        get.push(bytes as f64 / s.wall / 1e6);
        std::fs::remove_file(&fetched)?;
    }
    let (cached_read_mbs, direct_read_mbs) = disk_read(set)?;
    let c = Ceiling {
        bytes,
        put_mbs: measure::median_of(&mut put),
        get_mbs: measure::median_of(&mut get),
        cached_read_mbs,
        direct_read_mbs,
    };
    eprintln!("bench: ceiling {c:?}");
    Ok(c)
}

/// Writes `set` once, untimed, into a bucket of its own that stays: a
/// fresh Garage spends about 2 CPU-seconds more on the first GiB written
/// to it than on the next, whichever tool writes it (1 GiB of set A into
/// new buckets, four uploads in turn, twice: the first took 8.4 and 8.8
/// Garage CPU-s and 7.1 and 7.2 s, the others 5.8 to 7.0 CPU-s and 5.0 to
/// 6.2 s), and the first timed step is always poof's. Kept rather than
/// deleted, so that no deletion's work falls into a timed step.
fn warm_up(set: &DataSet, garage: &Garage, tools: &Tools) -> Result<()> {
    let bucket = "bench-warm-up";
    garage.create_bucket(bucket)?;
    let mut cmd = tools.rclone_cmd();
    cmd.arg("copy")
        .arg(&set.dir)
        .arg(format!("poof-backup:{bucket}/{}", set.name))
        .args(["--transfers", "8"]);
    let (s, _) = measure::timed(&cmd, &tools.log("warm-up"))?;
    eprintln!(
        "bench: warmed the server up with set {} ({:.1} s, untimed)",
        set.name, s.wall
    );
    Ok(())
}

/// The set's read speed through the page cache (it was just read, so it is
/// cached), and with `O_DIRECT` (the device itself) where the file system
/// allows it; MB/s.
fn disk_read(set: &DataSet) -> Result<(f64, Option<f64>)> {
    let (bytes, secs) = set.read_all()?;
    let cached = bytes as f64 / secs / 1e6;
    let mut raw = vec![0u8; 4 << 20];
    // O_DIRECT wants the buffer aligned to the block size; 4 KiB covers it.
    let skip = (4096 - raw.as_ptr() as usize % 4096) % 4096;
    let buf = &mut raw[skip..skip + (1 << 20)];
    let t = Instant::now();
    let mut total = 0;
    for f in &set.files {
        match data::read_through(&set.dir.join(&f.rel), buf, true) {
            Ok(n) => total += n,
            Err(e) => {
                eprintln!("bench: O_DIRECT read not possible here: {e:#}");
                return Ok((cached, None));
            }
        }
    }
    Ok((cached, Some(total as f64 / t.elapsed().as_secs_f64() / 1e6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_its_flags() {
        let a = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let o = Options::parse(&a("--runs 5 --transfers 16 --sets a,c")).unwrap();
        assert_eq!((o.runs, o.transfers), (5, 16));
        assert_eq!(o.sets, ["A", "C"]);
        assert_eq!(Options::parse(&a("--smoke --runs 5")).unwrap().runs, 1);
        assert!(Options::parse(&a("--runs")).is_err());
        assert!(Options::parse(&a("--bogus")).is_err());
    }
}
