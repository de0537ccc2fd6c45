//! `SEP<MAC>.cnf`, the configuration of devices whose loads do not read XML.
//!
//! No public description of this format exists (spec cisco-tftp.md §1.4, [U]). What is known
//! is one generator's output for a default file: a record holding the call manager's IPv4
//! address, its TCP port as a little-endian 32-bit value and a NUL-terminated directory URL,
//! ending in 0xff. This writes exactly that layout for the device's primary call manager.
//! It is not verified against a device; an operator with a real file should serve it from
//! the TFTP root instead (built files only shadow the disk when they exist).

use std::net::Ipv4Addr;

use phoneboot_model::{Device, FieldError, Snapshot};

use crate::RenderError;
use crate::device::Context;

pub(crate) fn sep_cnf(s: &Snapshot, d: &Device) -> Result<Vec<u8>, RenderError> {
    let c = Context::of(s, d)?;
    let cm = c.members.first().ok_or_else(|| {
        RenderError::Field(FieldError::new(
            "pool",
            "its call manager group has no members",
        ))
    })?;
    let address: Ipv4Addr = cm.host.parse().map_err(|_| {
        RenderError::Field(FieldError::new(
            "host",
            format!(
                "the legacy .cnf format holds an IPv4 address, and call manager {:?} is {:?}",
                cm.name, cm.host
            ),
        ))
    })?;
    let directory = c.urls.directory.clone().unwrap_or_default();
    let mut out = vec![0x01, 0x01, 0x00, 0x01, 0x02];
    out.extend_from_slice(&address.octets());
    out.extend_from_slice(&[0x01, 0x03]);
    out.extend_from_slice(&u32::from(cm.sccp_port).to_le_bytes());
    out.extend_from_slice(&[0x04, 0x07, 0x00]);
    out.extend_from_slice(directory.as_bytes());
    // The URL's NUL, then the trailer seen in the sample.
    out.extend_from_slice(&[0x00, 0x00, 0x00, 0x01, 0xff]);
    Ok(out)
}
