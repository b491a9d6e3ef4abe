//! The `wipe` interface: conversions only; the logic is in `crate::wipe`.

use super::Guest;
use super::exports::poof::core::wipe as wit;
use super::poof::core::types::Error;
use crate::wipe;

impl wit::Guest for Guest {
    fn plan_wipe(input: wit::WipeInput) -> Result<wit::WipePlan, Error> {
        let input = wipe::Input {
            sync_complete: input.sync_complete,
            files: input
                .files
                .into_iter()
                .map(|f| wipe::Checked {
                    path: f.path,
                    local: f.local,
                    remote: match f.remote {
                        wit::RemoteCheck::Hash(h) => wipe::RemoteCheck::Hash(h),
                        wit::RemoteCheck::Missing => wipe::RemoteCheck::Missing,
                        wit::RemoteCheck::Failed(why) => wipe::RemoteCheck::Failed(why),
                    },
                })
                .collect(),
            links: input.links,
        };
        let plan = wipe::plan(input).map_err(|e| match e {
            wipe::WipeError::InvalidInput(m) => Error::InvalidInput(m),
        })?;
        Ok(wit::WipePlan {
            wipe: plan.wipe,
            keep: plan
                .keep
                .into_iter()
                .map(|k| wit::Kept {
                    path: k.path,
                    reason: k.reason,
                })
                .collect(),
            links: plan
                .links
                .into_iter()
                .map(|l| wit::LinkRemoval {
                    link: l.link,
                    files: l.files,
                })
                .collect(),
            folders: plan.folders,
        })
    }
}
