//! `phoneboot-source`: where a requested file comes from.
//!
//! The seed: "The TFTP server searches three internal caches, the disk, and then alternate
//! Cisco file servers (if specified)". A [`Chain`] asks its [`Source`]s in order; each answers
//! with a [`Lookup`] that says exactly what happened — `Skip` (not mine: ask the next one) is
//! never confused with a failure. TFTP and HTTP ask the same chain.
//!
//! - [`dir`]: the TFTP root and the alternate file locations on disk, with name rules,
//!   confinement and the shared in-memory cache.
//! - [`peer`]: alternate file servers (other clusters) over HTTP.
//! - [`chain`]: the Source trait, the Lookup result and the Chain.

pub mod chain;
pub mod dir;
pub mod peer;

pub use chain::{Chain, Lookup, LookupFuture, Source};
pub use dir::{Denied, File, FileName, FileRoots, Origin, Stamp};
