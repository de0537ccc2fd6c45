//! For tests only: real servers the tests start, use and stop by their PID.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod postgres;

pub use postgres::Postgres;
