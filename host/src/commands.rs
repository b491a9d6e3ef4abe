//! One module per subcommand; each turns its arguments into actions.

pub mod backup;
pub mod check;
pub mod config;
pub mod cryptoggle;
pub mod docs;
pub mod download;
pub mod econfig;
pub mod guest;
pub mod neuter;
pub mod paths;
pub mod schedule;
pub mod upload;
pub mod verify;
pub mod version;

use crate::config::Locations;
use crate::engine::Guest;
use crate::output::Output;

/// What every command gets: the embedded guest, poof's locations and the output.
pub struct Context {
    /// The embedded guest component.
    pub guest: &'static Guest,
    /// poof's config folder and file.
    pub locations: Locations,
    /// Where messages go.
    pub out: Output,
}
