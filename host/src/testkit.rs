//! Shared pieces of the host's unit tests: the run's guest pool, remotes
//! over the in-memory store on both layouts, a config of one path, and
//! quiet output. Only compiled for tests.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::config::{PoofConf, RemoteSpec, SyncPath};
use crate::crypt::Crypt;
use crate::engine::pool::Pool;
use crate::layout::freshness::Memory;
use crate::layout::plain::PlainRemote;
use crate::layout::sealed::SealedRemote;
use crate::layout::session::Beside;
use crate::output::Output;
use crate::remote::Remote;
use crate::store::Store;
use crate::store::memory::MemoryStore;

/// The guest pool of the test process (the guest `cargo xtask build` left).
pub fn pool() -> &'static Pool {
    static POOL: OnceLock<&'static Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::for_run(crate::engine::test_guest()))
}

/// Output that prints nothing but errors.
pub const QUIET: Output = Output {
    verbose: false,
    quiet: true,
    json: false,
    progress: None,
};

/// Both layouts, by the names `remote` takes.
pub const LAYOUTS: [&str; 2] = ["plain", "sealed"];

/// The configured path of `local`, kept in the cloud folder `Docs`.
pub fn path(local: &Path) -> SyncPath {
    SyncPath {
        local: local.to_path_buf(),
        cloud: "Docs".into(),
        exclude: Vec::new(),
    }
}

/// A config with the one path of `local` (its remote is not used: tests
/// pass their own).
pub fn conf(local: &Path) -> PoofConf {
    PoofConf {
        file: local.join("poof.conf"),
        bucket: None,
        conf_file: None,
        paths: vec![path(local)],
        remote: RemoteSpec::Folder("/nonexistent".into()),
        encrypted: false,
    }
}

/// A plan's input going up, the source present and complete, with nothing
/// asked for: the default guards, every mode off, times equal to the
/// nanosecond.
pub fn plan_input(
    source: Vec<crate::engine::sync::Entry>,
    target: Vec<crate::engine::sync::Entry>,
) -> crate::engine::sync::PlanInput {
    crate::engine::sync::PlanInput {
        direction: crate::engine::sync::Direction::Up,
        source_state: crate::engine::sync::SourceState::Present,
        source,
        source_complete: true,
        never_delete: false,
        restore_elsewhere: false,
        target,
        mtime_window_ns: 1,
        max_delete: None,
        max_overwrite: None,
        confirmed: false,
        checksum: false,
        source_hashes: Vec::new(),
        target_hashes: Vec::new(),
    }
}

/// The options of a sync in `direction` with nothing asked for: the
/// default guards, 4 transfers, every mode off.
pub fn options(direction: crate::engine::sync::Direction) -> crate::sync::Options {
    crate::sync::Options {
        direction,
        dry_run: false,
        max_delete: None,
        max_overwrite: None,
        confirmed: false,
        transfers: 4,
        checksum: false,
        keep_target_extras: false,
        restore_elsewhere: false,
    }
}

/// Writes `body` to `root/rel`, creating folders.
pub fn write(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

/// The plain layout over `store`, with a guest session.
pub fn plain(store: &Arc<MemoryStore>) -> PlainRemote {
    let s: Arc<dyn Store> = store.clone();
    PlainRemote::new(s).with_session(pool().take().unwrap(), Beside::default())
}

/// One test key, unlocked (the same in every test).
pub fn crypt() -> Crypt {
    static WRAPPED: OnceLock<Vec<u8>> = OnceLock::new();
    let wrapped = WRAPPED.get_or_init(|| {
        let mut inst = pool().lease().unwrap();
        let key = inst.keyring_generate(&[7; 32]).unwrap().unwrap();
        inst.keyring_wrap(&key, b"test passphrase", &[9; 32])
            .unwrap()
            .unwrap()
    });
    Crypt::unlock(
        pool(),
        wrapped.clone(),
        zeroize::Zeroizing::new(b"test passphrase".to_vec()),
        "test key",
    )
    .unwrap()
}

/// The sealed layout over `store`, under the test key, on a machine that
/// remembers nothing of it.
pub fn sealed(store: &Arc<MemoryStore>) -> SealedRemote {
    let s: Arc<dyn Store> = store.clone();
    SealedRemote::new(s, Arc::new(crypt()), Memory::of_one_run()).unwrap()
}

/// The layout named `layout` (one of `LAYOUTS`) over `store`.
pub fn remote(layout: &str, store: &Arc<MemoryStore>) -> Box<dyn Remote> {
    match layout {
        "plain" => Box::new(plain(store)),
        _ => Box::new(sealed(store)),
    }
}

/// Writes and backs up `files` one at a time with `backup`, returning each
/// file's object key (the sealed layout's keys are encrypted paths).
pub fn backup_keyed(
    backup: impl Fn(&Path, &dyn Remote),
    local: &Path,
    remote: &dyn Remote,
    store: &MemoryStore,
    files: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut keys = BTreeMap::new();
    for (rel, body) in files {
        let before = store.keys();
        write(local, rel, body);
        backup(local, remote);
        let new: Vec<String> = store
            .keys()
            .into_iter()
            .filter(|k| !k.starts_with(".poof/") && !before.contains(k))
            .collect();
        assert_eq!(new.len(), 1, "{rel}: {new:?}");
        keys.insert(rel.to_string(), new[0].clone());
    }
    keys
}
