//! The scale rows (data set D): how the no-op re-sync's time and poof's
//! peak memory grow with the number of files, at three sizes of one tree.
//!
//! poof only: rclone's no-op re-sync of 100,000 files took about 60 s
//! here (docs/BENCHMARKS.md, notes), which would make the run long without
//! saying anything about poof's growth.

use anyhow::{Result, bail};

use super::data::DataSet;
use super::measure::{Sample, median};
use super::tools::{Copied, Garage, Job, Mode, Tool, Tools};

/// The sizes measured: the first `n` files of D.
pub fn steps(smoke: bool) -> [usize; 3] {
    if smoke {
        [100, 500, 1_000]
    } else {
        [20_000, 100_000, 200_000]
    }
}

/// One size of the tree.
#[derive(Debug, Clone)]
pub struct ScaleRow {
    /// Files synced.
    pub files: usize,
    /// The first upload into an empty bucket.
    pub upload: Sample,
    /// Each no-op re-sync after it.
    pub noop: Vec<Sample>,
}

impl ScaleRow {
    /// The no-op re-syncs' medians (the highest peak memory).
    pub fn noop(&self) -> Sample {
        median(&self.noop)
    }
}

/// Uploads the first `n` files of `set` into a new bucket for each size,
/// then re-syncs `runs` times with nothing changed.
pub fn run(
    garage: &Garage,
    tools: &Tools,
    set: &DataSet,
    smoke: bool,
    runs: usize,
) -> Result<Vec<ScaleRow>> {
    let mut rows = Vec::new();
    for n in steps(smoke) {
        let dir = set.first(n)?;
        let bucket = format!("bench-d-{n}");
        garage.create_bucket(&bucket)?;
        let job = Job {
            tool: Tool::Poof,
            mode: Mode::Plain,
            bucket: &bucket,
            cloud: set.name,
        };
        let sync = |log: String, expect: usize| -> Result<Sample> {
            let (sample, copied) = tools.sync(&job, false, &dir, &log)?;
            if let Copied(Some(c)) = copied
                && c != expect as u64
            {
                bail!(
                    "D {n}: poof copied {c} files, not {expect} (see {})",
                    tools.log(&log).display()
                );
            }
            eprintln!(
                "bench: D {n} files {log}: {:.2} s wall, {:.2} s CPU, {:.0} MiB",
                sample.wall,
                sample.cpu,
                sample.rss_kib as f64 / 1024.0
            );
            Ok(sample)
        };
        let upload = sync(format!("d-{n}-upload"), n)?;
        let noop = (0..runs)
            .map(|r| sync(format!("d-{n}-noop-r{}", r + 1), 0))
            .collect::<Result<Vec<_>>>()?;
        rows.push(ScaleRow {
            files: n,
            upload,
            noop,
        });
    }
    Ok(rows)
}
