//! Runs the embedded guest component under wasmtime, in a sandbox that grants nothing.
//!
//! Invariants:
//! - the guest is compiled at most once per process (`Guest::runtime`), and
//!   nothing is written to disk for it: wasmtime's cache is not compiled in;
//! - every instance gets a WASI context with no preopened folder, no
//!   environment, no arguments, no sockets, no name lookup, closed standard
//!   streams, and clocks frozen at the Unix epoch, so the guest can only
//!   compute on what the host hands it.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

mod bindings {
    //! Host-side bindings generated from `wit/`, the one contract.
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        world: "guest",
        path: "../wit",
    });
}

pub use bindings::exports::poof::core::audit::{GuestInfo, Probe};
pub use bindings::exports::poof::core::sync;
pub use bindings::poof::core::types::Error as GuestError;

/// The guest component's bytes as embedded in the binary, plus its compiled form once needed.
pub struct Guest {
    wasm: &'static [u8],
    runtime: OnceLock<Result<Runtime, String>>,
}

/// A compiled guest, ready to be instantiated any number of times.
struct Runtime {
    engine: Engine,
    pre: bindings::GuestPre<Sandbox>,
}

/// The per-instance state wasmtime keeps for the guest: an empty WASI context.
struct Sandbox {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// A clock stopped at the Unix epoch: the guest is sans-IO, time comes as input.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl Guest {
    /// Wraps the embedded component bytes; nothing is compiled yet.
    pub const fn new(wasm: &'static [u8]) -> Self {
        Guest {
            wasm,
            runtime: OnceLock::new(),
        }
    }

    /// The exact bytes of the embedded component.
    pub fn wasm(&self) -> &'static [u8] {
        self.wasm
    }

    /// SHA-256 of the embedded component, in lower-case hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.wasm))
    }

    fn runtime(&self) -> Result<&Runtime> {
        self.runtime
            .get_or_init(|| Runtime::compile(self.wasm).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("the embedded guest could not be loaded: {e}"))
    }

    /// Creates a fresh instance in its own sandbox. Instances are cheap once
    /// the guest is compiled; use one per thread.
    pub fn instantiate(&self) -> Result<Instance> {
        let rt = self.runtime()?;
        let mut store = Store::new(&rt.engine, Sandbox::new());
        let bindings = rt
            .pre
            .instantiate(&mut store)
            .map_err(anyhow::Error::from)
            .context("the embedded guest could not be instantiated")?;
        Ok(Instance { store, bindings })
    }
}

impl Runtime {
    fn compile(wasm: &[u8]) -> Result<Runtime> {
        // `Config::new()` enables no cache and writes no file (checked with
        // strace under an empty $HOME); poof must leave no traces.
        let config = Config::new();
        let engine = Engine::new(&config)?;
        let component = Component::new(&engine, wasm)
            .map_err(anyhow::Error::from)
            .context("compiling the guest")?;
        let mut linker = Linker::<Sandbox>::new(&engine);
        // The std-built guest imports wasi:cli and wasi:io; link them all, and
        // let the empty context answer "no" to everything.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let pre = bindings::GuestPre::new(linker.instantiate_pre(&component)?)?;
        Ok(Runtime { engine, pre })
    }
}

impl Sandbox {
    fn new() -> Self {
        // Builder defaults: no preopens, no env, no args, empty stdin,
        // discarded stdout and stderr. Deny the network explicitly.
        let ctx = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .build();
        Sandbox {
            ctx,
            table: ResourceTable::new(),
        }
    }
}

/// One live guest instance in its sandbox.
pub struct Instance {
    store: Store<Sandbox>,
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

    /// Asks the guest for the plan of one configured path.
    pub fn plan_sync(&mut self, input: &sync::PlanInput) -> Result<Result<sync::Plan, GuestError>> {
        self.bindings
            .poof_core_sync()
            .call_plan_sync(&mut self.store, input)
            .map_err(anyhow::Error::from)
            .context("the guest trapped in `plan-sync`")
    }
}
