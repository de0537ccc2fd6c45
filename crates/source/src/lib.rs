//! `phoneboot-source`: where a requested file comes from.
//!
//! The seed: "The TFTP server searches three internal caches, the disk, and then alternate
//! Cisco file servers (if specified)". A [`Chain`] asks its [`Source`]s in order; each answers
//! a [`Query`] with a [`Lookup`] that says exactly what happened — `Skip` (not mine: ask the
//! next one) is never confused with a failure. TFTP and HTTP ask the same chain.
//!
//! - [`name`]: requested names, normalised and confined ([`FileName`], [`Denied`]).
//! - [`file`]: what a source hands out ([`File`], its [`Origin`] and content [`Digest`]).
//! - [`content`]: a file's bytes, in memory or read as they are sent ([`Content`]).
//! - [`query`]: the request context every source sees ([`Query`], [`Transport`]).
//! - [`chain`]: the Source trait, the Lookup result and the Chain (itself a Source).
//! - [`dir`]: the TFTP root and the alternate file locations on disk, with name rules,
//!   confinement and the shared in-memory cache.
//! - [`peer`]: alternate file servers (other clusters) over HTTP.

pub mod chain;
pub mod content;
pub mod dir;
pub mod file;
pub mod name;
pub mod peer;
pub mod query;

pub use chain::{Chain, Lookup, LookupFuture, Source};
pub use content::Content;
pub use dir::FileRoots;
pub use file::{Digest, File, Origin};
pub use name::{Denied, FileName};
pub use query::{Query, Tls, Transport};
