//! The guest's sandbox: what it can import, how much memory it can take, and
//! how long one call can run.
//!
//! Invariants:
//! - the linker provides only the WASI interfaces the guest component
//!   imports (`link`; a test checks the list against the component), each
//!   backed by a context that grants nothing. `wasi:random` is not among
//!   them: the guest has no randomness of its own, it gets all of it from
//!   the host as explicit entropy (`crypt::entropy`), so what it does depends
//!   only on its inputs;
//! - every instance's memory is capped (`Limits::memory`) and every call into
//!   it has a deadline (`Limits::deadline`, enforced by epoch interruption):
//!   a guest bug that allocates or loops without end traps, with an error
//!   that says which limit it hit, instead of exhausting the machine.

use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{
    AsContext, AsContextMut, Engine, ResourceLimiter, Result, Store, StoreContext, StoreContextMut,
    UpdateDeadline, bail,
};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// How much one guest instance may use.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most linear memory the instance may hold, in bytes.
    pub memory: usize,
    /// The longest one call into the instance may run.
    pub deadline: Duration,
}

impl Limits {
    /// The limits of every instance poof runs (measured in docs/AUDIT.md,
    /// "Limits").
    ///
    /// Memory: the largest need measured is a sealed remote's session, whose
    /// instance holds every file of the remote for the run: 86 MiB for
    /// 100,000 files, 844 MiB for 1,000,000. 2 GiB is twenty-three times
    /// the 100,000 files poof is tested with, and half of what wasm32 can
    /// address at all; a bigger backup stops with the limit's error.
    ///
    /// Deadline: the longest single call measured, a sealed session taking
    /// in the listing and manifest of 1,000,000 files, takes 33 s of CPU on
    /// the 2-vCPU build machine (100,000 files: 3 s). Ten minutes leaves a
    /// slow or busy machine a wide margin and still ends a guest stuck in a
    /// loop in bounded time.
    pub const DEFAULT: Limits = Limits {
        memory: 2 << 30,
        deadline: Duration::from_secs(600),
    };
}

/// How often the engine's epoch advances; deadlines are checked this often
/// while the guest runs, so they trip at most this late.
const TICK: Duration = Duration::from_millis(100);

/// The per-instance state wasmtime keeps for the guest: an empty WASI
/// context, and the instance's limits.
pub(super) struct Sandbox {
    ctx: WasiCtx,
    table: ResourceTable,
    limits: Limits,
    /// The most linear memory the instance asked for so far, in bytes.
    peak_memory: usize,
    /// When the current (or last) call into the instance started.
    call_started: Instant,
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl Sandbox {
    fn new(limits: Limits) -> Self {
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
            limits,
            peak_memory: 0,
            call_started: Instant::now(),
        }
    }

    /// Called each time the epoch passes the store's deadline while the
    /// guest runs: traps once the current call has run too long.
    fn check_deadline(&self) -> Result<UpdateDeadline> {
        let ran = self.call_started.elapsed();
        if ran > self.limits.deadline {
            bail!(
                "the guest ran for {:.1} s in one call, past its deadline of {} s; this is a \
                 bug in poof's guest, please report it",
                ran.as_secs_f64(),
                self.limits.deadline.as_secs_f64()
            );
        }
        Ok(UpdateDeadline::Continue(1))
    }
}

impl ResourceLimiter for Sandbox {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        if desired > self.limits.memory {
            bail!(
                "the guest needed more than its memory limit of {} MiB; this is a bug in \
                 poof's guest, or a backup too large for one instance: please report it",
                self.limits.memory >> 20
            );
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool> {
        // The guest's tables hold function references and never grow in
        // practice; each element costs a few bytes of host memory.
        Ok(desired <= 1 << 20)
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

/// A guest instance's store, with its limits in force.
///
/// Every call into the guest takes the store through `as_context_mut`: the
/// bindings `bindgen!` generates do so exactly once per call, right before
/// entering the guest, and so do `ResourceAny::resource_drop` and
/// instantiation. That is where the call's deadline starts, so each call
/// gets the whole of it, however long the instance has lived.
pub(super) struct CallStore(Store<Sandbox>);

impl CallStore {
    /// A store for one new instance.
    pub(super) fn new(engine: &Engine, limits: Limits) -> Self {
        let mut store = Store::new(engine, Sandbox::new(limits));
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        store.epoch_deadline_callback(|ctx| ctx.data().check_deadline());
        CallStore(store)
    }

    /// The most linear memory the instance asked for so far, in bytes.
    #[cfg(test)]
    pub(super) fn peak_memory(&self) -> usize {
        self.0.data().peak_memory
    }
}

impl AsContext for CallStore {
    type Data = Sandbox;

    fn as_context(&self) -> StoreContext<'_, Sandbox> {
        self.0.as_context()
    }
}

impl AsContextMut for CallStore {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, Sandbox> {
        self.0.data_mut().call_started = Instant::now();
        self.0.set_epoch_deadline(1);
        self.0.as_context_mut()
    }
}

/// Starts the thread that advances `engine`'s epoch every `TICK`, for as
/// long as the engine lives.
pub(super) fn start_clock(engine: &Engine) -> Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("poof-guest-clock".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })?;
    Ok(())
}

/// The `HasData` of `wasi:io`: its functions need only the resource table.
struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

fn io_table(s: &mut Sandbox) -> &mut ResourceTable {
    &mut s.table
}

/// Links the WASI interfaces the guest imports, and nothing else.
///
/// The guest is built with Rust's `std` for `wasm32-wasip2`, which imports
/// `wasi:cli`, `wasi:io`, `wasi:clocks`, `wasi:filesystem` and
/// `wasi:sockets` (the last two for the sandbox probe, `poof guest probe`).
/// All are wasmtime-wasi's own implementations over the empty context of
/// `Sandbox::new`: no preopened folder, so no file can be named; network
/// denied, so no socket can be made; clocks frozen. Left out, though
/// `wasmtime_wasi::p2::add_to_linker_sync` would add them: `wasi:random/random`,
/// `wasi:random/insecure` and `wasi:random/insecure-seed`. A component that
/// imported any of them would fail to link.
pub(super) fn link(linker: &mut Linker<Sandbox>) -> Result<()> {
    // As `add_to_linker_sync` does: the interfaces with blocking calls
    // from `bindings::sync`, the others from `bindings`.
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, sockets, sync};

    let l = linker;
    sync::io::error::add_to_linker::<Sandbox, HasIo>(l, io_table)?;
    sync::io::poll::add_to_linker::<Sandbox, HasIo>(l, io_table)?;
    sync::io::streams::add_to_linker::<Sandbox, HasIo>(l, io_table)?;

    clocks::wall_clock::add_to_linker::<Sandbox, WasiClocks>(l, Sandbox::clocks)?;
    clocks::monotonic_clock::add_to_linker::<Sandbox, WasiClocks>(l, Sandbox::clocks)?;

    cli::environment::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::exit::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::stdin::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::stdout::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::stderr::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::terminal_input::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::terminal_output::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::terminal_stdin::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::terminal_stdout::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;
    cli::terminal_stderr::add_to_linker::<Sandbox, WasiCli>(l, Sandbox::cli)?;

    filesystem::preopens::add_to_linker::<Sandbox, WasiFilesystem>(l, Sandbox::filesystem)?;
    sync::filesystem::types::add_to_linker::<Sandbox, WasiFilesystem>(l, Sandbox::filesystem)?;

    let network = sockets::network::LinkOptions::default();
    sockets::network::add_to_linker::<Sandbox, WasiSockets>(l, &network, Sandbox::sockets)?;
    sockets::instance_network::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    sync::sockets::tcp::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    sockets::tcp_create_socket::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    sync::sockets::udp::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    sync::sockets::udp_create_socket::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    sockets::ip_name_lookup::add_to_linker::<Sandbox, WasiSockets>(l, Sandbox::sockets)?;
    Ok(())
}

#[cfg(test)]
mod measure;
#[cfg(test)]
mod tests;
