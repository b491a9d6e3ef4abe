//! The sandbox's checks: the guest imports only the reviewed interfaces,
//! the linker has no randomness to give, and both limits trip with an error
//! that names them.

use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Result};

use super::super::sync::{Entry, PlanInput};
use super::super::{Instance, config, test_guest};
use super::{Limits, Sandbox, link};

/// Every import of the guest component, as reviewed: what `link`
/// provides must cover exactly this, and none of it is `wasi:random`.
/// When a guest change alters the list, review `link` and this list.
const GUEST_IMPORTS: &[&str] = &[
    "poof:core/types@0.1.0",
    "wasi:cli/environment@0.2.6",
    "wasi:cli/exit@0.2.6",
    "wasi:cli/stderr@0.2.6",
    "wasi:cli/stdin@0.2.6",
    "wasi:cli/stdout@0.2.6",
    "wasi:cli/terminal-input@0.2.6",
    "wasi:cli/terminal-output@0.2.6",
    "wasi:cli/terminal-stderr@0.2.6",
    "wasi:cli/terminal-stdin@0.2.6",
    "wasi:cli/terminal-stdout@0.2.6",
    "wasi:clocks/monotonic-clock@0.2.6",
    "wasi:clocks/wall-clock@0.2.6",
    "wasi:filesystem/preopens@0.2.6",
    "wasi:filesystem/types@0.2.6",
    "wasi:io/error@0.2.6",
    "wasi:io/poll@0.2.6",
    "wasi:io/streams@0.2.6",
    "wasi:sockets/instance-network@0.2.6",
    "wasi:sockets/ip-name-lookup@0.2.6",
    "wasi:sockets/network@0.2.6",
    "wasi:sockets/tcp-create-socket@0.2.6",
    "wasi:sockets/tcp@0.2.6",
    "wasi:sockets/udp-create-socket@0.2.6",
    "wasi:sockets/udp@0.2.6",
];

#[test]
fn the_guest_imports_only_the_reviewed_interfaces_and_no_randomness() -> Result<()> {
    let engine = Engine::new(&config())?;
    let component = Component::new(&engine, test_guest().wasm())?;
    let mut imports: Vec<String> = component
        .component_type()
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect();
    imports.sort();
    assert_eq!(
        imports, GUEST_IMPORTS,
        "the guest's imports changed: review `sandbox::link` and GUEST_IMPORTS"
    );
    assert!(!imports.iter().any(|i| i.starts_with("wasi:random")));
    Ok(())
}

/// The smallest component that imports `func: func() -> u64` (or
/// `-> tuple<u64, u64>` when `pair`) from the instance `interface`,
/// in the component binary format, written out by hand to need no
/// encoder crate.
fn importing(interface: &str, func: &str, pair: bool) -> Vec<u8> {
    fn name(out: &mut Vec<u8>, s: &str) {
        out.push(0x00);
        out.push(u8::try_from(s.len()).expect("a short name"));
        out.extend_from_slice(s.as_bytes());
    }
    fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
        out.push(id);
        out.push(u8::try_from(body.len()).expect("a short section"));
        out.extend_from_slice(body);
    }
    // One instance type: its own types, then the function's export.
    let mut types = vec![0x01, 0x42];
    let result = if pair {
        types.push(3);
        types.extend([0x01, 0x6f, 0x02, 0x77, 0x77]); // type 0: tuple<u64, u64>
        0x00 // type 0
    } else {
        types.push(2);
        0x77 // u64
    };
    types.extend([0x01, 0x40, 0x00, 0x00, result]); // the last type: func() -> result
    types.push(0x04); // exported as `func`
    name(&mut types, func);
    types.extend([0x01, u8::from(pair)]);
    let mut import = vec![0x01];
    name(&mut import, interface);
    import.extend([0x05, 0x00]); // an instance of type 0

    let mut out = b"\0asm\x0d\x00\x01\x00".to_vec();
    section(&mut out, 0x07, &types);
    section(&mut out, 0x0a, &import);
    out
}

/// Whether a component importing `func` of `interface` links with `linker`.
fn links(linker: &Linker<Sandbox>, interface: &str, func: &str, pair: bool) -> bool {
    let component = Component::new(linker.engine(), importing(interface, func, pair))
        .expect("a valid component");
    linker.instantiate_pre(&component).is_ok()
}

#[test]
fn the_linker_has_no_randomness_to_give() -> Result<()> {
    let engine = Engine::new(&config())?;
    let mut sandbox = Linker::<Sandbox>::new(&engine);
    link(&mut sandbox)?;
    // wasmtime-wasi's full set, which poof linked before: the same
    // components link there, so the test components are sound.
    let mut full = Linker::<Sandbox>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut full)?;

    let random = [
        ("wasi:random/random@0.2.6", "get-random-u64", false),
        (
            "wasi:random/insecure@0.2.6",
            "get-insecure-random-u64",
            false,
        ),
        ("wasi:random/insecure-seed@0.2.6", "insecure-seed", true),
        // An older version of the interface, which a linker may also
        // satisfy from a newer one.
        ("wasi:random/random@0.2.0", "get-random-u64", false),
    ];
    for (interface, func, pair) in random {
        assert!(links(&full, interface, func, pair), "{interface}");
        assert!(
            !links(&sandbox, interface, func, pair),
            "the guest's linker gives {interface}"
        );
    }
    // What the guest does import still links.
    assert!(links(
        &sandbox,
        "wasi:clocks/monotonic-clock@0.2.6",
        "now",
        false
    ));
    Ok(())
}

/// A plan of `n` files on each side, 1% of them changed.
pub(super) fn plan_input(n: usize) -> PlanInput {
    let entry = |i: usize, changed: bool| Entry {
        path: format!("folder-{:03}/file-{i:07}.txt", i % 1000),
        size: i as u64,
        mtime_ns: 1_600_000_000_000_000_000 + i64::from(changed) * 1_000_000_000_000,
        mode: Some(0o644),
    };
    crate::testkit::plan_input(
        (0..n).map(|i| entry(i, i % 100 == 0)).collect(),
        (0..n).map(|i| entry(i, false)).collect(),
    )
}

fn instance(limits: Limits) -> Instance {
    test_guest()
        .instantiate_with(limits)
        .expect("the guest instantiates")
}

#[test]
fn a_guest_past_its_memory_limit_traps_with_a_clear_error() {
    let input = plan_input(100_000);
    let small = Limits {
        memory: 16 << 20,
        ..Limits::DEFAULT
    };
    let mut inst = instance(small);
    inst.info().expect("a small call fits");
    let err = inst
        .plan_sync(&input)
        .expect_err("the plan needs more than 16 MiB");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("the guest needed more than its memory limit of 16 MiB"),
        "{msg}"
    );
    assert!(inst.store.peak_memory() <= 16 << 20);

    let mut inst = instance(Limits::DEFAULT);
    let plan = inst.plan_sync(&input).unwrap().unwrap();
    assert_eq!(plan.copy.len(), 1000);
    assert!(inst.store.peak_memory() > 16 << 20);
}

#[test]
fn a_call_past_its_deadline_traps_with_a_clear_error() {
    let input = plan_input(20_000);
    let mut inst = instance(Limits {
        deadline: Duration::ZERO,
        ..Limits::DEFAULT
    });
    // The deadline is checked when the engine's epoch advances during a
    // call; calls follow each other until that happens.
    let started = Instant::now();
    let err = loop {
        match inst.plan_sync(&input) {
            Err(e) => break e,
            Ok(_) => assert!(
                started.elapsed() < Duration::from_secs(30),
                "no call ever trapped"
            ),
        }
    };
    let msg = format!("{err:#}");
    assert!(msg.contains("past its deadline of 0 s"), "{msg}");
}

#[test]
fn each_call_gets_the_whole_deadline() {
    let input = plan_input(5_000);
    let mut inst = instance(Limits {
        deadline: Duration::from_secs(1),
        ..Limits::DEFAULT
    });
    // Three seconds of calls, each far shorter than the deadline: none
    // trips it, though together they run past it.
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_secs(3) {
        inst.plan_sync(&input).unwrap().unwrap();
        calls += 1;
    }
    assert!(calls > 1);
}
