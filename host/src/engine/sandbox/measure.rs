//! Measurements, not checks: how much memory and time the guest's
//! largest calls take, which the limits must leave room for, and what
//! the deadline's epoch checks cost against fuel. The figures are quoted
//! in docs/AUDIT.md, "Limits". Run by hand after `cargo xtask build`:
//! `cargo test --release -p poof --lib engine::sandbox::measure -- --ignored --nocapture --test-threads 1`.

use std::time::Duration;

use anyhow::{Result, anyhow};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use super::super::crypto::FileStat;
use super::super::session::Listed;
use super::super::{Crypto, GuestError, Instance, bindings, config, test_guest};
use super::tests::plan_input;
use super::{CallStore, Limits, link, start_clock};

fn ok<T>(r: Crypto<T>) -> Result<T> {
    r?.map_err(|e: GuestError| anyhow!("{e:?}"))
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Unlocking a key (Argon2id with the parameters of a new key), planning,
/// and a sealed remote's session for `n` files: CPU time and peak memory.
#[test]
#[ignore = "a measurement; run it by hand, in release mode"]
fn the_largest_calls() -> Result<()> {
    let mut inst = test_guest().instantiate()?;
    let key = ok(inst.keyring_generate(&[1; 32]))?;
    let wrapped = ok(inst.keyring_wrap(&key, b"passphrase", &[2; 32]))?;
    let mut inst = test_guest().instantiate()?;
    let t = cpu_time();
    ok(inst.keyring_unlock(&wrapped, b"passphrase"))?;
    println!(
        "unlock ({:?}): {:.2} s, peak memory {:.0} MiB",
        ok(inst.inspect_wrapped_key(&wrapped))?.kdf,
        (cpu_time() - t).as_secs_f64(),
        mib(inst.store.peak_memory())
    );
    for n in [10_000, 100_000, 1_000_000] {
        let input = plan_input(n);
        let mut inst = test_guest().instantiate()?;
        let t = cpu_time();
        ok(inst.plan_sync(&input))?;
        println!(
            "plan {n} files: {:.2} s, peak memory {:.0} MiB",
            (cpu_time() - t).as_secs_f64(),
            mib(inst.store.peak_memory())
        );

        // A sealed session records `n` uploads and writes its manifest;
        // a second one (the next run) ingests the listing and manifest.
        let mut inst = test_guest().instantiate()?;
        let key = ok(inst.keyring_generate(&[1; 32]))?;
        let s = ok(inst.session_sealed("Docs", &key, "mem:", None, false))?;
        ok(inst.session_ingest_listing(&s, &[], None))?;
        ok(inst.session_finish_listing(&s, false))?;
        let t = cpu_time();
        let mut listed = Vec::with_capacity(n);
        for e in &input.source {
            let id = format!("{:032x}", e.size);
            inst.session_uploaded(&s, e, Some("etag"), Some(&id))?;
            listed.push(Listed {
                key: ok(inst.session_object_key(&s, &e.path))?,
                size: ok(inst.sealed_size(e.size))?,
                etag: "etag".into(),
                entry: None,
            });
        }
        let uploads = (cpu_time() - t).as_secs_f64();
        let t = cpu_time();
        let manifest = ok(inst.session_manifest(&s, &[2; 32]))?.expect("a manifest");
        println!(
            "sealed session, {n} uploads recorded: {uploads:.2} s; manifest ({:.0} MiB) \
             written in {:.2} s; peak memory {:.0} MiB",
            mib(manifest.len()),
            (cpu_time() - t).as_secs_f64(),
            mib(inst.store.peak_memory())
        );
        drop(inst);

        let mut inst = test_guest().instantiate()?;
        let key = ok(inst.keyring_generate(&[1; 32]))?;
        let s = ok(inst.session_sealed("Docs", &key, "mem:", None, false))?;
        let t = cpu_time();
        let asked = ok(inst.session_ingest_listing(&s, &listed, Some(&manifest)))?;
        let listing = ok(inst.session_finish_listing(&s, false))?;
        println!(
            "sealed session, listing and manifest of {n} files ingested: {:.2} s \
             ({} entries, {} reads asked); peak memory {:.0} MiB",
            (cpu_time() - t).as_secs_f64(),
            listing.entries.len(),
            asked.len(),
            mib(inst.store.peak_memory())
        );
    }
    Ok(())
}

/// An instance compiled with `config`, fuel enabled when `fuel`.
fn instance(config: &Config, fuel: bool) -> Result<Instance> {
    let engine = Engine::new(config)?;
    let component = Component::new(&engine, test_guest().wasm())?;
    let mut linker = Linker::new(&engine);
    link(&mut linker)?;
    let pre = bindings::GuestPre::new(linker.instantiate_pre(&component)?)?;
    start_clock(&engine)?;
    let mut store = CallStore::new(&engine, Limits::DEFAULT);
    if fuel {
        store.0.set_fuel(u64::MAX)?;
    }
    let bindings = pre.instantiate(&mut store)?;
    Ok(Instance { store, bindings })
}

/// The time this thread has spent on a CPU (Linux): unlike the wall
/// clock, it does not count the time other processes took the CPU.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux");
    let ns = stat.split(' ').next().and_then(|n| n.parse().ok());
    Duration::from_nanos(ns.expect("a time in nanoseconds"))
}

/// Seals 32 MiB and plans 100,000 files; returns MB/s and seconds of CPU time.
fn workload(inst: &mut Instance, plan: &super::super::sync::PlanInput) -> Result<(f64, f64)> {
    let key = ok(inst.keyring_generate(&[1; 32]))?;
    let segment = inst.crypto_format()?.segment_size as usize;
    let plain = vec![7u8; segment];
    let count = (32 << 20) / segment;
    let stat = FileStat {
        size: (segment * count) as u64,
        mtime_ns: 0,
        mode: None,
    };
    let sealer = ok(inst.seal(&key, "a", "b", &stat, &[3; 32]))?;
    let t = cpu_time();
    for i in 0..count {
        ok(inst.seal_segment(&sealer, &plain, i + 1 == count))?;
    }
    let seal = (segment * count) as f64 / 1e6 / (cpu_time() - t).as_secs_f64();
    inst.drop_handle(sealer)?;
    inst.drop_handle(key)?;
    let t = cpu_time();
    ok(inst.plan_sync(plan))?;
    Ok((seal, (cpu_time() - t).as_secs_f64()))
}

/// No deadline, epoch interruption (what poof uses) and fuel, in turns;
/// and epoch interruption with code for a baseline CPU of this
/// architecture rather than for this machine's.
#[test]
#[ignore = "a measurement; run it by hand, in release mode"]
fn deadline_overhead() -> Result<()> {
    let plan = plan_input(100_000);
    let mut none = Config::new();
    none.epoch_interruption(false);
    let mut fuel = Config::new();
    fuel.consume_fuel(true);
    let mut baseline = config();
    baseline.target(&format!("{}-unknown-linux-gnu", std::env::consts::ARCH))?;
    let mut variants = [
        ("no deadline", instance(&none, false)?, 0.0_f64, f64::MAX),
        ("epoch", instance(&config(), false)?, 0.0, f64::MAX),
        ("fuel", instance(&fuel, true)?, 0.0, f64::MAX),
        (
            "epoch, baseline CPU",
            instance(&baseline, false)?,
            0.0,
            f64::MAX,
        ),
    ];
    let rounds = 8;
    for round in 0..rounds {
        variants.rotate_left(1);
        for (name, inst, seal, plan_s) in &mut variants {
            let (s, p) = workload(inst, &plan)?;
            println!("round {round}: {name:20} seal {s:.0} MB/s, plan {p:.3} s");
            *seal = seal.max(s);
            *plan_s = plan_s.min(p);
        }
    }
    variants.sort_by_key(|v| v.0);
    for (name, _, seal, plan_s) in &variants {
        println!(
            "{name:20} seal {seal:.0} MB/s, plan 100,000 files {plan_s:.3} s (CPU time, best of {rounds})"
        );
    }
    Ok(())
}
