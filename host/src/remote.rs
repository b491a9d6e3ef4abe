//! A remote is a store plus a layout: the one interface backup, upload,
//! download and check see, whatever the store (`crate::store`: S3, a local
//! folder, memory in tests) and whatever the layout (`crate::layout`: plain
//! or sealed). Nothing that uses a `Remote` knows whether it is encrypted.
//!
//! A remote holds one tree of files per configured path, under that path's
//! cloud folder name. Invariant: a remote only ever touches paths under the
//! cloud folder it is given, and only paths the guest's plan named.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;

use crate::cloudconf::{self, Env, Lookup, Resolved};
use crate::config::{Locations, PoofConf, RemoteSpec};
use crate::engine::pool::Pool;
use crate::engine::sync::{Direction, Entry, Filter, Plan, PlanInput};
use crate::engine::{GuestError, Instance};
use crate::exit::ConfigError;
use crate::layout::freshness::Memory;
use crate::layout::legacy::LegacyRemote;
use crate::layout::plain::PlainRemote;
use crate::layout::sealed::SealedRemote;
use crate::layout::session::Beside;
use crate::store::Store;
use crate::store::folder::FolderStore;
use crate::store::s3::S3Store;
use crate::walk::Local;

/// What a remote holds under one cloud folder.
#[derive(Debug, Default)]
pub struct RemoteListing {
    /// False when nothing was ever stored under this cloud folder.
    pub exists: bool,
    /// Every file, sorted by path.
    pub entries: Vec<Entry>,
    /// Objects that could not be listed; the listing is then incomplete.
    pub problems: Vec<String>,
    /// Objects skipped on purpose, with the reason.
    pub skipped: Vec<String>,
}

/// A place snapshots are kept: a layout over a store. What only passes
/// through to the store (describing it, checking it, poof's own objects,
/// request counts) is written once here; each layout writes what differs.
pub trait Remote: Send + Sync {
    /// The store the layout keeps its objects in.
    fn store(&self) -> &dyn Store;

    /// A short description for messages, e.g. `folder /media/usb/poof`.
    fn describe(&self) -> String {
        self.store().describe()
    }

    /// Modification times closer than this are taken as equal (the precision the remote keeps).
    fn mtime_window_ns(&self) -> u64;

    /// Fails, saying what to do, when the remote cannot be used at all
    /// (a folder remote whose disk is not mounted, for example).
    fn check_ready(&self) -> Result<()> {
        Ok(self.store().check_ready()?)
    }

    /// Fails, saying why and what to do, when this remote cannot be
    /// written (poof 1.x's rclone crypt remotes are read only); `backup`
    /// and `upload` ask before anything else.
    fn check_writable(&self) -> Result<()> {
        Ok(())
    }

    /// Lists every file under `dir`.
    fn list(&self, dir: &str) -> Result<RemoteListing>;

    /// `list`, told `names` (folders end in `/`) that are probably right
    /// under `dir`, such as those of the local folder being backed up: a
    /// layout whose keys keep the names may have the store cut its listing
    /// there. The listing is the same whatever `names` are.
    fn list_hinted(&self, dir: &str, names: &[String]) -> Result<RemoteListing> {
        let _ = names;
        self.list(dir)
    }

    /// `list_hinted` for a sync's plan (`plan`): a remote whose guest
    /// session makes the plan keeps the listing's entries there, so that a
    /// long listing is not copied out of the guest and back in; the
    /// listing's `entries` are then empty.
    fn list_for_plan(&self, dir: &str, names: &[String]) -> Result<RemoteListing> {
        self.list_hinted(dir, names)
    }

    /// The guest's plan for `dir`, made in `spare` from `input` with the
    /// walk's entries `local` on its local side (its source going up, its
    /// target going down), unless this remote's guest session for `dir`
    /// makes it: then from the entries `list_for_plan` kept there and
    /// `local` given in parts, in the instance its listing already grew (a
    /// guest's memory never shrinks).
    fn plan(
        &self,
        dir: &str,
        spare: &mut Instance,
        input: PlanInput,
        local: Local,
        filter: &Filter,
    ) -> Result<Result<Plan, GuestError>> {
        let _ = dir;
        spare.plan_sync_filtered(&with_local(input, local), filter)
    }

    /// Stores the local file `src` as `dir/entry.path`, with the entry's metadata.
    fn upload(&self, dir: &str, entry: &Entry, src: &Path) -> Result<()>;

    /// Writes `dir/entry.path` to `local_root/entry.path`, atomically, with the entry's metadata.
    fn download(&self, dir: &str, entry: &Entry, local_root: &Path) -> Result<()>;

    /// Sets the stored permission bits of `dir/entry.path`.
    fn set_mode(&self, dir: &str, entry: &Entry) -> Result<()>;

    /// Removes `dir/path`.
    fn delete(&self, dir: &str, path: &str) -> Result<()>;

    /// Called before a sync deletes `paths` from `dir`: records them as
    /// gone and writes what the remote will then hold (the path's
    /// manifest), so that deletions cut short leave objects the manifest
    /// does not record, which the next listing reads again, and never a
    /// manifest that records objects already gone.
    fn before_deletions(&self, dir: &str, paths: &[String]) -> Result<()> {
        let _ = (dir, paths);
        Ok(())
    }

    /// The SHA-256 of what `dir/path` holds, computed by reading it back in
    /// full, streamed in bounded memory; `None` when there is no such file.
    /// `upload` wipes a local file only when this matches it.
    fn read_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>>;

    /// The SHA-256 recorded when `dir/path` was stored (`--verify=stored`),
    /// `None` when there is no such file. Remotes that record none read the
    /// content back instead, which is the stronger check (the folder remote).
    fn stored_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        self.read_sha256(dir, path)
    }

    /// The SHA-256 recorded with the copy of `dir/path` when it was stored,
    /// read without downloading its content where the remote keeps one
    /// (`poof check --quick`): an encrypted object's authenticated header,
    /// a plain S3 object's `sha256` metadata; `None` when there is no such
    /// file. A remote that records none reads the content back (a plain
    /// folder, poof 1.x's rclone crypt).
    fn recorded_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        self.stored_sha256(dir, path)
    }

    /// How many requests the remote has sent so far, when it counts them.
    fn requests(&self) -> Option<u64> {
        self.store().requests()
    }

    /// Called once a sync of `dir` has run (not on a dry run), to record
    /// what the remote holds now (the path's manifest).
    fn finish(&self, dir: &str) -> Result<()>;

    /// Reads one of poof's own plain objects, such as the wrapped key
    /// (`RESERVED_KEY`), stored outside every cloud folder; `None` when
    /// there is none.
    fn read_reserved(&self, name: &str) -> Result<Option<Vec<u8>>> {
        crate::layout::read_reserved(self.store(), name)
    }

    /// Writes (replaces) one of poof's own plain objects.
    fn write_reserved(&self, name: &str, bytes: &[u8]) -> Result<()> {
        crate::layout::write_reserved(self.store(), name, bytes)
    }

    /// Checks that the remote can be used, as `poof verify` does; returns
    /// what it found, in words, or an error saying what is wrong.
    fn verify(&self) -> Result<Vec<String>> {
        Ok(self.store().verify()?)
    }
}

/// The reserved name of the wrapped key in a remote (`[PREFIX/].poof/key`).
pub const RESERVED_KEY: &str = ".poof/key";

/// The reserved object `poof cryptoggle` writes when its owner switches a
/// remote that holds poof's key to the plain layout: plain copies beside the
/// encrypted ones are then intended (docs/FORMAT.md, "No downgrade").
pub const RESERVED_PLAIN: &str = ".poof/plain";

/// Opens the remote a config names, plain, without a manifest (for
/// `verify`, `econfig`, `cryptoggle`). An S3 remote's credentials come from
/// the cloud config file (`--cloudconf`, else `confFile`, else
/// `CONFDIR/rclone-poof.conf`), the environment or `~/.aws` (see
/// `cloudconf`); nothing is sent yet.
pub fn open(conf: &PoofConf, locations: &Locations) -> Result<Box<dyn Remote>> {
    Ok(Box::new(PlainRemote::new(open_store(conf, locations)?)))
}

/// Opens the remote a config names, for a sync: poof 1.x's rclone crypt
/// section, read only, when `remote` names one; else the plain layout keeps
/// a manifest per cloud folder where the store needs one, read and written
/// through an instance taken from `instances`. When the config says `"encrypted": true`,
/// the key is found and unlocked (asking for the passphrase) and the remote
/// uses the sealed layout, with what this machine remembers of its folders'
/// manifests (`trust_remote`: accept manifests the guest would refuse).
pub fn open_for_sync(
    conf: &PoofConf,
    locations: &Locations,
    instances: &'static Pool,
    trust_remote: bool,
) -> Result<Box<dyn Remote>> {
    let (store, crypt_section) = locate(conf, locations)?;
    if let Some(section) = crypt_section {
        if conf.encrypted {
            return Err(ConfigError(format!(
                "{}: `remote` names the rclone crypt section [{}] and `encrypted` is true; poof \
                 reads a crypt section as poof 1.x wrote it: remove `encrypted`, or point `remote` \
                 at the S3 section for poof's own encrypted format (`poof migrate` does both steps)",
                conf.file.display(),
                section.name
            ))
            .into());
        }
        return Ok(Box::new(LegacyRemote::new(store, &section, instances)?));
    }
    let plain = PlainRemote::new(store.clone());
    if conf.encrypted {
        let crypt = crate::crypt::keys::for_sync(instances, conf, locations, &plain)?;
        // Per key as well: a rotated key's folders are other folders.
        let remote = format!("{} key {}", store.describe(), crypt.key_id());
        let memory = Memory::open(locations.freshness_file(), remote, trust_remote)?;
        return Ok(Box::new(SealedRemote::new(store, crypt, memory)?));
    }
    let beside = Beside {
        key_stored: plain.read_reserved(RESERVED_KEY)?.is_some(),
        plain_chosen: plain.read_reserved(RESERVED_PLAIN)?.is_some(),
    };
    Ok(Box::new(plain.with_session(instances.take()?, beside)))
}

/// Opens poof 1.x's encrypted remote (an rclone crypt section, read only)
/// when poof.conf's `remote` names one, deriving its keys; `None` otherwise.
pub fn open_legacy(
    conf: &PoofConf,
    locations: &Locations,
    instances: &'static Pool,
) -> Result<Option<(LegacyRemote, cloudconf::CryptConf)>> {
    match locate(conf, locations)? {
        (store, Some(section)) => {
            let remote = LegacyRemote::new(store, &section, instances)?;
            Ok(Some((remote, section)))
        }
        (_, None) => Ok(None),
    }
}

/// The store a config names: a local folder, or an S3 bucket (with an
/// optional prefix) whose settings come from the cloud config; for poof
/// 1.x's encrypted remote (an rclone crypt section), the bucket it wraps.
pub fn open_store(conf: &PoofConf, locations: &Locations) -> Result<Arc<dyn Store>> {
    Ok(locate(conf, locations)?.0)
}

/// The store a config names, and the rclone crypt section over it when
/// poof.conf's `remote` names one.
fn locate(
    conf: &PoofConf,
    locations: &Locations,
) -> Result<(Arc<dyn Store>, Option<cloudconf::CryptConf>)> {
    let s3 =
        |bucket: &str, prefix: &str, settings: &cloudconf::S3Settings| -> Result<Arc<dyn Store>> {
            // Objects carry rclone's `md5chksum` and poof's `sha256` metadata,
            // the plain layout's convention (encrypted objects carry none).
            Ok(Arc::new(S3Store::from_settings(
                bucket,
                prefix,
                settings,
                Some(crate::layout::plain::meta::MD5CHKSUM),
                Some(crate::layout::plain::meta::SHA256),
            )?))
        };
    let resolve = |section: Option<&str>| {
        // `--cloudconf` wins, then poof.conf's `confFile`, then the config folder's file.
        let file = match (&conf.conf_file, locations.cloudconf_from_flag) {
            (Some(f), false) => f.clone(),
            _ => locations.cloudconf.clone(),
        };
        let env = Env::from_process();
        let home = dirs::home_dir();
        let found = cloudconf::resolve(&Lookup {
            file: &file,
            section,
            env: &env,
            home: home.as_deref(),
            profile: locations.profile.as_deref(),
        })?;
        let settings = match &found {
            Resolved::S3(s) => s,
            Resolved::Crypt(c) => &c.s3,
        };
        for note in &settings.notes {
            say_once(&locations.out, note);
        }
        Ok::<_, ConfigError>(found)
    };
    match &conf.remote {
        RemoteSpec::Folder(root) => Ok((Arc::new(FolderStore::new(root.clone())), None)),
        RemoteSpec::S3 { bucket, prefix } => match resolve(None)? {
            Resolved::S3(settings) => Ok((s3(bucket, prefix, &settings)?, None)),
            Resolved::Crypt(c) => Err(ConfigError(format!(
                "an s3:// remote resolved to the crypt section [{}]; name it in `remote` instead",
                c.name
            ))
            .into()),
        },
        RemoteSpec::Named(section) => match resolve(Some(section))? {
            Resolved::S3(settings) => {
                // `PoofConf::parse` refuses a named remote without a bucket.
                let bucket = conf.bucket.as_deref().unwrap_or_default();
                Ok((s3(bucket, "", &settings)?, None))
            }
            // poof 1.x kept encrypted paths at the crypt remote's root:
            // poof.conf's `bucket` is not used.
            Resolved::Crypt(c) => Ok((s3(&c.bucket, &c.prefix, &c.s3)?, Some(c))),
        },
    }
}

/// Warns about `note` unless this run already did (a run may open its
/// remote more than once).
fn say_once(out: &crate::output::Output, note: &str) {
    static SAID: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
    if said.insert(note.to_string()) {
        out.warn(note);
    }
}

/// `input` with the walk's entries `local` added to its local side (its
/// source going up, its target going down).
pub fn with_local(mut input: PlanInput, local: Local) -> PlanInput {
    if !local.is_empty() {
        let side = match input.direction {
            Direction::Up => &mut input.source,
            Direction::Down => &mut input.target,
        };
        side.extend(local.into_vec());
    }
    input
}
