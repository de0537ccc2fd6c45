//! The objects of the device database, each with its validation.
//!
//! The limits are those of the files the objects end up in (spec cisco-tftp.md §1, §9): a
//! value a file cannot carry is refused here, at input, with the field's name, rather than
//! written into a file a phone mis-parses.

mod cluster;
mod device;
mod params;
mod plans;
mod users;

pub use cluster::*;
pub use device::*;
pub use params::*;
pub use plans::*;
pub use users::*;
