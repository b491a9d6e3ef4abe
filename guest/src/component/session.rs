//! The `session` interface: conversions between WIT types and
//! `crate::session`; the logic is all there.
//!
//! Invariant: no decision happens here. A sealed session shares the
//! keyring of the handle it was made from (the same unlocked key, in this
//! instance's memory), so the host never hands a key over.

use std::cell::RefCell;

use super::exports::poof::core::crypto;
use super::exports::poof::core::session as wit;
use super::exports::poof::core::sync;
use super::poof::core::types::Error;
use super::{Guest, entry_in, entry_out, filtering_in, plan_input_in, plan_out};
use crate::plan;
use crate::session::{self, Layout, Session, SessionError};

/// The guest side of the `session` resource; WIT methods take `&self`.
pub struct SessionResource(RefCell<Session>);

impl From<SessionError> for Error {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::InvalidInput(m) => Error::InvalidInput(m),
            SessionError::Refused(m) => Error::Refused(m),
            SessionError::Crypto(e) => e.into(),
        }
    }
}

impl wit::Guest for Guest {
    type Session = SessionResource;
}

impl SessionResource {
    fn handle(s: Session) -> wit::Session {
        wit::Session::new(SessionResource(RefCell::new(s)))
    }
}

impl wit::GuestSession for SessionResource {
    fn plain(
        cloud: String,
        lists_metadata: bool,
        show_root: String,
        key_stored: bool,
        plain_chosen: bool,
    ) -> Result<wit::Session, Error> {
        let s = Session::new(&cloud, Layout::Plain { lists_metadata }, &show_root)?;
        Ok(Self::handle(s.beside(key_stored, plain_chosen)))
    }

    fn sealed(
        cloud: String,
        key: crypto::KeyringBorrow<'_>,
        show_root: String,
        memory: Option<wit::Freshness>,
        trust_remote: bool,
    ) -> Result<wit::Session, Error> {
        let k = key.get::<super::crypto::Keyring>().0.clone();
        let memory = memory.map(|m| session::Freshness {
            generation: m.generation,
            manifest_sha256: m.manifest_sha256,
        });
        let s = Session::new(&cloud, Layout::Sealed(k), &show_root)?;
        Ok(Self::handle(s.remembering(memory, trust_remote)))
    }

    fn prefix(&self) -> String {
        self.0.borrow().prefix().to_string()
    }

    fn manifest_key(&self) -> Option<String> {
        self.0.borrow().manifest_key().map(str::to_string)
    }

    fn add_objects(&self, objects: Vec<wit::Listed>) -> Result<(), Error> {
        Ok(self.0.borrow_mut().add_objects(listed_in(objects))?)
    }

    fn add_manifest(&self, part: Vec<u8>, total: u64) -> Result<(), Error> {
        Ok(self.0.borrow_mut().add_manifest(part, total)?)
    }

    fn ingest_listing(
        &self,
        objects: Vec<wit::Listed>,
        manifest: Option<Vec<u8>>,
    ) -> Result<Vec<String>, Error> {
        Ok(self
            .0
            .borrow_mut()
            .ingest_listing(listed_in(objects), manifest)?)
    }

    fn ingest_read(&self, key: String, read: wit::Read) -> Result<(), Error> {
        let read = match read {
            wit::Read::Entry(e) => session::Read::Entry(entry_in(e)),
            wit::Read::Header(h) => session::Read::Header(h),
            wit::Read::Failed(why) => session::Read::Failed(why),
        };
        Ok(self.0.borrow_mut().ingest_read(&key, read)?)
    }

    fn finish_listing(&self, keep: bool) -> Result<wit::Listing, Error> {
        let l = self.0.borrow_mut().finish_listing(keep)?;
        Ok(wit::Listing {
            exists: l.exists,
            entries: l.entries.into_iter().map(entry_out).collect(),
            problems: l.problems,
            skipped: l.skipped,
        })
    }

    fn add_local(&self, part: Vec<sync::Entry>, total: u64) -> Result<(), Error> {
        let part = part.into_iter().map(entry_in).collect();
        Ok(self.0.borrow_mut().add_local(part, total)?)
    }

    fn plan(&self, input: sync::PlanInput, filter: sync::Filter) -> Result<sync::Plan, Error> {
        let mut input = plan_input_in(input);
        self.0.borrow_mut().plan_input(&mut input)?;
        plan_out(plan::plan_filtered(input, &filtering_in(filter)))
    }

    fn object_key(&self, path: String) -> Result<String, Error> {
        Ok(self.0.borrow_mut().object_key(&path)?)
    }

    fn check_restore(&self, path: String) -> Result<(), Error> {
        Ok(self.0.borrow().check_restore(&path)?)
    }

    fn check_object_id(&self, path: String, object_id: String) -> Result<(), Error> {
        Ok(self.0.borrow().check_object_id(&path, &object_id)?)
    }

    fn uploaded(&self, file: wit::Entry, etag: Option<String>, object_id: Option<String>) {
        self.0
            .borrow_mut()
            .uploaded(entry_in(file), etag, object_id);
    }

    fn deleted(&self, path: String) {
        self.0.borrow_mut().deleted(&path);
    }

    fn mode_set(&self, file: wit::Entry) -> Result<(), Error> {
        Ok(self.0.borrow_mut().mode_set(&entry_in(file))?)
    }

    fn manifest(&self, entropy: Vec<u8>, part_size: u32) -> Result<Option<Vec<u8>>, Error> {
        let part_size = usize::try_from(part_size).unwrap_or(usize::MAX);
        Ok(self.0.borrow_mut().manifest(&entropy, part_size)?)
    }

    fn remember(&self) -> Option<wit::Freshness> {
        self.0.borrow().remember().map(|f| wit::Freshness {
            generation: f.generation,
            manifest_sha256: f.manifest_sha256,
        })
    }
}

/// The session's form of listed objects.
fn listed_in(objects: Vec<wit::Listed>) -> Vec<session::Listed> {
    objects
        .into_iter()
        .map(|o| session::Listed {
            key: o.key,
            size: o.size,
            etag: o.etag,
            entry: o.entry.map(|r| r.map(entry_in)),
        })
        .collect()
}
