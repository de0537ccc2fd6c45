//! The domain of phoneboot: the objects of a cluster's device database, the device model
//! catalogue, and the rules every value must keep.
//!
//! Plain data: no I/O, no clock. `store` persists these objects, `render` turns a
//! [`Snapshot`] of them into the files devices ask for.

mod catalogue;
mod error;
mod objects;
mod secrets;
mod snapshot;
pub mod value;

pub use catalogue::{Catalogue, CatalogueError, DeviceClass, FileScheme, ModelInfo, Profile};
pub use error::{FieldError, Plain, Valid, from_value, plain_words};
pub use objects::*;
pub use secrets::MASK;
pub use snapshot::{Kind, Object, PARAMS_KEY, Snapshot, Table};
pub use value::{Mac, MacError};
