//! The master key: generating it, wrapping it with a passphrase, unlocking it.
//!
//! A wrapped key is a 100-byte, self-describing blob (`docs/FORMAT.md`,
//! "Wrapped key"): magic and version, the Argon2id parameters and salt, the
//! key id, and the master key sealed with AES-256-GCM under the key that
//! Argon2id derives from the passphrase. Every field before the sealed key is
//! associated data, so no parameter can be changed unnoticed.
//!
//! Invariants: the master key and every key derived from it live only in a
//! [`Keyring`] (in containers that wipe themselves on drop) and never leave
//! it; Argon2id's working memory is wiped before it is freed; parameters read
//! from a wrapped key are bounded, so a hostile blob cannot make the guest
//! allocate without limit or run for hours.

use std::collections::BTreeSet;
use std::sync::Mutex;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, FORMAT_VERSION, Result, TAG_LEN, check_entropy, gcm, gcm_open, gcm_seal};
use super::{hkdf, to_hex};

/// The magic bytes at the start of a wrapped key.
pub const MAGIC: &[u8; 7] = b"poofkey";

/// Length of a wrapped key in bytes.
pub const WRAPPED_LEN: usize = 100;

/// Length of the key id in bytes.
pub const KEY_ID_LEN: usize = 16;

/// Length of the Argon2id salt in bytes (RFC 9106 recommends 16).
pub const ARGON2_SALT_LEN: usize = 16;

/// Where the sealed master key starts: everything before it is associated data.
const SEALED_AT: usize = 52;

/// The largest Argon2id memory a wrapped key may ask for, in KiB (1 GiB).
pub const MAX_MEMORY_KIB: u32 = 1 << 20;

/// The most Argon2id passes a wrapped key may ask for.
pub const MAX_ITERATIONS: u32 = 64;

/// The most Argon2id lanes a wrapped key may ask for.
pub const MAX_PARALLELISM: u32 = 16;

/// Argon2id's cost parameters, as stored in a wrapped key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Number of passes over the memory.
    pub iterations: u32,
    /// Number of lanes (computed one after the other inside the guest).
    pub parallelism: u32,
}

impl KdfParams {
    /// The memory new wrapped keys get: 64 MiB, RFC 9106's "uniformly safe
    /// option" when much less memory is available than its first choice
    /// (2 GiB), and what lets a run that unlocks a key stay within poof's
    /// memory budget of 96 MiB (docs/FORMAT.md, "Wrapped key").
    pub const NEW_MEMORY_KIB: u32 = 64 * 1024;

    /// The time one unlock of a new key should take on the machine that
    /// wraps it: about a second.
    pub const NEW_TARGET_NANOS: u64 = 1_000_000_000;

    /// The fewest passes a new key gets however slow the machine: RFC 9106's
    /// 3 for 64 MiB.
    pub const NEW_MIN_ITERATIONS: u32 = 3;

    /// What `kdf-probe` runs for the host to time: one pass over the memory
    /// new keys get.
    pub const PROBE: KdfParams = KdfParams {
        memory_kib: Self::NEW_MEMORY_KIB,
        iterations: 1,
        parallelism: 1,
    };

    /// The parameters a new wrapped key gets, given the time one pass of
    /// [`KdfParams::PROBE`] took on this machine (`probe_nanos`, measured by
    /// the host): 64 MiB, 1 lane, and as many passes as take about
    /// [`KdfParams::NEW_TARGET_NANOS`], at least [`KdfParams::NEW_MIN_ITERATIONS`]
    /// and at most [`MAX_ITERATIONS`]. A host that reports a wrong time can
    /// only move the passes within those bounds. A run pays the unlock once:
    /// the host unlocks in one instance, hands the key to the others through
    /// [`Keyring::handoff`], and drops that instance, so its 64 MiB (which
    /// wasm memory never gives back) do not stay for the run.
    pub fn for_new_key(probe_nanos: u64) -> KdfParams {
        let passes = Self::NEW_TARGET_NANOS.div_ceil(probe_nanos.max(1)).clamp(
            u64::from(Self::NEW_MIN_ITERATIONS),
            u64::from(MAX_ITERATIONS),
        );
        KdfParams {
            memory_kib: Self::NEW_MEMORY_KIB,
            // Within 3..=64 by the clamp above.
            iterations: u32::try_from(passes).unwrap_or(MAX_ITERATIONS),
            parallelism: 1,
        }
    }

    /// The parameters new keys got from issue 13 until poof's memory budget
    /// (96 MiB) lowered them: 256 MiB, 3 passes, 1 lane (age's memory for a
    /// passphrase, about 1 s inside the guest). Keys wrapped with them open
    /// as before; `poof econfig --change-passphrase` rewraps them.
    pub const SECOND: KdfParams = KdfParams {
        memory_kib: 256 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// The parameters new keys got first: 32 MiB, 3 passes, 1 lane. Keys
    /// wrapped with them open as before (the parameters are read from each
    /// wrapped key), and the test vectors of docs/FORMAT.md use them.
    pub const FIRST: KdfParams = KdfParams {
        memory_kib: 32 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Checks the bounds this guest accepts and turns them into Argon2 parameters.
    fn to_argon2(self) -> Result<Params> {
        let out_of_range = || {
            CryptoError::UnsupportedFormat(format!(
                "Argon2id parameters out of range (memory {} KiB, {} passes, {} lanes); \
                 this guest accepts at most {MAX_MEMORY_KIB} KiB, {MAX_ITERATIONS} passes, \
                 {MAX_PARALLELISM} lanes",
                self.memory_kib, self.iterations, self.parallelism
            ))
        };
        if self.memory_kib > MAX_MEMORY_KIB
            || self.iterations > MAX_ITERATIONS
            || self.parallelism > MAX_PARALLELISM
        {
            return Err(out_of_range());
        }
        Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|_| out_of_range())
    }
}

/// What a wrapped key says about itself, readable without the passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKeyInfo {
    /// The format version.
    pub version: u8,
    /// The key id, which names the master key (not the passphrase): it stays
    /// the same when the passphrase changes.
    pub key_id: [u8; KEY_ID_LEN],
    /// The Argon2id parameters.
    pub kdf: KdfParams,
}

/// Reads the plain fields of a wrapped key, checking its length, magic and version.
pub fn inspect(wrapped: &[u8]) -> Result<WrappedKeyInfo> {
    if wrapped.len() < 8 || &wrapped[..7] != MAGIC {
        return Err(CryptoError::UnsupportedFormat(
            "this is not a poof wrapped key (no `poofkey` magic)".into(),
        ));
    }
    if wrapped[7] != FORMAT_VERSION {
        return Err(CryptoError::UnsupportedFormat(format!(
            "wrapped key version {} is not supported (this guest reads version {FORMAT_VERSION})",
            wrapped[7]
        )));
    }
    if wrapped.len() != WRAPPED_LEN {
        let e = format!(
            "a wrapped key is {WRAPPED_LEN} bytes, this one {}",
            wrapped.len()
        );
        return Err(if wrapped.len() < WRAPPED_LEN {
            CryptoError::Truncated(e)
        } else {
            CryptoError::UnsupportedFormat(e)
        });
    }
    let u32_at =
        |i: usize| u32::from_le_bytes([wrapped[i], wrapped[i + 1], wrapped[i + 2], wrapped[i + 3]]);
    let mut key_id = [0u8; KEY_ID_LEN];
    key_id.copy_from_slice(&wrapped[36..52]);
    Ok(WrappedKeyInfo {
        version: wrapped[7],
        key_id,
        kdf: KdfParams {
            memory_kib: u32_at(8),
            iterations: u32_at(12),
            parallelism: u32_at(16),
        },
    })
}

/// An unlocked master key and the keys derived from it.
///
/// It is created by [`Keyring::generate`] or [`Keyring::unlock`], and it
/// never gives its keys away: it only encrypts and decrypts with them.
pub struct Keyring {
    master: Zeroizing<[u8; 32]>,
    name_key: Zeroizing<[u8; 64]>,
    salt_key: Zeroizing<[u8; 32]>,
    key_id: [u8; KEY_ID_LEN],
    /// The first 16 bytes of the SHA-256 of each entropy value this keyring
    /// has sealed an object with (`Keyring::sealer` refuses a repeat): 16
    /// bytes per object, for as long as the keyring lives.
    used_entropy: Mutex<BTreeSet<[u8; 16]>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a key; the id is safe to show.
        write!(f, "Keyring({})", self.key_id_hex())
    }
}

impl Keyring {
    /// Creates a new master key from `entropy` (at least 32 random bytes).
    pub fn generate(entropy: &[u8]) -> Result<Keyring> {
        check_entropy(entropy)?;
        let master = hkdf::<32>(None, entropy, b"poof v1 master key");
        Ok(Keyring::from_master(&master))
    }

    /// Builds the keyring of a known master key (for unlocking and test vectors).
    pub(crate) fn from_master(master: &[u8; 32]) -> Keyring {
        let mut key_id = [0u8; KEY_ID_LEN];
        key_id.copy_from_slice(&hkdf::<KEY_ID_LEN>(None, master, b"poof v1 key id")[..]);
        Keyring {
            master: Zeroizing::new(*master),
            name_key: hkdf::<64>(None, master, b"poof v1 names"),
            salt_key: hkdf::<32>(None, master, b"poof v1 salts"),
            key_id,
            used_entropy: Mutex::new(BTreeSet::new()),
        }
    }

    /// Opens a wrapped key with `passphrase`.
    ///
    /// A wrong passphrase, and a wrapped key whose sealed part was altered,
    /// both give [`CryptoError::WrongPassphrase`]: they cannot be told apart.
    pub fn unlock(wrapped: &[u8], passphrase: &[u8]) -> Result<Keyring> {
        let info = inspect(wrapped)?;
        let kek = argon2id(passphrase, &wrapped[20..36], info.kdf)?;
        let mut buf = Zeroizing::new(wrapped[SEALED_AT..].to_vec());
        gcm_open(&gcm(&kek), &[0; 12], &wrapped[..SEALED_AT], &mut buf)
            .map_err(|()| CryptoError::WrongPassphrase)?;
        let mut master = Zeroizing::new([0u8; 32]);
        master.copy_from_slice(&buf);
        let keyring = Keyring::from_master(&master);
        if keyring.key_id != info.key_id {
            // The key id is authenticated, so only a bug or a forgery with the
            // right passphrase gets here; refuse it all the same.
            return Err(CryptoError::Tampered(
                "the wrapped key's id does not match the key it holds".into(),
            ));
        }
        Ok(keyring)
    }

    /// Runs Argon2id with [`KdfParams::PROBE`] on a fixed input, for the
    /// host to time: the time it took is what [`Keyring::wrap`] sets a new
    /// key's passes from.
    pub fn probe_kdf() -> Result<()> {
        argon2id(
            b"poof v1 kdf probe",
            &[0; ARGON2_SALT_LEN],
            KdfParams::PROBE,
        )
        .map(drop)
    }

    /// Wraps the master key with `passphrase`, a fresh salt from `entropy`
    /// and the parameters of a new key for a machine where one pass of
    /// [`Keyring::probe_kdf`] took `probe_nanos` ([`KdfParams::for_new_key`]).
    /// Changing the passphrase is unlocking with the old one and wrapping
    /// with the new one: the master key, and so everything sealed with it,
    /// stays the same.
    pub fn wrap(&self, passphrase: &[u8], entropy: &[u8], probe_nanos: u64) -> Result<Vec<u8>> {
        self.wrap_with(passphrase, entropy, KdfParams::for_new_key(probe_nanos))
    }

    /// Wraps the master key with explicit Argon2id parameters.
    pub fn wrap_with(&self, passphrase: &[u8], entropy: &[u8], kdf: KdfParams) -> Result<Vec<u8>> {
        check_entropy(entropy)?;
        // The key id joins the entropy, so that even with broken entropy two
        // different master keys never share a key-encryption key and nonce.
        let ikm = [entropy, &self.key_id[..]].concat();
        let salt = hkdf::<ARGON2_SALT_LEN>(None, &ikm, b"poof v1 argon2id salt");
        let kek = argon2id(passphrase, &salt[..], kdf)?;
        let mut out = Vec::with_capacity(WRAPPED_LEN);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&kdf.memory_kib.to_le_bytes());
        out.extend_from_slice(&kdf.iterations.to_le_bytes());
        out.extend_from_slice(&kdf.parallelism.to_le_bytes());
        out.extend_from_slice(&salt[..]);
        out.extend_from_slice(&self.key_id);
        // Room for the tag up front, so that the buffer holding the master key
        // is never reallocated (which would leave a copy behind).
        let mut sealed = Zeroizing::new(Vec::with_capacity(32 + TAG_LEN));
        sealed.extend_from_slice(&self.master[..]);
        gcm_seal(&gcm(&kek), &[0; 12], &out, &mut sealed)?;
        out.extend_from_slice(&sealed);
        debug_assert_eq!(out.len(), WRAPPED_LEN);
        Ok(out)
    }

    /// Hands this unlocked key to another instance of the guest without a
    /// second Argon2id run: returns a one-time transfer key (derived from
    /// `entropy`) and the master key sealed under it, bound to the key id.
    /// [`Keyring::adopt`] in the other instance opens it. Whoever holds both
    /// halves can recover the master key, as with the passphrase they
    /// replace; they live only in memory, for one run.
    pub fn handoff(&self, entropy: &[u8]) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>)> {
        check_entropy(entropy)?;
        let ikm = [entropy, &self.key_id[..]].concat();
        let transfer = hkdf::<32>(None, &ikm, b"poof v1 handoff key");
        let mut sealed = Zeroizing::new(Vec::with_capacity(32 + TAG_LEN));
        sealed.extend_from_slice(&self.master[..]);
        gcm_seal(
            &gcm(&transfer),
            &[0; 12],
            &handoff_ad(&self.key_id),
            &mut sealed,
        )?;
        let mut out = self.key_id.to_vec();
        out.extend_from_slice(&sealed);
        Ok((transfer, out))
    }

    /// Opens what [`Keyring::handoff`] sealed, with its transfer key.
    pub fn adopt(sealed: &[u8], transfer: &[u8]) -> Result<Keyring> {
        let transfer: &[u8; 32] = transfer.try_into().map_err(|_| {
            CryptoError::InvalidInput(format!(
                "a transfer key is 32 bytes, not {}",
                transfer.len()
            ))
        })?;
        if sealed.len() != KEY_ID_LEN + 32 + TAG_LEN {
            return Err(CryptoError::Truncated(format!(
                "a handed-off key is {} bytes, this one {}",
                KEY_ID_LEN + 32 + TAG_LEN,
                sealed.len()
            )));
        }
        let (id, rest) = sealed.split_at(KEY_ID_LEN);
        let mut buf = Zeroizing::new(rest.to_vec());
        gcm_open(&gcm(transfer), &[0; 12], &handoff_ad(id), &mut buf).map_err(|()| {
            CryptoError::Tampered("the handed-off key does not open with its transfer key".into())
        })?;
        let mut master = Zeroizing::new([0u8; 32]);
        master.copy_from_slice(&buf);
        let keyring = Keyring::from_master(&master);
        if keyring.key_id[..] != *id {
            return Err(CryptoError::Tampered(
                "the handed-off key's id does not match the key it holds".into(),
            ));
        }
        Ok(keyring)
    }

    /// The key id: 16 bytes that name this master key without revealing it.
    pub fn key_id(&self) -> [u8; KEY_ID_LEN] {
        self.key_id
    }

    /// The key id in lower-case hex.
    pub fn key_id_hex(&self) -> String {
        to_hex(&self.key_id)
    }

    /// The master key, for the HKDF derivations of objects and blobs.
    pub(crate) fn master(&self) -> &[u8; 32] {
        &self.master
    }

    /// The 64-byte AES-SIV key for names.
    pub(crate) fn name_key(&self) -> &[u8; 64] {
        &self.name_key
    }

    /// The HMAC key for synthetic salts.
    pub(crate) fn salt_key(&self) -> &[u8; 32] {
        &self.salt_key
    }

    /// Records `entropy` as used for an object; `invalid-input` when it
    /// already was (the host's random source repeated itself), since an
    /// object salt of format version 2 does not cover the content.
    pub(crate) fn remember_entropy(&self, entropy: &[u8]) -> Result<()> {
        let mut seen = [0u8; 16];
        seen.copy_from_slice(&Sha256::digest(entropy)[..16]);
        let fresh = self
            .used_entropy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(seen);
        if !fresh {
            return Err(CryptoError::InvalidInput(
                "this entropy was already used for another object: the random source \
                 repeats itself, and nothing is sealed with it"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The 32-byte key Argon2id (version 0x13) derives from `passphrase` and `salt`.
pub(crate) fn argon2id(
    passphrase: &[u8],
    salt: &[u8],
    kdf: KdfParams,
) -> Result<Zeroizing<[u8; 32]>> {
    if passphrase.is_empty() {
        return Err(CryptoError::InvalidInput("the passphrase is empty".into()));
    }
    let params = kdf.to_argon2()?;
    // The working memory is allocated here rather than by the argon2 crate,
    // so that a failed allocation is an error instead of an abort, and so
    // that it is wiped before it is freed.
    let blocks = params.block_count();
    let mut memory: Vec<Block> = Vec::new();
    memory.try_reserve_exact(blocks).map_err(|_| {
        CryptoError::InvalidInput(format!(
            "not enough memory for Argon2id ({} KiB)",
            kdf.memory_kib
        ))
    })?;
    memory.resize(blocks, Block::default());
    let mut out = Zeroizing::new([0u8; 32]);
    let result = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(passphrase, salt, out.as_mut(), &mut memory[..]);
    memory.zeroize();
    result.map_err(|e| CryptoError::InvalidInput(format!("Argon2id refused its input: {e}")))?;
    Ok(out)
}

/// Where the wrapped key a run uses comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The copy in poof's config folder.
    Local,
    /// The copy in the remote.
    Remote,
}

/// Why no wrapped key could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChoiceError {
    /// A copy is no wrapped key poof reads; the words name it.
    Unreadable(String),
    /// Both copies exist and hold different keys; the words name both.
    Different(String),
}

/// Chooses the wrapped key a run uses from the copies found, each given
/// with the name of where it was found: the local copy, else the remote's.
/// Two copies must hold the same master key (the same key id): otherwise
/// neither is trusted, and the user is told to move one away.
pub fn choose(
    local: Option<(&str, &[u8])>,
    remote: Option<(&str, &[u8])>,
) -> std::result::Result<Option<KeySource>, ChoiceError> {
    let id = |(name, wrapped): (&str, &[u8])| {
        inspect(wrapped)
            .map(|i| to_hex(&i.key_id))
            .map_err(|e| ChoiceError::Unreadable(format!("{name}: {}", crate::session::words(&e))))
    };
    match (local, remote) {
        (Some(l), Some(r)) => {
            let (a, b) = (id(l)?, id(r)?);
            if a != b {
                return Err(ChoiceError::Different(format!(
                    "the key in {} (key id {a}) is not the key of {} (key id {b}); \
                     move one of them away so that poof uses the other",
                    l.0, r.0
                )));
            }
            Ok(Some(KeySource::Local))
        }
        (Some(l), None) => id(l).map(|_| Some(KeySource::Local)),
        (None, Some(r)) => id(r).map(|_| Some(KeySource::Remote)),
        (None, None) => Ok(None),
    }
}

/// The associated data of a handed-off key: its purpose and the key id.
fn handoff_ad(key_id: &[u8]) -> Vec<u8> {
    [b"poof v1 handoff".as_slice(), key_id].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small parameters, so that debug-build tests stay fast.
    pub(crate) const FAST: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn wrap_unlock_round_trip_and_rewrap_keeps_the_key() {
        let k = Keyring::generate(&[1; 32]).unwrap();
        let w1 = k.wrap_with(b"old", &[2; 32], FAST).unwrap();
        assert_eq!(w1.len(), WRAPPED_LEN);
        let k1 = Keyring::unlock(&w1, b"old").unwrap();
        assert_eq!(k1.master(), k.master());
        let w2 = k1.wrap_with(b"new", &[3; 32], FAST).unwrap();
        assert_ne!(w1, w2);
        let k2 = Keyring::unlock(&w2, b"new").unwrap();
        assert_eq!(k2.master(), k.master());
        assert_eq!(k2.key_id(), k.key_id());
        assert_eq!(inspect(&w2).unwrap().key_id, k.key_id());
        assert_eq!(
            Keyring::unlock(&w2, b"old").unwrap_err(),
            CryptoError::WrongPassphrase
        );
    }

    #[test]
    fn a_handoff_gives_the_same_key_and_refuses_tampering() {
        let k = Keyring::generate(&[4; 32]).unwrap();
        let (transfer, sealed) = k.handoff(&[5; 32]).unwrap();
        let other = Keyring::adopt(&sealed, &transfer[..]).unwrap();
        assert_eq!(other.master(), k.master());
        assert_eq!(other.key_id(), k.key_id());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(Keyring::adopt(&bad, &transfer[..]).is_err(), "byte {i}");
        }
        let mut wrong = *transfer;
        wrong[0] ^= 1;
        assert!(Keyring::adopt(&sealed, &wrong).is_err());
        assert!(Keyring::adopt(&sealed[1..], &transfer[..]).is_err());
        assert!(k.handoff(&[5; 31]).is_err(), "too little entropy");
    }

    #[test]
    fn the_local_key_wins_and_two_different_keys_are_refused() {
        let a = Keyring::generate(&[1; 32])
            .unwrap()
            .wrap_with(b"p", &[2; 32], FAST)
            .unwrap();
        let a2 = Keyring::unlock(&a, b"p")
            .unwrap()
            .wrap_with(b"q", &[3; 32], FAST)
            .unwrap();
        let b = Keyring::generate(&[4; 32])
            .unwrap()
            .wrap_with(b"p", &[5; 32], FAST)
            .unwrap();
        let l = |w: &'static [u8]| Some(("local", w));
        let r = |w: &'static [u8]| Some(("remote", w));
        let (a, a2, b) = (a.leak() as &[u8], a2.leak() as &[u8], b.leak() as &[u8]);
        assert_eq!(
            choose(l(a), r(a2)),
            Ok(Some(KeySource::Local)),
            "same key, other passphrase"
        );
        assert_eq!(choose(None, r(b)), Ok(Some(KeySource::Remote)));
        assert_eq!(choose(l(b), None), Ok(Some(KeySource::Local)));
        assert_eq!(choose(None, None), Ok(None));
        match choose(l(a), r(b)) {
            Err(ChoiceError::Different(m)) => {
                assert!(m.contains("local") && m.contains("remote"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        match choose(l(a), r(b"junk")) {
            Err(ChoiceError::Unreadable(m)) => assert!(m.starts_with("remote: "), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_new_key_gets_64_mib_and_the_passes_of_about_a_second() {
        let new = KdfParams::for_new_key;
        let passes = |nanos| new(nanos).iterations;
        // One pass in 40 ms: 25 passes make a second.
        assert_eq!(
            new(40_000_000),
            KdfParams {
                memory_kib: 64 * 1024,
                iterations: 25,
                parallelism: 1
            }
        );
        // The passes that take at least a second: 8 of 125 ms, 9 of a bit less.
        assert_eq!(passes(125_000_000), 8);
        assert_eq!(passes(125_000_001), 8);
        assert_eq!(passes(124_999_999), 9);
        // However fast or slow the machine, or wrong the time the host
        // reports: at least RFC 9106's 3 passes, at most what unlocking accepts.
        assert_eq!(passes(0), MAX_ITERATIONS);
        assert_eq!(passes(1), MAX_ITERATIONS);
        assert_eq!(passes(500_000_000), 3);
        assert_eq!(passes(u64::MAX), 3);
        for nanos in [0, 1, 15_625_000, 40_000_000, 333_333_334, u64::MAX] {
            assert!(new(nanos).to_argon2().is_ok(), "{nanos}");
            assert_eq!(new(nanos).memory_kib, KdfParams::PROBE.memory_kib);
        }
    }

    #[test]
    fn a_new_key_unlocks_with_its_own_parameters() {
        // The probe runs (64 MiB, one pass) and the real parameters open:
        // the slowest end (3 passes) keeps the test short.
        Keyring::probe_kdf().unwrap();
        let k = Keyring::generate(&[9; 32]).unwrap();
        let w = k.wrap(b"pass", &[8; 32], u64::MAX).unwrap();
        assert_eq!(inspect(&w).unwrap().kdf, KdfParams::for_new_key(u64::MAX));
        assert_eq!(Keyring::unlock(&w, b"pass").unwrap().key_id(), k.key_id());
    }

    #[test]
    fn a_key_wrapped_with_the_second_parameters_still_opens() {
        // Written by a poof whose new keys got 256 MiB, 3 passes, 1 lane
        // (`KdfParams::SECOND`); fixed bytes, as for the first parameters.
        let wrapped = hex::decode(concat!(
            "706f6f666b657901000004000300000001000000e10517f8ab77a5566fe65c53",
            "512349dbecab8b38a0757c31c9494a27084cfae1cfc393b601747e7ceb62f468",
            "7482b824443dd1a34740a4d07ac2855553feadf1c2dc5de3b49f1689eb70afef",
            "6ca9d399",
        ))
        .unwrap();
        assert_eq!(inspect(&wrapped).unwrap().kdf, KdfParams::SECOND);
        let k = Keyring::unlock(&wrapped, b"correct horse battery staple").unwrap();
        assert_eq!(k.key_id_hex(), "ecab8b38a0757c31c9494a27084cfae1");
        assert_eq!(k.key_id(), Keyring::generate(&[0x11; 32]).unwrap().key_id());
    }

    #[test]
    fn a_key_wrapped_with_the_first_parameters_still_opens() {
        // Written by a poof whose new keys got 32 MiB, 3 passes, 1 lane
        // (vector 1 of docs/FORMAT.md); the bytes are fixed here so that a
        // change of the defaults can never stop such a key from opening.
        let wrapped = hex::decode(concat!(
            "706f6f666b657901008000000300000001000000be03b69836a173cb14b0ff78",
            "9a5aaee0154642e8de2a4b389441987cd0fbb76e10eb7958fb7e9064913f3225",
            "d207b3e4bd5d34c937f9e71869426ffe1575416fbd14d8baef74f2380f70c459",
            "3017164b",
        ))
        .unwrap();
        assert_eq!(inspect(&wrapped).unwrap().kdf, KdfParams::FIRST);
        let k = Keyring::unlock(&wrapped, b"correct horse battery staple").unwrap();
        assert_eq!(k.key_id_hex(), "154642e8de2a4b389441987cd0fbb76e");
        assert_eq!(
            Keyring::unlock(&wrapped, b"correct horse battery stapler").unwrap_err(),
            CryptoError::WrongPassphrase
        );
    }

    #[test]
    fn refuses_bad_blobs_without_panicking() {
        let k = Keyring::generate(&[1; 32]).unwrap();
        let w = k.wrap_with(b"p", &[2; 32], FAST).unwrap();
        assert!(matches!(
            Keyring::unlock(&w[..50], b"p"),
            Err(CryptoError::Truncated(_))
        ));
        assert!(matches!(
            Keyring::unlock(b"", b"p"),
            Err(CryptoError::UnsupportedFormat(_))
        ));
        let mut v2 = w.clone();
        v2[7] = 2;
        assert!(matches!(
            Keyring::unlock(&v2, b"p"),
            Err(CryptoError::UnsupportedFormat(_))
        ));
        let mut huge = w.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Keyring::unlock(&huge, b"p"),
            Err(CryptoError::UnsupportedFormat(_))
        ));
        let mut zero = w.clone();
        zero[12..16].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            Keyring::unlock(&zero, b"p"),
            Err(CryptoError::UnsupportedFormat(_))
        ));
        assert!(matches!(
            Keyring::unlock(&w, b""),
            Err(CryptoError::InvalidInput(_))
        ));
        assert!(matches!(
            k.wrap(b"p", &[0; 8], 0),
            Err(CryptoError::InvalidInput(_))
        ));
        // Any flipped bit of the plain fields or of the sealed key is caught.
        for i in 8..WRAPPED_LEN {
            let mut bad = w.clone();
            bad[i] ^= 1;
            assert!(Keyring::unlock(&bad, b"p").is_err(), "byte {i}");
        }
    }
}
