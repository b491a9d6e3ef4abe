//! The benchmark's data sets, generated deterministically under
//! `target/bench-data` and reused while they are intact.
//!
//! Invariant: a file's content and modification time depend only on the
//! set's parameters and the file's index, so every run (and every machine)
//! syncs the same bytes. A set is regenerated when its manifest (a hash of
//! the generation parameters) does not match; a single file whose size or
//! modification time is off (a run stopped between `change` and `revert`)
//! is rewritten alone.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// Bumped whenever the generator changes, so old sets are regenerated.
const GENERATOR: &str = "poof-bench-data v1 splitmix64";
/// Modification time of file 0 of every set (2023-11-14); file `i` gets `i` seconds more.
const BASE_MTIME: u64 = 1_700_000_000;
/// Modification time of a changed file (2027-01-15), plus the run number.
const CHANGED_MTIME: u64 = 1_800_000_000;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// One file of a data set.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// Path relative to the set's folder.
    pub rel: String,
    /// Size in bytes.
    pub size: u64,
    /// Seed of its content.
    seed: u64,
    /// Its modification time, seconds since the epoch.
    mtime: u64,
}

/// A data set: a folder of files with deterministic content.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// `A`, `B` or `C`; also the cloud folder name it is synced to.
    pub name: &'static str,
    /// What it is, for the report (e.g. `4 × 256 MiB`).
    pub what: String,
    /// The folder that holds the files (and nothing else).
    pub dir: PathBuf,
    /// Every file, in index order.
    pub files: Vec<FileSpec>,
}

/// The three data sets, full size or tiny (`smoke`), under `base`.
pub fn sets(base: &Path, smoke: bool) -> Vec<DataSet> {
    let (a, b, c) = if smoke {
        ((2, 4 * MIB), 200_usize, 50)
    } else {
        ((4, 256 * MIB), 10_000, 2_000)
    };
    let base = if smoke {
        base.join("smoke")
    } else {
        base.to_path_buf()
    };
    let mut rng = SplitMix(0x5eed_c0de);
    let c_sizes: Vec<u64> = (0..c)
        .map(|_| {
            // Log-uniform from 1 KiB to 8 MiB.
            let u = rng.next() as f64 / u64::MAX as f64;
            ((KIB as f64).ln() + u * ((8 * MIB) as f64 / KIB as f64).ln()).exp() as u64
        })
        .collect();
    vec![
        DataSet::new(
            "A",
            format!("{} × {} MiB", a.0, a.1 / MIB),
            &base,
            (0..a.0).map(|i| (format!("big-{i}.bin"), a.1)).collect(),
        ),
        DataSet::new(
            "B",
            format!("{b} × 4 KiB in {} folders", b.div_ceil(100)),
            &base,
            (0..b)
                .map(|i| (format!("d{:03}/f{i:05}.bin", i / 100), 4 * KIB))
                .collect(),
        ),
        DataSet::new(
            "C",
            format!("{c} files, 1 KiB to 8 MiB log-uniform in 20 folders"),
            &base,
            c_sizes
                .iter()
                .enumerate()
                .map(|(i, &s)| (format!("d{:02}/c{i:04}.bin", i % 20), s))
                .collect(),
        ),
    ]
}

/// Data set D, for the scale rows: `n` files of 1 KiB in folders of 1,000
/// (`d000/f000000.bin`), 200,000 at full size.
pub fn scale(base: &Path, smoke: bool) -> DataSet {
    let (n, base) = if smoke {
        (1_000_usize, base.join("smoke"))
    } else {
        (200_000, base.to_path_buf())
    };
    DataSet::new(
        "D",
        format!("{n} × 1 KiB in folders of 1,000"),
        &base,
        (0..n)
            .map(|i| (format!("d{:03}/f{i:06}.bin", i / 1000), KIB))
            .collect(),
    )
}

impl DataSet {
    /// A folder beside the set's that holds its first `n` files (hard
    /// links, so it costs no space), made again unless it holds exactly
    /// those; the set's own folder when `n` is all of them.
    pub fn first(&self, n: usize) -> Result<PathBuf> {
        if n >= self.files.len() {
            return Ok(self.dir.clone());
        }
        let dir = self.dir.with_file_name(format!("{}-first-{n}", self.name));
        let intact = count_files(&dir) == n
            && self.files[..n].iter().all(|f| {
                let (a, b) = (dir.join(&f.rel), self.dir.join(&f.rel));
                use std::os::unix::fs::MetadataExt;
                matches!((std::fs::metadata(a), std::fs::metadata(b)),
                    (Ok(x), Ok(y)) if x.ino() == y.ino())
            });
        if intact {
            return Ok(dir);
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        for f in &self.files[..n] {
            let to = dir.join(&f.rel);
            std::fs::create_dir_all(to.parent().expect("files live in the set's folder"))?;
            std::fs::hard_link(self.dir.join(&f.rel), &to)
                .with_context(|| format!("linking {}", to.display()))?;
        }
        Ok(dir)
    }

    fn new(name: &'static str, what: String, base: &Path, files: Vec<(String, u64)>) -> Self {
        let files = files
            .into_iter()
            .enumerate()
            .map(|(i, (rel, size))| FileSpec {
                seed: seed_of(name, i as u64),
                mtime: BASE_MTIME + i as u64,
                rel,
                size,
            })
            .collect();
        DataSet {
            name,
            what,
            dir: base.join(name),
            files,
        }
    }

    /// The total size of the set's files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    fn manifest_path(&self) -> PathBuf {
        self.dir.with_extension("manifest")
    }

    fn params_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(GENERATOR);
        for f in &self.files {
            h.update(format!("\n{} {} {} {}", f.rel, f.size, f.seed, f.mtime));
        }
        hex::encode(h.finalize())
    }

    /// Makes the set's folder hold exactly the set's files; reuses what is
    /// there when the manifest matches.
    pub fn ensure(&self) -> Result<()> {
        let want = self.params_hash();
        let have = std::fs::read_to_string(self.manifest_path()).unwrap_or_default();
        if have.trim() == want && count_files(&self.dir) == self.files.len() {
            let mut fixed = 0;
            for f in &self.files {
                if !self.intact(f) {
                    self.write(f, f.seed, f.mtime)?;
                    fixed += 1;
                }
            }
            eprintln!(
                "bench: data set {} reused from {} ({fixed} files rewritten)",
                self.name,
                self.dir.display()
            );
            return Ok(());
        }
        eprintln!(
            "bench: generating data set {} ({}) in {}",
            self.name,
            self.what,
            self.dir.display()
        );
        let _ = std::fs::remove_file(self.manifest_path());
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("removing {}", self.dir.display()))?;
        }
        for f in &self.files {
            self.write(f, f.seed, f.mtime)?;
        }
        std::fs::write(self.manifest_path(), format!("{want}\n"))?;
        Ok(())
    }

    fn intact(&self, f: &FileSpec) -> bool {
        std::fs::metadata(self.dir.join(&f.rel)).is_ok_and(|m| {
            m.len() == f.size
                && m.modified().ok() == Some(UNIX_EPOCH + Duration::from_secs(f.mtime))
        })
    }

    /// Rewrites 1% of the files (at least one) with new content of the same
    /// size and a new modification time; returns their indices.
    pub fn change(&self, run: u64) -> Result<Vec<usize>> {
        let n = self.files.len();
        let k = n.div_ceil(100).max(1);
        let picked: Vec<usize> = (0..k).map(|j| j * n / k).collect();
        for &i in &picked {
            let f = &self.files[i];
            self.write(f, f.seed ^ 0xc4a9_6e00 ^ run, CHANGED_MTIME + run)?;
        }
        Ok(picked)
    }

    /// Puts the files `change` rewrote back as they were generated.
    pub fn revert(&self, changed: &[usize]) -> Result<()> {
        for &i in changed {
            let f = &self.files[i];
            self.write(f, f.seed, f.mtime)?;
        }
        Ok(())
    }

    /// Reads every file once (so that both tools find the set in the page
    /// cache); returns the bytes read and the seconds it took.
    pub fn read_all(&self) -> Result<(u64, f64)> {
        let started = std::time::Instant::now();
        let mut buf = vec![0u8; MIB as usize];
        let mut total = 0;
        for f in &self.files {
            total += read_through(&self.dir.join(&f.rel), &mut buf, false)?;
        }
        Ok((total, started.elapsed().as_secs_f64()))
    }

    /// Fails unless `dir` holds the set's files with the same sizes and
    /// modification times as the set's folder, and the same bytes for the
    /// files in `check_bytes`; without `times` (a tool that does not keep
    /// modification times, like s5cmd), the same sizes and the same bytes
    /// for every file.
    pub fn check_copy(&self, dir: &Path, check_bytes: &[usize], times: bool) -> Result<()> {
        let found = count_files(dir);
        if found != self.files.len() {
            bail!(
                "{} holds {found} files, not {}",
                dir.display(),
                self.files.len()
            );
        }
        for (i, f) in self.files.iter().enumerate() {
            let (a, b) = (self.dir.join(&f.rel), dir.join(&f.rel));
            let (ma, mb) = (std::fs::metadata(&a)?, std::fs::metadata(&b)?);
            if ma.len() != mb.len() || (times && ma.modified()? != mb.modified()?) {
                bail!(
                    "{} differs from {} in size or time",
                    b.display(),
                    a.display()
                );
            }
            if (!times || check_bytes.contains(&i)) && std::fs::read(&a)? != std::fs::read(&b)? {
                bail!("{} differs from {} in content", b.display(), a.display());
            }
        }
        Ok(())
    }

    fn write(&self, f: &FileSpec, seed: u64, mtime: u64) -> Result<()> {
        let path = self.dir.join(&f.rel);
        std::fs::create_dir_all(path.parent().expect("files live in the set's folder"))?;
        let mut file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut rng = SplitMix(seed);
        let mut buf = vec![0u8; MIB.min(f.size) as usize];
        let mut left = f.size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            rng.fill(&mut buf[..n]);
            file.write_all(&buf[..n])?;
            left -= n as u64;
        }
        file.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))?;
        Ok(())
    }
}

/// Reads `path` to its end through `buf`; with `direct`, bypasses the page
/// cache (`O_DIRECT`), for which `buf` must be 4 KiB-aligned in memory.
pub fn read_through(path: &Path, buf: &mut [u8], direct: bool) -> Result<u64> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    /// `O_DIRECT` on Linux x86-64 and aarch64.
    const O_DIRECT: i32 = if cfg!(target_arch = "aarch64") {
        0o200000
    } else {
        0o40000
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(if direct { O_DIRECT } else { 0 })
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut total = 0;
    loop {
        let n = file.read(buf)?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

/// How many regular files are under `dir`.
pub fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in read.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => n += 1,
                _ => {}
            }
        }
    }
    n
}

/// The seed of file `i` of set `name`.
fn seed_of(name: &str, i: u64) -> u64 {
    let d = Sha256::digest(format!("{GENERATOR} {name} {i}"));
    u64::from_le_bytes(d[..8].try_into().expect("a SHA-256 has 32 bytes"))
}

/// SplitMix64 (Steele, Lea and Flood, 2014): fast, seedable, and its output
/// does not compress.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_output() {
        // From the reference implementation, seeded with 1234567.
        let mut r = SplitMix(1_234_567);
        assert_eq!(r.next(), 6_457_827_717_110_365_317);
        assert_eq!(r.next(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn sets_are_deterministic_and_c_is_log_uniform() {
        let a = sets(Path::new("/x"), false);
        let b = sets(Path::new("/x"), false);
        assert_eq!(a[2].params_hash(), b[2].params_hash());
        assert_eq!(a[1].files.len(), 10_000);
        let c = &a[2];
        assert!(c.files.iter().all(|f| (KIB..=8 * MIB).contains(&f.size)));
        let small = c.files.iter().filter(|f| f.size < 90 * KIB).count();
        assert!((800..1200).contains(&small), "{small}");
    }

    #[test]
    fn the_first_files_of_d_are_links_made_again_when_wrong() {
        let tmp = tempfile::tempdir().unwrap();
        let d = scale(tmp.path(), true);
        assert_eq!(d.files.len(), 1_000);
        assert_eq!(d.files[999].rel, "d000/f000999.bin");
        d.ensure().unwrap();
        assert_eq!(d.first(1_000).unwrap(), d.dir);
        let view = d.first(500).unwrap();
        assert_eq!(count_files(&view), 500);
        assert_eq!(
            std::fs::read(view.join("d000/f000499.bin")).unwrap(),
            std::fs::read(d.dir.join("d000/f000499.bin")).unwrap()
        );
        // A stray file or a copy instead of a link: made again.
        std::fs::write(view.join("stray"), b"x").unwrap();
        std::fs::remove_file(view.join("d000/f000007.bin")).unwrap();
        std::fs::write(view.join("d000/f000007.bin"), [0u8; 1024]).unwrap();
        let again = d.first(500).unwrap();
        assert_eq!(count_files(&again), 500);
        use std::os::unix::fs::MetadataExt;
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(&again.join("d000/f000007.bin")),
            ino(&d.dir.join("d000/f000007.bin"))
        );
    }
}
