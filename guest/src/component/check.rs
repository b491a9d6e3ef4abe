//! The `check` interface: conversions only; the logic is in `crate::check`
//! and (for `cryptoggle --purge-plain`) `crate::purge`.

use super::Guest;
use super::exports::poof::core::check as wit;
use super::exports::poof::core::wipe::RemoteCheck;
use super::poof::core::types::Error;
use crate::{check, purge, wipe};

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
        match check::judge(local, remote_check_in(copy)) {
            check::Verdict::Same => wit::Verdict::Same,
            check::Verdict::Differs => wit::Verdict::Differs,
            check::Verdict::Failed(why) => wit::Verdict::Failed(why),
        }
    }

    fn pair_purge(listings: wit::PurgeListings) -> Result<Vec<wit::PurgePair>, Error> {
        let pairs = purge::pair(&listings_in(listings)).map_err(purge_error)?;
        Ok(pairs
            .into_iter()
            .map(|p| wit::PurgePair {
                key: p.key,
                path: p.path,
            })
            .collect())
    }

    fn plan_purge(
        listings: wit::PurgeListings,
        checks: Vec<wit::PurgeCheck>,
    ) -> Result<wit::PurgePlan, Error> {
        let checks = checks
            .into_iter()
            .map(|c| purge::Checked {
                key: c.key,
                plain: c.plain,
                sealed: remote_check_in(c.sealed),
            })
            .collect();
        let p = purge::plan(&listings_in(listings), checks).map_err(purge_error)?;
        Ok(wit::PurgePlan {
            delete: p.delete,
            then_delete: p.then_delete,
            verified: p.verified,
            holds: p
                .holds
                .into_iter()
                .map(|h| wit::PurgeHold {
                    key: h.key,
                    reason: h.reason,
                })
                .collect(),
        })
    }
}

fn purge_error(e: purge::PurgeError) -> Error {
    match e {
        purge::PurgeError::InvalidInput(m) => Error::InvalidInput(m),
    }
}

fn remote_check_in(c: RemoteCheck) -> wipe::RemoteCheck {
    match c {
        RemoteCheck::Hash(h) => wipe::RemoteCheck::Hash(h),
        RemoteCheck::Missing => wipe::RemoteCheck::Missing,
        RemoteCheck::Failed(why) => wipe::RemoteCheck::Failed(why),
    }
}

fn listings_in(l: wit::PurgeListings) -> purge::Listings {
    purge::Listings {
        prefix: l.prefix,
        plain: l
            .plain
            .into_iter()
            .map(|o| purge::PlainObject {
                key: o.key,
                size: o.size,
            })
            .collect(),
        plain_problems: l.plain_problems,
        manifest: l.manifest,
        sealed: listing_in(l.sealed),
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
