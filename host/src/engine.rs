//! Runs the embedded guest component under wasmtime, in a sandbox that grants nothing.
//!
//! Invariants:
//! - the guest is compiled at most once per process (`Guest::runtime`), and
//!   nothing is written to disk for it: wasmtime's cache is not compiled in;
//! - the binary also embeds the guest precompiled at build time (for the build
//!   machine's CPU on x86-64, for the baseline CPU of the architecture on
//!   aarch64: `precompile_config`), tagged with the SHA-256 of the component
//!   it came from. It is used only when that tag matches the embedded
//!   component and wasmtime accepts it for this CPU (on Linux with 4 KiB
//!   pages where it lies in the binary, `in_place`; else copied); otherwise
//!   the guest is compiled at start-up.
//!   `poof guest verify` recompiles the guest and checks that the precompiled
//!   copy is byte-identical, so auditing the component audits what runs;
//! - every instance runs in the sandbox of `sandbox.rs`: only the WASI
//!   interfaces the guest imports are linked (no `wasi:random`), over a
//!   context with no preopened folder, no environment, no arguments, no
//!   sockets, no name lookup, closed standard streams, and clocks frozen at
//!   the Unix epoch, so the guest can only compute on what the host hands
//!   it; its memory is capped and each call has a deadline.

use std::sync::OnceLock;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

mod calls_crypto;
mod calls_legacy;
mod calls_session;
mod in_place;
pub mod pool;
mod sandbox;

use sandbox::{CallStore, Limits, Sandbox};

mod bindings {
    //! Host-side bindings generated from `wit/`, the one contract.
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        world: "guest",
        path: "../wit",
    });
}

pub use bindings::exports::poof::core::audit::{GuestInfo, Probe};
pub use bindings::exports::poof::core::check;
pub use bindings::exports::poof::core::crypto;
pub use bindings::exports::poof::core::legacy;
pub use bindings::exports::poof::core::session;
pub use bindings::exports::poof::core::sync;
pub use bindings::exports::poof::core::wipe;
pub use bindings::poof::core::types::Error as GuestError;

/// The guest component's bytes as embedded in the binary, plus its compiled form once needed.
pub struct Guest {
    wasm: &'static [u8],
    precompiled: &'static [u8],
    /// The component's SHA-256, computed once (`poof version` shows it and
    /// loading checks the precompiled copy's tag against it).
    digest: OnceLock<[u8; 32]>,
    runtime: OnceLock<Result<Runtime, String>>,
    /// Whether the bytes are the binary's own read-only data, which may be
    /// dropped from memory once loaded (`alloc::drop_resident`).
    in_binary: bool,
}

/// How the running guest got its machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiled {
    /// From the copy precompiled at build time, run where it lies in the
    /// binary (`in_place`).
    InPlace,
    /// From a copy of the copy precompiled at build time.
    Precompiled,
    /// Compiled at start-up, because there was no usable precompiled copy.
    AtStartup,
}

/// A compiled guest, ready to be instantiated any number of times.
struct Runtime {
    engine: Engine,
    pre: bindings::GuestPre<Sandbox>,
    compiled: Compiled,
}

/// Length of the tag before a precompiled guest: the SHA-256 of its component.
pub const TAG_LEN: usize = 32;

/// The alignment the binary gives the embedded precompiled guest's machine
/// code (the bytes after its tag), so that it can run where it lies.
pub const PRECOMPILED_ALIGN: usize = in_place::PAGE;

impl Guest {
    /// Wraps the embedded component and its precompiled form (tagged, see
    /// `precompile`; empty when there is none). Nothing is compiled yet.
    /// On Linux, when the precompiled form's machine code starts on a page
    /// (`PRECOMPILED_ALIGN` after its tag) it runs where it lies, without a
    /// copy (`in_place`). Once the guest is loaded, the pages of bytes no
    /// longer read are dropped from memory (the kernel reads them in again
    /// if they are read again): the component's 1.6 MiB, and the precompiled
    /// form's 4.3 MiB too when wasmtime copied it.
    ///
    /// # Safety
    ///
    /// Both slices must be read-only data of this binary (`include_bytes!`
    /// in a `static`), never memory of the heap or a stack, whose contents
    /// dropping would lose, and the precompiled one must be what this
    /// binary's build precompiled (`deserialize`'s contract).
    #[allow(unsafe_code)]
    pub const unsafe fn embedded(wasm: &'static [u8], precompiled: &'static [u8]) -> Self {
        Self::wrap(wasm, precompiled, true)
    }

    /// Wraps a component and its precompiled form held in memory (tests,
    /// measurements): as `embedded`, but nothing is dropped from memory.
    pub const fn in_memory(wasm: &'static [u8], precompiled: &'static [u8]) -> Self {
        Self::wrap(wasm, precompiled, false)
    }

    const fn wrap(wasm: &'static [u8], precompiled: &'static [u8], in_binary: bool) -> Self {
        Guest {
            wasm,
            precompiled,
            digest: OnceLock::new(),
            runtime: OnceLock::new(),
            in_binary,
        }
    }

    /// The exact bytes of the embedded component.
    pub fn wasm(&self) -> &'static [u8] {
        self.wasm
    }

    /// SHA-256 of the embedded component, in lower-case hex.
    pub fn sha256(&self) -> String {
        hex::encode(self.digest())
    }

    /// SHA-256 of the embedded component, hashed on first use.
    fn digest(&self) -> &[u8; 32] {
        self.digest.get_or_init(|| Sha256::digest(self.wasm).into())
    }

    fn runtime(&self) -> Result<&Runtime> {
        self.runtime
            .get_or_init(|| {
                let loaded =
                    Runtime::load(self.wasm, self.digest(), self.precompiled, self.in_binary)
                        .map_err(|e| format!("{e:#}"));
                if self.in_binary {
                    let in_place = matches!(&loaded, Ok(rt) if rt.compiled == Compiled::InPlace);
                    // SAFETY: `embedded`'s contract: both are the binary's
                    // read-only data. wasmtime keeps its own copy of the
                    // code, except for the precompiled copy run in place,
                    // whose pages are left alone.
                    #[allow(unsafe_code)]
                    unsafe {
                        crate::alloc::drop_resident(self.wasm);
                        if !in_place {
                            crate::alloc::drop_resident(self.precompiled);
                        }
                    }
                }
                loaded
            })
            .as_ref()
            .map_err(|e| anyhow::anyhow!("the embedded guest could not be loaded: {e}"))
    }

    /// How the guest's machine code was obtained in this process.
    pub fn compiled(&self) -> Result<Compiled> {
        Ok(self.runtime()?.compiled)
    }

    /// Compiles the embedded component as the build precompiles it
    /// (`precompile_config`) and returns it tagged with the component's
    /// SHA-256, as the build embeds it.
    pub fn precompile(&self) -> Result<Vec<u8>> {
        let engine = Engine::new(&precompile_config()?)?;
        let code = engine.precompile_component(self.wasm)?;
        let mut out = self.digest().to_vec();
        out.extend_from_slice(&code);
        Ok(out)
    }

    /// The embedded precompiled guest, tag included (empty when there is none).
    pub fn precompiled(&self) -> &'static [u8] {
        self.precompiled
    }

    /// Creates a fresh instance in its own sandbox. Instances are cheap once
    /// the guest is compiled; the rest of the host gets them from the run's
    /// one `pool::Pool`, which alone calls this.
    pub(crate) fn instantiate(&self) -> Result<Instance> {
        self.instantiate_with(Limits::DEFAULT)
    }

    /// Creates a fresh instance with the given limits.
    fn instantiate_with(&self, limits: Limits) -> Result<Instance> {
        self.runtime()?.instantiate(limits)
    }
}

/// The wasmtime configuration the guest runs with; the build precompiles
/// it with the same, for another target on aarch64 Linux
/// (`precompile_config`).
fn config() -> Config {
    // `Config::new()` enables no cache and writes no file (checked with
    // strace under an empty $HOME); poof must leave no traces.
    let mut config = Config::new();
    // The deadline of each guest call (`sandbox.rs`): the compiled guest
    // checks the engine's epoch at function entries and loop headers.
    config.epoch_interruption(true);
    config
}

/// The target triple the guest is precompiled for where that is the
/// architecture's baseline CPU rather than the CPU at hand: aarch64 Linux.
/// The aarch64 binary is built on an x86-64 machine and precompiles its guest
/// there under emulation (`cargo xtask dist`), where the emulated CPU says
/// nothing about the machine it will run on; the baseline (ARMv8-A with
/// NEON, no optional extension) runs on every aarch64 Linux machine, and
/// compiling again for it gives the same bytes on any of them, so `poof guest
/// verify` is exact there. On x86-64 the guest is compiled for the build
/// machine's CPU (SSE4.1, AVX2...), which makes sealing twice as fast
/// (docs/AUDIT.md).
const BASELINE_TARGET: Option<&str> =
    if cfg!(not(all(target_arch = "aarch64", target_os = "linux"))) {
        None
    } else if cfg!(target_env = "musl") {
        Some("aarch64-unknown-linux-musl")
    } else {
        Some("aarch64-unknown-linux-gnu")
    };

/// The configuration the guest is precompiled with: `config()`, for the CPU
/// at hand (wasmtime detects its features), or for `BASELINE_TARGET` with no
/// optional CPU feature. The engine that runs the guest always uses
/// `config()`; wasmtime accepts a precompiled guest whose features the CPU
/// has.
fn precompile_config() -> Result<Config> {
    let mut config = config();
    if let Some(triple) = BASELINE_TARGET {
        config.target(triple)?;
    }
    Ok(config)
}

impl Runtime {
    /// Compiles the guest, or takes its precompiled form: in place when it
    /// is the binary's own (`in_binary`, `Guest::embedded`'s contract) and
    /// that works here, else as a copy, else compiled from `wasm` here.
    fn load(
        wasm: &[u8],
        digest: &[u8; 32],
        precompiled: &'static [u8],
        in_binary: bool,
    ) -> Result<Runtime> {
        let placed = if in_binary {
            // SAFETY: `Guest::embedded`'s contract, for `precompiled`: the
            // binary's read-only data, precompiled by its build.
            #[allow(unsafe_code)]
            untagged(digest, precompiled)
                .and_then(|image| unsafe { in_place::load(config(), image) })
        } else {
            Err(anyhow::anyhow!(
                "the precompiled guest is not the binary's own data"
            ))
        };
        let (engine, component, compiled) = match placed {
            Ok((engine, component)) => (engine, component, Compiled::InPlace),
            Err(why) => {
                log::debug!(target: "poof", "not running the precompiled guest in place: {why:#}");
                let engine = Engine::new(&config())?;
                match deserialize(&engine, digest, precompiled) {
                    Ok(c) => (engine, c, Compiled::Precompiled),
                    Err(why) => {
                        log::debug!(target: "poof", "compiling the guest here: {why:#}");
                        let c = Component::new(&engine, wasm)
                            .map_err(anyhow::Error::from)
                            .context("compiling the guest")?;
                        (engine, c, Compiled::AtStartup)
                    }
                }
            }
        };
        Runtime::link(engine, &component, compiled)
    }

    /// Links a compiled guest to its sandbox.
    fn link(engine: Engine, component: &Component, compiled: Compiled) -> Result<Runtime> {
        let mut linker = Linker::<Sandbox>::new(&engine);
        sandbox::link(&mut linker)?;
        let pre = bindings::GuestPre::new(linker.instantiate_pre(component)?)?;
        sandbox::start_clock(&engine)?;
        Ok(Runtime {
            engine,
            pre,
            compiled,
        })
    }

    /// Creates a fresh instance with the given limits.
    fn instantiate(&self, limits: Limits) -> Result<Instance> {
        let mut store = CallStore::new(&self.engine, limits);
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(anyhow::Error::from)
            .context("the embedded guest could not be instantiated")?;
        Ok(Instance { store, bindings })
    }
}

/// The embedded precompiled guest, when it is tagged with `digest`, the
/// embedded component's SHA-256, and wasmtime accepts it for `engine` on
/// this CPU; otherwise why not.
fn deserialize(engine: &Engine, digest: &[u8; 32], precompiled: &[u8]) -> Result<Component> {
    let image = untagged(digest, precompiled)?;
    // SAFETY: `deserialize` trusts its input to be machine code that
    // wasmtime produced. These bytes are not input: they are embedded in
    // this binary by its own build (`cargo xtask build` or `dist`), produced
    // by `Engine::precompile_component` of this same wasmtime with
    // `precompile_config()` (which is `config()`, for the baseline CPU of
    // aarch64 on aarch64 Linux), and tagged with the hash of the embedded
    // component, checked just above. Before it uses any of the code,
    // wasmtime checks that it was compiled by this version, for this
    // architecture and operating system, with settings and wasm features
    // that match this engine's `config()` and CPU features this CPU has, and
    // refuses a mismatch (then the guest is compiled here).
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, image) };
    component
        .map_err(anyhow::Error::from)
        .context("wasmtime refused the precompiled guest")
}

/// wasmtime's bytes of a precompiled guest, when it is tagged with `digest`,
/// the embedded component's SHA-256; otherwise why not.
fn untagged<'a>(digest: &[u8; 32], precompiled: &'a [u8]) -> Result<&'a [u8]> {
    if precompiled.is_empty() {
        anyhow::bail!("this binary embeds no precompiled guest");
    }
    match precompiled.split_at_checked(TAG_LEN) {
        Some((tag, image)) if tag == digest && !image.is_empty() => Ok(image),
        _ => {
            anyhow::bail!("the precompiled guest is not tagged with the embedded component's hash")
        }
    }
}

/// One live guest instance in its sandbox.
pub struct Instance {
    store: CallStore,
    bindings: bindings::Guest,
}

impl Instance {
    /// The guest's description of itself.
    pub fn info(&mut self) -> Result<GuestInfo> {
        self.bindings
            .poof_core_audit()
            .call_info(&mut self.store)
            .map_err(anyhow::Error::from)
            .context("the guest trapped in `info`")
    }

    /// Asks the guest to try to escape its sandbox, and returns what it saw.
    pub fn probe_sandbox(&mut self, read_path: &str, connect_to: &str) -> Result<Vec<Probe>> {
        self.bindings
            .poof_core_audit()
            .call_probe_sandbox(&mut self.store, read_path, connect_to)
            .map_err(anyhow::Error::from)
            .context("the guest trapped in `probe-sandbox`")
    }

    /// Asks the guest for the plan of one configured path, unfiltered.
    pub fn plan_sync(&mut self, input: &sync::PlanInput) -> Result<Result<sync::Plan, GuestError>> {
        self.plan_sync_filtered(input, &crate::filters::none())
    }

    /// Asks the guest for the plan of one configured path, leaving out on
    /// both sides what `filter` excludes.
    pub fn plan_sync_filtered(
        &mut self,
        input: &sync::PlanInput,
        filter: &sync::Filter,
    ) -> Result<Result<sync::Plan, GuestError>> {
        self.bindings
            .poof_core_sync()
            .call_plan_sync(&mut self.store, input, filter)
            .map_err(anyhow::Error::from)
            .context("the guest trapped in `plan-sync`")
    }

    /// Asks the guest which of `paths` (one listing) `filter` keeps.
    pub fn select(
        &mut self,
        filter: &sync::Filter,
        paths: &[String],
    ) -> Result<Result<sync::Selection, GuestError>> {
        self.bindings
            .poof_core_sync()
            .call_select(&mut self.store, filter, paths)
            .map_err(anyhow::Error::from)
            .context("the guest trapped in `select`")
    }

    /// Asks the guest which checked files of one path `upload` may wipe.
    pub fn plan_wipe(
        &mut self,
        input: &wipe::WipeInput,
    ) -> Result<Result<wipe::WipePlan, GuestError>> {
        self.bindings
            .poof_core_wipe()
            .call_plan_wipe(&mut self.store, input)
            .map_err(anyhow::Error::from)
            .context("the guest trapped in `plan-wipe`")
    }

    /// Asks the guest how the local listing of one path pairs with its copy's.
    pub fn pair_listings(
        &mut self,
        local: &check::Listing,
        copy: &check::Listing,
    ) -> Result<Result<check::Pairing, GuestError>> {
        self.bindings
            .poof_core_check()
            .call_pair_listings(&mut self.store, local, copy)
            .map_err(anyhow::Error::from)
            .context("the guest trapped in `pair-listings`")
    }

    /// Asks the guest what the two hashes of one file mean.
    pub fn judge_hashes(
        &mut self,
        local: Result<&[u8], &str>,
        copy: &wipe::RemoteCheck,
    ) -> Result<check::Verdict> {
        self.bindings
            .poof_core_check()
            .call_judge_hashes(&mut self.store, local, copy)
            .map_err(anyhow::Error::from)
            .context("the guest trapped in `judge-hashes`")
    }

    /// Asks the guest which plain objects of a folder to read back with
    /// their encrypted copies (`cryptoggle --purge-plain`).
    pub fn pair_purge(
        &mut self,
        listings: &check::PurgeListings,
    ) -> Result<Result<Vec<check::PurgePair>, GuestError>> {
        self.bindings
            .poof_core_check()
            .call_pair_purge(&mut self.store, listings)
            .map_err(anyhow::Error::from)
            .context("the guest trapped in `pair-purge`")
    }

    /// Asks the guest what may be deleted of a plain folder, given the
    /// checks of the pairs `pair_purge` named.
    pub fn plan_purge(
        &mut self,
        listings: &check::PurgeListings,
        checks: &[check::PurgeCheck],
    ) -> Result<Result<check::PurgePlan, GuestError>> {
        self.bindings
            .poof_core_check()
            .call_plan_purge(&mut self.store, listings, checks)
            .map_err(anyhow::Error::from)
            .context("the guest trapped in `plan-purge`")
    }
}

/// A guest-side resource handle (keyring, sealer, opener or session) of one
/// instance. Give it back with `Instance::drop_handle`; a handle dropped
/// otherwise stays in the instance (with its keys) until the instance goes.
#[derive(Debug)]
pub struct Handle(wasmtime::component::ResourceAny);

/// The guest's answer to a crypto call: `Err` when it refused (wrong
/// passphrase, tampered bytes, ...); the outer `Result` is a trap.
pub type Crypto<T> = Result<Result<T, GuestError>>;

impl Instance {
    /// Names the guest call that trapped.
    fn trapped(what: &str) -> impl FnOnce(wasmtime::Error) -> anyhow::Error + '_ {
        move |e| anyhow::Error::from(e).context(format!("the guest trapped in `{what}`"))
    }
}

/// The guest `cargo xtask build` left in the target folder, for unit tests.
#[cfg(test)]
pub(crate) fn test_guest() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| {
        let wasm = std::fs::read(env!("POOF_GUEST_WASM")).expect("run `cargo xtask build` first");
        Guest::in_memory(wasm.leak(), &[])
    })
}

#[cfg(test)]
mod tests {
    //! The start-up fallback: a precompiled copy tagged with the embedded
    //! component's hash that wasmtime refuses is not used; the guest is
    //! compiled at start-up and works.

    use super::*;

    /// The occurrences of `needle` in `haystack`.
    fn positions(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
        haystack
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i)
            .collect()
    }

    /// `precompiled` is refused by wasmtime for the reason `why`, and a guest
    /// carrying it compiles at start-up and answers a call.
    fn falls_back(wasm: &'static [u8], precompiled: Vec<u8>, why: &str) -> Result<()> {
        let engine = Engine::new(&config())?;
        let digest: [u8; 32] = Sha256::digest(wasm).into();
        let Err(refused) = deserialize(&engine, &digest, &precompiled) else {
            anyhow::bail!("wasmtime accepted a precompiled guest that does not fit ({why})");
        };
        let refused = format!("{refused:#}");
        assert!(refused.contains(why), "{refused}");
        let guest = Guest::in_memory(wasm, precompiled.leak());
        assert_eq!(guest.compiled()?, Compiled::AtStartup, "{why}");
        let info = guest.instantiate()?.info()?;
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert!(info.contract.starts_with("poof:core@"), "{}", info.contract);
        Ok(())
    }

    #[test]
    fn a_tagged_precompiled_guest_that_does_not_fit_is_compiled_at_start_up() -> Result<()> {
        let wasm = test_guest().wasm();
        let good = test_guest().precompile()?;
        // The control: the copy precompiled here is used as it is.
        let guest = Guest::in_memory(wasm, good.clone().leak());
        assert_eq!(guest.compiled()?, Compiled::Precompiled);
        assert!(
            guest
                .instantiate()?
                .info()?
                .contract
                .starts_with("poof:core@")
        );

        // The right tag, then bytes that are no machine code at all.
        let mut garbage = good[..TAG_LEN].to_vec();
        garbage.extend((0..4096u32).map(|i| (i * 7 + 3) as u8));
        falls_back(wasm, garbage, "as an ELF")?;

        // The right tag, then the guest as wasmtime compiled it, but for
        // another operating system: the target recorded in the copy
        // (`x86_64-unknown-linux-gnu`, ...) is changed to one of the same
        // length, as a copy built elsewhere for another system would read.
        let mut elsewhere = good.clone();
        let at = positions(&elsewhere, b"-unknown-linux-");
        assert_eq!(at.len(), 1, "the copy names its target once: {at:?}");
        let os = at[0] + "-unknown-".len();
        elsewhere[os..os + 5].copy_from_slice(b"redox");
        falls_back(wasm, elsewhere, "compiled for operating system 'redox'")?;

        // The right tag, then the guest compiled with another configuration
        // (no epoch interruption, so no call deadline).
        let mut other = config();
        other.epoch_interruption(false);
        let mut unlike = good[..TAG_LEN].to_vec();
        unlike.extend(Engine::new(&other)?.precompile_component(wasm)?);
        falls_back(wasm, unlike, "without epoch interruption")
    }
}

#[cfg(test)]
mod bench {
    //! A measurement, not a check: the speed of the guest's encryption and
    //! the time of one unlock, inside the real guest under wasmtime. The
    //! figures are quoted in docs/FORMAT.md, "Measurements".

    use std::time::Instant;

    use super::*;

    /// Seals and opens 64 MiB in 64 KiB segments, and unlocks a wrapped key.
    /// Run by hand after `cargo xtask build`:
    /// `cargo test --release -p poof --lib engine::bench -- --ignored --nocapture`.
    /// `POOF_MEASURE_GUEST=FILE` measures another build of the guest (one
    /// built with other flags, to compare), compiled here at start.
    #[test]
    #[ignore = "a benchmark; run it by hand, in release mode"]
    fn crypto_in_the_guest() -> Result<()> {
        let path = std::env::var_os("POOF_MEASURE_GUEST")
            .map_or_else(|| env!("POOF_GUEST_WASM").into(), std::path::PathBuf::from);
        println!("guest: {}", path.display());
        let wasm: &'static [u8] = std::fs::read(path)?.leak();
        let guest = Guest::in_memory(wasm, &[]);
        let mut inst = guest.instantiate()?;
        let fail = |e: GuestError| anyhow::anyhow!("{e:?}");
        // Timed as `Instance::keyring_wrap` times it.
        let probe_nanos = inst.kdf_probe_nanos()?.map_err(fail)?;
        println!(
            "kdf probe (64 MiB, one pass, after one that grew the memory): {:.0} ms",
            probe_nanos as f64 / 1e6
        );
        let (store, c) = (&mut inst.store, inst.bindings.poof_core_crypto());
        let t = Instant::now();
        let key = c
            .keyring()
            .call_generate(&mut *store, &[1; 32])?
            .map_err(fail)?;
        let wrapped = c
            .keyring()
            .call_wrap(&mut *store, key, b"passphrase", &[2; 32], probe_nanos)?
            .map_err(fail)?;
        println!(
            "generate and wrap: {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        let info = c
            .call_inspect_wrapped_key(&mut *store, &wrapped)?
            .map_err(fail)?;
        let t = Instant::now();
        let key = c
            .keyring()
            .call_unlock(&mut *store, &wrapped, b"passphrase")?
            .map_err(fail)?;
        println!(
            "unlock ({:?}): {:.0} ms",
            info.kdf,
            t.elapsed().as_secs_f64() * 1e3
        );

        let segment = c.call_format(&mut *store)?.segment_size as usize;
        let count = 1024; // 64 MiB
        let plain: Vec<u8> = (0..segment).map(|i| i as u8).collect();
        let size = (segment * count) as u64;
        let stat = bindings::exports::poof::core::crypto::FileStat {
            size,
            mtime_ns: 0,
            mode: None,
        };
        for round in 0..3u8 {
            // Fresh entropy each round: an instance refuses a repeat.
            let sealer = c
                .keyring()
                .call_seal(&mut *store, key, "a", "b", stat, &[3 + round; 32])?
                .map_err(fail)?;
            let (t, cpu) = (Instant::now(), thread_cpu_s());
            let mut sealed = Vec::with_capacity(count);
            for i in 0..count {
                let last = i + 1 == count;
                sealed.push(
                    c.sealer()
                        .call_seal_segment(&mut *store, sealer, &plain, last)?
                        .map_err(fail)?,
                );
            }
            let header = c
                .sealer()
                .call_finish(&mut *store, sealer, None)?
                .map_err(fail)?;
            let (seal_s, seal_cpu) = (t.elapsed().as_secs_f64(), thread_cpu_s() - cpu);
            sealer.resource_drop(&mut *store)?;
            let opener = c
                .keyring()
                .call_open(&mut *store, key, "a", "b", &header)?
                .map_err(fail)?;
            let (t, cpu) = (Instant::now(), thread_cpu_s());
            for (i, s) in sealed.iter().enumerate() {
                let last = i + 1 == count;
                c.opener()
                    .call_open_segment(&mut *store, opener, s, last)?
                    .map_err(fail)?;
            }
            let (open_s, open_cpu) = (t.elapsed().as_secs_f64(), thread_cpu_s() - cpu);
            opener.resource_drop(&mut *store)?;
            let mb = size as f64 / 1e6;
            // Per CPU-second of this thread as well: what one core does,
            // whatever else the machine runs.
            println!(
                "64 MiB: seal {:.0} MB/s ({:.0} MB per CPU-s), open {:.0} MB/s ({:.0} MB per CPU-s)",
                mb / seal_s,
                mb / seal_cpu,
                mb / open_s,
                mb / open_cpu
            );
        }
        drop(inst);

        // One instance per core, each on its own thread, as the host will run them.
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let t = Instant::now();
        std::thread::scope(|scope| -> Result<()> {
            let workers: Vec<_> = (0..threads)
                .map(|_| scope.spawn(|| seal_all(&guest, &wrapped, &plain, count)))
                .collect();
            for w in workers {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
            }
            Ok(())
        })?;
        let mb = (threads * segment * count) as f64 / 1e6;
        println!(
            "{threads} instances in parallel, 64 MiB each, unlock included: seal {:.0} MB/s in all",
            mb / t.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// The CPU time this thread has used, in seconds (Linux's
    /// schedstat: nanoseconds on a CPU, first field).
    fn thread_cpu_s() -> f64 {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
            .expect("reading /proc/thread-self/schedstat");
        let ns: u64 = stat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse().ok())
            .expect("schedstat starts with the nanoseconds on a CPU");
        ns as f64 / 1e9
    }

    /// Unlocks `wrapped` in a fresh instance and seals `count` copies of `plain`.
    fn seal_all(guest: &Guest, wrapped: &[u8], plain: &[u8], count: usize) -> Result<()> {
        let mut inst = guest.instantiate()?;
        let (store, c) = (&mut inst.store, inst.bindings.poof_core_crypto());
        let fail = |e: GuestError| anyhow::anyhow!("{e:?}");
        let key = c
            .keyring()
            .call_unlock(&mut *store, wrapped, b"passphrase")?
            .map_err(fail)?;
        let stat = bindings::exports::poof::core::crypto::FileStat {
            size: (plain.len() * count) as u64,
            mtime_ns: 0,
            mode: None,
        };
        let sealer = c
            .keyring()
            .call_seal(&mut *store, key, "a", "b", stat, &[3; 32])?
            .map_err(fail)?;
        for i in 0..count {
            c.sealer()
                .call_seal_segment(&mut *store, sealer, plain, i + 1 == count)?
                .map_err(fail)?;
        }
        Ok(())
    }
}
