//! The `manifest` interface: conversions only; the logic is in `crate::manifest`.

use super::Guest;
use super::exports::poof::core::manifest as wit;
use super::{entry_in, entry_out};
use crate::manifest;

impl wit::Guest for Guest {
    fn reconcile(bytes: Vec<u8>, listing: Vec<wit::Object>) -> wit::Reconciled {
        let listing: Vec<manifest::Object> = listing
            .into_iter()
            .map(|o| manifest::Object {
                path: o.path,
                size: o.size,
                etag: o.etag,
            })
            .collect();
        let r = manifest::reconcile(&bytes, &listing);
        wit::Reconciled {
            known: r.known.into_iter().map(stored_out).collect(),
            unknown: r.unknown,
            exact: r.exact,
            problem: r.problem,
            ids: r.ids,
        }
    }

    fn encode(files: Vec<wit::Stored>) -> Vec<u8> {
        let files: Vec<manifest::Stored> = files
            .into_iter()
            .map(|s| manifest::Stored {
                entry: entry_in(s.entry),
                etag: s.etag,
                object_id: s.object_id,
            })
            .collect();
        manifest::encode(&files)
    }
}

fn stored_out(s: manifest::Stored) -> wit::Stored {
    wit::Stored {
        entry: entry_out(s.entry),
        etag: s.etag,
        object_id: s.object_id,
    }
}
