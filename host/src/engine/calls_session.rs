//! Calls into the guest's `session` resource: one cloud folder's state for
//! a run (wit/session.wit). Each method converts nothing and decides
//! nothing; it calls the guest and names the call when the guest traps.

use anyhow::Result;

use super::{Crypto, Handle, Instance, session, sync};
use crate::engine::sync::Entry;

impl Instance {
    /// A plain session for `cloud`.
    pub fn session_plain(
        &mut self,
        cloud: &str,
        lists_metadata: bool,
        show_root: &str,
        key_stored: bool,
        plain_chosen: bool,
    ) -> Crypto<Handle> {
        let s = self.bindings.poof_core_session();
        Ok(s.session()
            .call_plain(
                &mut self.store,
                cloud,
                lists_metadata,
                show_root,
                key_stored,
                plain_chosen,
            )
            .map_err(Self::trapped("session.plain"))?
            .map(Handle))
    }

    /// A sealed session for `cloud`, sharing the keyring `key` of this instance.
    pub fn session_sealed(
        &mut self,
        cloud: &str,
        key: &Handle,
        show_root: &str,
        memory: Option<&session::Freshness>,
        trust_remote: bool,
    ) -> Crypto<Handle> {
        let s = self.bindings.poof_core_session();
        Ok(s.session()
            .call_sealed(
                &mut self.store,
                cloud,
                key.0,
                show_root,
                memory,
                trust_remote,
            )
            .map_err(Self::trapped("session.sealed"))?
            .map(Handle))
    }

    /// The key prefix the host lists.
    pub fn session_prefix(&mut self, h: &Handle) -> Result<String> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_prefix(&mut self.store, h.0)
            .map_err(Self::trapped("session.prefix"))
    }

    /// The key of the manifest, when the session keeps one.
    pub fn session_manifest_key(&mut self, h: &Handle) -> Result<Option<String>> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_manifest_key(&mut self.store, h.0)
            .map_err(Self::trapped("session.manifest-key"))
    }

    /// Hands over a part of the listing.
    pub fn session_add_objects(&mut self, h: &Handle, objects: &[session::Listed]) -> Crypto<()> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_add_objects(&mut self.store, h.0, objects)
            .map_err(Self::trapped("session.add-objects"))
    }

    /// Hands over the rest of the listing and the manifest; returns the keys to read.
    pub fn session_ingest_listing(
        &mut self,
        h: &Handle,
        objects: &[session::Listed],
        manifest: Option<&[u8]>,
    ) -> Crypto<Vec<String>> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_ingest_listing(&mut self.store, h.0, objects, manifest)
            .map_err(Self::trapped("session.ingest-listing"))
    }

    /// Hands over what was read for one key.
    pub fn session_ingest_read(
        &mut self,
        h: &Handle,
        key: &str,
        read: &session::Read,
    ) -> Crypto<()> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_ingest_read(&mut self.store, h.0, key, read)
            .map_err(Self::trapped("session.ingest-read"))
    }

    /// Gives the manifest's bytes before the rest of the listing.
    pub fn session_add_manifest(&mut self, h: &Handle, part: &[u8], total: u64) -> Crypto<()> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_add_manifest(&mut self.store, h.0, part, total)
            .map_err(Self::trapped("session.add-manifest"))
    }

    /// Ends the listing; with `keep` its entries stay in the session for
    /// `session_plan`.
    pub fn session_finish_listing(&mut self, h: &Handle, keep: bool) -> Crypto<session::Listing> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_finish_listing(&mut self.store, h.0, keep)
            .map_err(Self::trapped("session.finish-listing"))
    }

    /// Gives a part of the plan's local side; `total`: the entries of all
    /// the parts.
    pub fn session_add_local(
        &mut self,
        h: &Handle,
        part: &[sync::Entry],
        total: u64,
    ) -> Crypto<()> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_add_local(&mut self.store, h.0, part, total)
            .map_err(Self::trapped("session.add-local"))
    }

    /// The plan for the session's folder; the remote's side of `input` is
    /// the entries the session kept, if it kept them.
    pub fn session_plan(
        &mut self,
        h: &Handle,
        input: &sync::PlanInput,
        filter: &sync::Filter,
    ) -> Crypto<sync::Plan> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_plan(&mut self.store, h.0, input, filter)
            .map_err(Self::trapped("session.plan"))
    }

    /// The key of the object of `path`.
    pub fn session_object_key(&mut self, h: &Handle, path: &str) -> Crypto<String> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_object_key(&mut self.store, h.0, path)
            .map_err(Self::trapped("session.object-key"))
    }

    /// Whether `path` may be restored.
    pub fn session_check_restore(&mut self, h: &Handle, path: &str) -> Crypto<()> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_check_restore(&mut self.store, h.0, path)
            .map_err(Self::trapped("session.check-restore"))
    }

    /// Whether a restored object carries the id it must.
    pub fn session_check_object_id(&mut self, h: &Handle, path: &str, id: &str) -> Crypto<()> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_check_object_id(&mut self.store, h.0, path, id)
            .map_err(Self::trapped("session.check-object-id"))
    }

    /// Records an upload.
    pub fn session_uploaded(
        &mut self,
        h: &Handle,
        file: &Entry,
        etag: Option<&str>,
        object_id: Option<&str>,
    ) -> Result<()> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_uploaded(&mut self.store, h.0, file, etag, object_id)
            .map_err(Self::trapped("session.uploaded"))
    }

    /// Records a deletion.
    pub fn session_deleted(&mut self, h: &Handle, path: &str) -> Result<()> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_deleted(&mut self.store, h.0, path)
            .map_err(Self::trapped("session.deleted"))
    }

    /// Records new permission bits.
    pub fn session_mode_set(&mut self, h: &Handle, file: &Entry) -> Crypto<()> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_mode_set(&mut self.store, h.0, file)
            .map_err(Self::trapped("session.mode-set"))
    }

    /// The manifest to write, when it changed: taken in parts of
    /// `MANIFEST_PART` bytes and joined here, so that the guest never holds
    /// a plain manifest whole beside this copy.
    pub fn session_manifest(&mut self, h: &Handle, entropy: &[u8]) -> Crypto<Option<Vec<u8>>> {
        let mut all: Option<Vec<u8>> = None;
        loop {
            let s = self.bindings.poof_core_session();
            let part = s
                .session()
                .call_manifest(&mut self.store, h.0, entropy, MANIFEST_PART)
                .map_err(Self::trapped("session.manifest"))?;
            match part {
                Err(refused) => return Ok(Err(refused)),
                Ok(None) => return Ok(Ok(all)),
                Ok(Some(part)) => match &mut all {
                    None => all = Some(part),
                    Some(all) => all.extend_from_slice(&part),
                },
            }
        }
    }

    /// What the host must now remember of a sealed folder, when it changed.
    pub fn session_remember(&mut self, h: &Handle) -> Result<Option<session::Freshness>> {
        let s = self.bindings.poof_core_session();
        s.session()
            .call_remember(&mut self.store, h.0)
            .map_err(Self::trapped("session.remember"))
    }
}

/// Bytes of the manifest per `session.manifest` call.
const MANIFEST_PART: u32 = 1 << 20;
