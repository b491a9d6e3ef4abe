//! `cargo xtask dist --check`: every binary `dist` built runs here (aarch64
//! under qemu-user) and must give the x86-64 binary's results: the same
//! version and guest, precompiled and verified; the same sandbox probe; and a
//! real backup and restore on a local-folder remote (plain) and on a Garage
//! S3 server on loopback (plain and encrypted), each binary restoring what it
//! and the other one backed up, byte for byte, with modes and modification
//! times; the objects each binary wrote, as rclone lists them, must match
//! too.
//! It ends with the start-up time of each binary (`poof version`).
//!
//! Invariant: the first binary (this machine's) is the reference; the others
//! are compared with it, and with the source files, never with themselves.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

use super::Built;
use crate::bench::tools::{Garage, json_str};
use crate::{capture, root};

/// The passphrase of the encrypted runs (a check, not a secret).
const PASSPHRASE: &str = "poof-dist-check-passphrase";

/// Runs every check; `built[0]` is this machine's binary.
pub fn run(built: &[Built]) -> Result<()> {
    let started = Instant::now();
    let scratch = tempfile::Builder::new()
        .prefix("poof-dist-check-")
        .tempdir()?;
    let dir = scratch.path();
    let bins: Vec<Bin> = built
        .iter()
        .map(|b| Bin {
            built: b,
            name: b.target.triple.split('-').next().unwrap_or("?"),
            home: dir.join(format!("home-{}", b.target.triple)),
        })
        .collect();
    for b in &bins {
        std::fs::create_dir_all(&b.home)?;
    }
    identity(&bins)?;
    probe(&bins, dir)?;
    let src = dir.join("source");
    make_source(&src)?;
    let expected = tree(&src)?;
    folder_round_trip(&bins, dir, &src, &expected)?;
    s3_round_trip(&bins, dir, &src, &expected)?;
    let times = startup(&bins)?;
    println!(
        "dist --check: every binary gave the same results as {}",
        bins[0].name
    );
    for (b, t) in bins.iter().zip(&times) {
        println!("{}", t.line(b));
    }
    println!(
        "dist --check: done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A binary under check, with a home folder of its own.
struct Bin<'a> {
    built: &'a Built,
    /// Its CPU, for messages and folder names.
    name: &'a str,
    home: PathBuf,
}

impl Bin<'_> {
    /// poof with an empty environment but its own `HOME` and the passphrase.
    fn cmd(&self) -> Command {
        let mut cmd = self.built.command();
        cmd.env_clear()
            .env("HOME", &self.home)
            .env("POOF_PASSPHRASE", PASSPHRASE);
        cmd
    }

    /// Runs poof with `args`; its standard output, or an error with both
    /// streams.
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = self
            .cmd()
            .args(args)
            .output()
            .with_context(|| format!("starting {}", self.built.path.display()))?;
        if !out.status.success() {
            bail!(
                "poof {} ({}) failed with {}:\n{}{}",
                args.join(" "),
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Runs poof with `--confdir dir` and `args`.
    fn run_in(&self, dir: &Path, args: &[&str]) -> Result<String> {
        let dir = dir.display().to_string();
        let mut all = vec!["--confdir", &dir];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

/// `poof version`, `guest hash` and `guest verify`: one guest, the one this
/// build embedded, precompiled and verified on every binary.
fn identity(bins: &[Bin]) -> Result<()> {
    let wasm = root().join("target/wasm32-wasip2/guest/poof_guest.wasm");
    let built_guest = hex::encode(Sha256::digest(std::fs::read(&wasm)?));
    let mut reference: Option<Vec<String>> = None;
    for b in bins {
        let version = b.run(&["version"])?;
        ensure!(
            version.contains(&format!("guest:    sha256:{built_guest} (precompiled")),
            "{}: `poof version` does not run the guest built here ({built_guest}) precompiled:\n{version}",
            b.name
        );
        let hash = b.run(&["guest", "hash"])?;
        ensure!(
            hash.trim() == built_guest,
            "{}: `poof guest hash` says {}, not {built_guest}",
            b.name,
            hash.trim()
        );
        let verify = b.run(&["guest", "verify"])?;
        ensure!(
            verify.contains("is exactly the embedded component"),
            "{}: `poof guest verify`: {verify}",
            b.name
        );
        // All but the build target must read the same.
        let lines: Vec<String> = version
            .lines()
            .filter(|l| !l.starts_with("target:"))
            // Whether the copy runs in place depends on the machine (its
            // page size), not on the binary.
            .map(|l| l.replace(", run in place", ""))
            .collect();
        match &reference {
            None => reference = Some(lines),
            Some(r) => ensure!(
                *r == lines,
                "{}: `poof version` differs from {}:\n{version}",
                b.name,
                bins[0].name
            ),
        }
        println!(
            "dist --check: {}: guest sha256:{built_guest}, precompiled, verified; {}",
            b.name,
            version
                .lines()
                .find(|l| l.starts_with("target:"))
                .unwrap_or("")
        );
    }
    Ok(())
}

/// `poof guest probe` against a real file and a real listening socket: every
/// attempt denied, nothing connected, the same report from every binary.
fn probe(bins: &[Bin], dir: &Path) -> Result<()> {
    let secret = dir.join("secret.txt");
    std::fs::write(&secret, "the guest must not read this\n")?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let secret = secret.display().to_string();
    let mut reports = Vec::new();
    for b in bins {
        let out = b.run(&["guest", "probe", "--read", &secret, "--connect", &addr])?;
        ensure!(
            !out.contains("REACHED") && out.contains("denied"),
            "{}: the probe reached something:\n{out}",
            b.name
        );
        reports.push(out);
    }
    listener.set_nonblocking(true)?;
    ensure!(listener.accept().is_err(), "a guest connected to {addr}");
    ensure_same(bins, &reports, "`poof guest probe`")?;
    println!(
        "dist --check: guest probe: {} attempts, all denied, the same on every binary",
        reports[0].lines().count()
    );
    Ok(())
}

/// Fails unless every binary's `results` equals the first's.
fn ensure_same(bins: &[Bin], results: &[String], what: &str) -> Result<()> {
    for (b, r) in bins.iter().zip(results).skip(1) {
        ensure!(
            *r == results[0],
            "{what} on {} differs from {}:\n--- {}\n{}\n--- {}\n{r}",
            b.name,
            bins[0].name,
            bins[0].name,
            results[0],
            b.name
        );
    }
    Ok(())
}

/// Files with the shapes a backup meets: nested and Unicode names, an empty
/// file, an executable, and content large enough for many encrypted segments
/// and a multipart upload (12 MiB), with fixed modification times.
fn make_source(src: &Path) -> Result<()> {
    let mut big = Vec::with_capacity(12 << 20);
    let mut block = Sha256::digest(b"poof dist check").to_vec();
    while big.len() < 12 << 20 {
        block = Sha256::digest(&block).to_vec();
        big.extend_from_slice(&block);
    }
    let files: [(&str, &[u8], u32); 5] = [
        ("notes.txt", b"hello from the dist check\n", 0o644),
        ("sub dir/\u{e9}t\u{e9} \u{1f600}.txt", b"unicode\n", 0o600),
        ("sub dir/deeper/empty", b"", 0o644),
        ("run.sh", b"#!/bin/sh\necho hi\n", 0o755),
        ("data/big.bin", &big, 0o644),
    ];
    for (i, (name, bytes, mode)) in files.iter().enumerate() {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().expect("a folder"))?;
        std::fs::write(&path, bytes)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))?;
        let when = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000 + i as u64 * 3600, 0);
        std::fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(when)?;
    }
    Ok(())
}

/// A file of a tree: its SHA-256, size, permission bits and modification
/// time (whole seconds).
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    sha256: String,
    size: u64,
    mode: u32,
    mtime: u64,
}

/// Every regular file under `dir` by relative path.
fn tree(dir: &Path) -> Result<BTreeMap<String, Entry>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let e = e?;
            let meta = std::fs::symlink_metadata(e.path())?;
            if meta.is_dir() {
                walk(root, &e.path(), out)?;
            } else if meta.is_file() {
                let rel = e.path().strip_prefix(root)?.to_string_lossy().into_owned();
                out.insert(
                    rel,
                    Entry {
                        sha256: hex::encode(Sha256::digest(std::fs::read(e.path())?)),
                        size: meta.len(),
                        mode: meta.permissions().mode() & 0o777,
                        mtime: meta
                            .modified()?
                            .duration_since(SystemTime::UNIX_EPOCH)?
                            .as_secs(),
                    },
                );
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// Fails unless the tree at `dir` is `expected`.
fn ensure_tree(dir: &Path, expected: &BTreeMap<String, Entry>, what: &str) -> Result<()> {
    let got = tree(dir)?;
    for (path, want) in expected {
        match got.get(path) {
            None => bail!("{what}: {path} is missing from {}", dir.display()),
            Some(g) => ensure!(g == want, "{what}: {path} is {g:?}, not {want:?}"),
        }
    }
    if let Some(extra) = got.keys().find(|k| !expected.contains_key(*k)) {
        bail!(
            "{what}: {} has {extra}, which the source does not",
            dir.display()
        );
    }
    Ok(())
}

/// `--json` output with what may differ between two equal runs taken out:
/// the time taken, the request count, and the order in which files finished
/// (each `copied` event keeps only the file's name); sorted.
fn normalize(json: &str, local: &Path) -> String {
    let local = json_str(&local.display().to_string());
    let mut lines: Vec<String> = json
        .lines()
        .map(|l| {
            if l.contains("\"event\":\"copied\"") {
                let file = l
                    .split(",\"")
                    .find(|f| f.starts_with("file\":"))
                    .unwrap_or("");
                return format!("copied {file}");
            }
            l.split(',')
                .filter(|f| !f.starts_with("\"seconds\":") && !f.starts_with("\"requests\":"))
                .collect::<Vec<_>>()
                .join(",")
                .replace(&local, "\"LOCAL\"")
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

/// Writes `CONFDIR/poof.conf` (the config folder is made), with `extra` as
/// more top-level JSON members.
fn write_conf(confdir: &Path, local: &Path, remote: &str, extra: &str) -> Result<()> {
    std::fs::create_dir_all(confdir)?;
    let mut f = std::fs::File::create(confdir.join("poof.conf"))?;
    writeln!(
        f,
        "{{\n{extra}  \"paths\": {{{}: \"data\"}},\n  \"remote\": {}\n}}",
        json_str(&local.display().to_string()),
        json_str(remote)
    )?;
    Ok(())
}

/// A plain backup to a local-folder remote by each binary, then a restore by
/// each binary from each remote.
fn folder_round_trip(
    bins: &[Bin],
    dir: &Path,
    src: &Path,
    expected: &BTreeMap<String, Entry>,
) -> Result<()> {
    let mut outputs = Vec::new();
    let mut remotes = Vec::new();
    for b in bins {
        let remote = dir.join(format!("folder-remote-{}", b.name));
        std::fs::create_dir_all(&remote)?;
        let url = format!("file://{}", remote.display());
        let conf = dir.join(format!("conf-folder-{}", b.name));
        write_conf(&conf, src, &url, "")?;
        outputs.push(normalize(&b.run_in(&conf, &["--json", "backup"])?, src));
        remotes.push((remote, url));
    }
    ensure_same(bins, &outputs, "a backup to a local folder")?;
    let reference = tree(&remotes[0].0)?;
    for (b, (remote, _)) in bins.iter().zip(&remotes).skip(1) {
        ensure_tree(
            remote,
            &reference,
            &format!("the folder remote {} wrote", b.name),
        )?;
    }
    for reader in bins {
        for (writer, (_, url)) in bins.iter().zip(&remotes) {
            let restore = dir.join(format!(
                "restore-folder-{}-from-{}",
                reader.name, writer.name
            ));
            std::fs::create_dir_all(&restore)?;
            let conf = dir.join(format!(
                "conf-restore-folder-{}-{}",
                reader.name, writer.name
            ));
            write_conf(&conf, &restore, url, "")?;
            reader.run_in(&conf, &["download"])?;
            ensure_tree(
                &restore,
                expected,
                &format!("{} restoring {}'s folder backup", reader.name, writer.name),
            )?;
        }
    }
    println!(
        "dist --check: folder remote (plain): each binary backed up {} files, the remotes are \
         identical, and each binary restored each backup byte for byte",
        expected.len()
    );
    Ok(())
}

/// A backup by each binary to its own bucket of a Garage node on loopback,
/// plain and then encrypted (`econfig`, `cryptoggle`), then a restore by
/// each binary from each bucket. rclone, not poof, lists what each binary
/// wrote: the plain buckets must hold the same keys, sizes and MD5s, every
/// source file among them with its size; the encrypted ones the same sizes
/// and key shapes (the names differ: each binary made its own key).
fn s3_round_trip(
    bins: &[Bin],
    dir: &Path,
    src: &Path,
    expected: &BTreeMap<String, Entry>,
) -> Result<()> {
    let garage = Garage::start()?;
    let rclone = crate::test::ensure_rclone()?;
    let cloud_conf = dir.join("rclone-poof.conf");
    std::fs::write(&cloud_conf, garage.cloud_conf()?)?;
    let extra = |bucket: &str| {
        format!(
            "  \"bucket\": {},\n  \"confFile\": {},\n",
            json_str(bucket),
            json_str(&cloud_conf.display().to_string())
        )
    };
    for layout in ["plain", "encrypted"] {
        let encrypted = layout == "encrypted";
        let mut outputs = Vec::new();
        let mut listings = Vec::new();
        let mut confs = Vec::new();
        for b in bins {
            let bucket = format!("dist-check-{layout}-{}", b.name.replace('_', "-"));
            garage.create_bucket(&bucket)?;
            let conf = dir.join(format!("conf-s3-{layout}-{}", b.name));
            write_conf(&conf, src, "poof-backup", &extra(&bucket))?;
            if encrypted {
                b.run_in(&conf, &["econfig"])?;
                b.run_in(&conf, &["cryptoggle"])?;
            }
            outputs.push(normalize(&b.run_in(&conf, &["--json", "backup"])?, src));
            let listed = capture(
                Command::new(&rclone)
                    .arg("--config")
                    .arg(&cloud_conf)
                    .args(["lsf", "-R", "--files-only", "--separator", ";"])
                    .args(["--format", if encrypted { "sp" } else { "sph" }])
                    .arg(format!("poof-backup:{bucket}")),
            )?;
            listings.push(objects(&listed, encrypted));
            confs.push((conf, bucket));
        }
        ensure_same(bins, &outputs, &format!("a {layout} backup to S3"))?;
        ensure_same(
            bins,
            &listings,
            &format!("the objects of the {layout} buckets (rclone lsf)"),
        )?;
        if !encrypted {
            for (path, e) in expected {
                let object = format!("\n{};data/{path};", e.size);
                ensure!(
                    format!("\n{}", listings[0]).contains(&object),
                    "the plain bucket has no object data/{path} of {} bytes:\n{}",
                    e.size,
                    listings[0]
                );
            }
        }
        for reader in bins {
            for (writer, (conf, bucket)) in bins.iter().zip(&confs) {
                let name = format!("s3-{layout}-{}-from-{}", reader.name, writer.name);
                let restore = dir.join(format!("restore-{name}"));
                std::fs::create_dir_all(&restore)?;
                // The writer's config folder (its key, its config), pointed
                // at the restore folder.
                let rconf = dir.join(format!("conf-restore-{name}"));
                std::fs::create_dir_all(&rconf)?;
                for f in std::fs::read_dir(conf)? {
                    let f = f?;
                    if f.file_type()?.is_file() {
                        std::fs::copy(f.path(), rconf.join(f.file_name()))?;
                    }
                }
                let text = std::fs::read_to_string(rconf.join("poof.conf"))?;
                let from = json_str(&src.display().to_string());
                ensure!(
                    text.contains(&from),
                    "{}'s poof.conf lost its path",
                    writer.name
                );
                std::fs::write(
                    rconf.join("poof.conf"),
                    text.replace(&from, &json_str(&restore.display().to_string())),
                )?;
                reader.run_in(&rconf, &["download"])?;
                ensure_tree(
                    &restore,
                    expected,
                    &format!(
                        "{} restoring {}'s {layout} backup (bucket {bucket})",
                        reader.name, writer.name
                    ),
                )?;
            }
        }
        println!(
            "dist --check: S3 on loopback ({layout}): each binary backed up {} files to its own \
             bucket, the buckets hold {} objects of the same {}, and each binary restored each \
             bucket byte for byte",
            expected.len(),
            listings[0].lines().count(),
            if encrypted {
                "sizes and key shapes"
            } else {
                "keys, sizes and MD5s"
            }
        );
    }
    Ok(())
}

/// rclone's `lsf` lines (`size;key` or `size;key;md5`), sorted; with
/// `encrypted`, every letter and digit of a path segment of 16 characters or
/// more (an encrypted name; `.poof`, `key`, `manifests` stay) becomes `*`,
/// since each binary's own key gives other names of the same length.
fn objects(lsf: &str, encrypted: bool) -> String {
    let mut lines: Vec<String> = lsf
        .lines()
        .map(|l| {
            let (size, key) = match l.split_once(';') {
                Some(pair) if encrypted => pair,
                _ => return l.to_string(),
            };
            let key = key
                .split('/')
                .map(|seg| {
                    if seg.len() < 16 {
                        return seg.to_string();
                    }
                    seg.chars()
                        .map(|c| if c.is_ascii_alphanumeric() { '*' } else { c })
                        .collect()
                })
                .collect::<Vec<String>>()
                .join("/");
            format!("{size};{key}")
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

/// Start-up times of one binary: `poof version` (guest loaded, instantiated
/// and called once) and `poof guest hash` (no guest instantiated).
struct Startup {
    version: Vec<f64>,
    hash: Vec<f64>,
}

impl Startup {
    fn line(&self, b: &Bin) -> String {
        let how = if b.built.target.runner.is_some() {
            "under qemu-user"
        } else {
            "native"
        };
        format!(
            "dist --check: start-up of {} ({how}), {} runs each: `poof version` median {:.0} ms \
             (min {:.0}), `poof guest hash` median {:.0} ms (min {:.0})",
            b.name,
            self.version.len(),
            median(&self.version),
            self.version.iter().copied().fold(f64::INFINITY, f64::min),
            median(&self.hash),
            self.hash.iter().copied().fold(f64::INFINITY, f64::min),
        )
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times `poof version` and `poof guest hash` on every binary, in turns.
fn startup(bins: &[Bin]) -> Result<Vec<Startup>> {
    const RUNS: usize = 9;
    let mut out: Vec<Startup> = bins
        .iter()
        .map(|_| Startup {
            version: Vec::new(),
            hash: Vec::new(),
        })
        .collect();
    let time = |b: &Bin, args: &[&str]| -> Result<f64> {
        let t = Instant::now();
        b.run(args)?;
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    };
    for _ in 0..RUNS {
        for (b, s) in bins.iter().zip(out.iter_mut()) {
            s.version.push(time(b, &["version"])?);
            s.hash.push(time(b, &["guest", "hash"])?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{normalize, objects};

    #[test]
    fn normalize_keeps_what_two_equal_runs_share() {
        let first = r#"{"cloud":"data","copy":2,"event":"plan","path":"/src"}
{"bytes":3,"done_files":1,"event":"copied","file":"b.txt","path":"/src"}
{"bytes":5,"done_files":2,"event":"copied","file":"a.txt","path":"/src"}
{"copied":2,"event":"summary","requests":7,"seconds":0.02,"unchanged":0}"#;
        let second = r#"{"cloud":"data","copy":2,"event":"plan","path":"/other"}
{"bytes":5,"done_files":1,"event":"copied","file":"a.txt","path":"/other"}
{"bytes":3,"done_files":2,"event":"copied","file":"b.txt","path":"/other"}
{"copied":2,"event":"summary","requests":9,"seconds":1.5,"unchanged":0}"#;
        let a = normalize(first, Path::new("/src"));
        assert_eq!(a, normalize(second, Path::new("/other")));
        assert!(a.contains("copied file\":\"a.txt\""), "{a}");
        assert!(!a.contains("seconds") && !a.contains("requests"), "{a}");
        let changed = first.replace("\"copied\":2", "\"copied\":1");
        assert_ne!(a, normalize(&changed, Path::new("/src")));
    }

    #[test]
    fn objects_mask_encrypted_names_only() {
        let one = "100;.poof/key\n543;.poof/manifests/22vfkbmpeh8g0s4s77hedb0hsogsqdq9.bin\n\
                   166;22vfkbmpeh8g0s4s77hedb0hsogsqdq9/2tue9g4idqgvkmkna6vvk7va49aba90fug";
        let two = "166;k0d2i29q49bjas7hhqm0i6n8e67i16gv/u6o4n7e03k3m0iicssjkfofk77erq3i610\n\
                   100;.poof/key\n543;.poof/manifests/k0d2i29q49bjas7hhqm0i6n8e67i16gv.bin";
        assert_eq!(objects(one, true), objects(two, true));
        assert!(objects(one, true).starts_with("100;.poof/key\n166;****"));
        let longer = two.replace("u6o4n7", "u6o4n7x");
        assert_ne!(objects(one, true), objects(&longer, true));
        let plain = "6;data/a.txt;b1946ac92492d2347c6235b4d2611184\n0;data/empty;d41d8";
        assert_eq!(
            objects(plain, false),
            plain.lines().rev().collect::<Vec<_>>().join("\n")
        );
        assert_ne!(
            objects(plain, false),
            objects(&plain.replace("a.txt", "b.txt"), false)
        );
    }
}
