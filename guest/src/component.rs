//! The WIT bindings and their conversions to and from the plain-Rust types.
//!
//! Invariant: no logic lives here, only conversions; each exported interface
//! is implemented on `Guest` by delegating to a plain-Rust module. The
//! interfaces with resources (`crypto`, `legacy`, ...) have their own files.

#![allow(missing_docs)] // Generated bindings carry the WIT's own docs.

use crate::{filter, plan};

mod check;
mod crypto;
mod legacy;
mod session;
mod wipe;

wit_bindgen::generate!({
    world: "guest",
    path: "../wit",
});

use exports::poof::core::audit;
use exports::poof::core::sync;
use poof::core::types::Error;

struct Guest;

impl audit::Guest for Guest {
    fn info() -> audit::GuestInfo {
        audit::GuestInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            contract: crate::CONTRACT.to_string(),
        }
    }

    fn probe_sandbox(read_path: String, connect_to: String) -> Vec<audit::Probe> {
        crate::probe::run(&read_path, &connect_to)
            .into_iter()
            .map(|p| audit::Probe {
                attempt: p.attempt,
                reached: p.reached,
                detail: p.detail,
            })
            .collect()
    }
}

impl sync::Guest for Guest {
    fn plan_sync(input: sync::PlanInput, filter: sync::Filter) -> Result<sync::Plan, Error> {
        plan_out(plan::plan_filtered(
            plan_input_in(input),
            &filtering_in(filter),
        ))
    }

    fn select(filter: sync::Filter, paths: Vec<String>) -> Result<sync::Selection, Error> {
        let f = filter::Filter::new(&filter_in(filter)).map_err(Error::InvalidInput)?;
        let s = f.select(paths, |p| p);
        Ok(sync::Selection {
            included: s.included,
            excluded: s.excluded.into_iter().map(excluded_out).collect(),
        })
    }
}

fn filter_in(f: sync::Filter) -> filter::Spec {
    let lines = |l: Vec<sync::FilterLine>| {
        l.into_iter()
            .map(|l| filter::Line {
                text: l.text,
                from_file: l.from_file,
                origin: l.origin,
            })
            .collect()
    };
    filter::Spec {
        include: lines(f.includes),
        exclude: lines(f.excludes),
        rules: lines(f.rules),
    }
}

fn excluded_out(x: filter::Excluded) -> sync::Excluded {
    sync::Excluded {
        path: x.path,
        files: x.files,
        pattern: x.rule.pattern,
        origin: x.rule.origin,
    }
}

fn limit_in(l: sync::Limit) -> plan::Limit {
    match l {
        sync::Limit::Count(n) => plan::Limit::Count(n),
        sync::Limit::Percent(p) => plan::Limit::Percent(p),
    }
}

fn entry_in(e: sync::Entry) -> plan::Entry {
    plan::Entry {
        path: e.path,
        size: e.size,
        mtime_ns: e.mtime_ns,
        mode: e.mode,
    }
}

fn entry_out(e: plan::Entry) -> sync::Entry {
    sync::Entry {
        path: e.path,
        size: e.size,
        mtime_ns: e.mtime_ns,
        mode: e.mode,
    }
}

/// The plan's input in the plan's own types.
pub(crate) fn plan_input_in(input: sync::PlanInput) -> plan::Input {
    plan::Input {
        direction: match input.direction {
            sync::Direction::Up => plan::Direction::Up,
            sync::Direction::Down => plan::Direction::Down,
        },
        source_missing: matches!(input.source_state, sync::SourceState::Missing),
        source: input.source.into_iter().map(entry_in).collect(),
        source_complete: input.source_complete,
        never_delete: input.never_delete,
        restore_elsewhere: input.restore_elsewhere,
        target: input.target.into_iter().map(entry_in).collect(),
        mtime_window_ns: input.mtime_window_ns,
        max_delete: input.max_delete.map(limit_in),
        max_overwrite: input.max_overwrite.map(limit_in),
        confirmed: input.confirmed,
        checksum: input.checksum,
        source_hashes: input
            .source_hashes
            .into_iter()
            .map(|h| (h.path, h.sha256))
            .collect(),
        target_hashes: input
            .target_hashes
            .into_iter()
            .map(|h| (h.path, h.sha256))
            .collect(),
    }
}

/// A filter as the plan takes it.
pub(crate) fn filtering_in(filter: sync::Filter) -> plan::Filtering {
    plan::Filtering {
        delete_excluded: filter.delete_excluded,
        spec: filter_in(filter),
    }
}

/// The plan, or why it was refused, in WIT's types.
pub(crate) fn plan_out(plan: Result<plan::Plan, plan::PlanError>) -> Result<sync::Plan, Error> {
    let out = plan.map_err(|e| match e {
        plan::PlanError::InvalidInput(m) => Error::InvalidInput(m),
    })?;
    Ok(sync::Plan {
        make_room: out.make_room,
        copy: out.copy.into_iter().map(entry_out).collect(),
        set_mode: out.set_mode.into_iter().map(entry_out).collect(),
        delete: out.delete,
        unchanged: out.unchanged,
        withheld_deletions: out.withheld_deletions,
        withheld_reason: out.withheld_reason.map(|w| match w {
            plan::Withheld::SourceMissing => sync::Withheld::SourceMissing,
            plan::Withheld::SourceEmpty => sync::Withheld::SourceEmpty,
            plan::Withheld::SourceIncomplete => sync::Withheld::SourceIncomplete,
            plan::Withheld::NeverDelete => sync::Withheld::NeverDelete,
            plan::Withheld::RestoreElsewhere => sync::Withheld::RestoreElsewhere,
            plan::Withheld::NothingSelected => sync::Withheld::NothingSelected,
        }),
        guard_trips: out
            .guard_trips
            .into_iter()
            .map(|g| sync::GuardTrip {
                kind: match g.kind {
                    plan::GuardKind::Delete => sync::GuardKind::Delete,
                    plan::GuardKind::Overwrite => sync::GuardKind::Overwrite,
                },
                count: g.count,
                target_files: g.target_files,
                limit: g.limit,
                reason: g.reason,
            })
            .collect(),
        excluded_source: out.excluded_source.into_iter().map(excluded_out).collect(),
        excluded_target: out.excluded_target.into_iter().map(excluded_out).collect(),
    })
}

export!(Guest);
