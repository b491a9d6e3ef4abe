//! The `check` interface: conversions only; the logic is in `crate::check`.

use super::Guest;
use super::exports::poof::core::check as wit;
use super::exports::poof::core::wipe::RemoteCheck;
use super::poof::core::types::Error;
use crate::{check, wipe};

impl wit::Guest for Guest {
    fn pair_listings(local: wit::Listing, copy: wit::Listing) -> Result<wit::Pairing, Error> {
        let p = check::pair(listing_in(local), listing_in(copy)).map_err(|e| match e {
            check::CheckError::InvalidInput(m) => Error::InvalidInput(m),
        })?;
        Ok(wit::Pairing {
            unlisted: p.unlisted,
            only_here: p.only_here,
            only_on_copy: p.only_on_copy,
            differs_by_size: p.differs_by_size,
            to_hash: p.to_hash,
        })
    }

    fn judge_hashes(local: Result<Vec<u8>, String>, copy: RemoteCheck) -> wit::Verdict {
        let copy = match copy {
            RemoteCheck::Hash(h) => wipe::RemoteCheck::Hash(h),
            RemoteCheck::Missing => wipe::RemoteCheck::Missing,
            RemoteCheck::Failed(why) => wipe::RemoteCheck::Failed(why),
        };
        match check::judge(local, copy) {
            check::Verdict::Same => wit::Verdict::Same,
            check::Verdict::Differs => wit::Verdict::Differs,
            check::Verdict::Failed(why) => wit::Verdict::Failed(why),
        }
    }
}

fn listing_in(l: wit::Listing) -> check::Listing {
    check::Listing {
        files: l
            .files
            .into_iter()
            .map(|f| check::Listed {
                path: f.path,
                size: f.size,
            })
            .collect(),
        problems: l.problems,
    }
}
