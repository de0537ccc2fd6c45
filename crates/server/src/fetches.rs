//! What no peer shows: has the phone taken the change? For every device, the last of its own
//! configuration files it fetched *to the end* (file, time, client, transport, and the
//! `versionStamp` or content hash of what it got), compared with what the database holds now:
//! current, stale (it runs an older configuration), or never fetched.
//!
//! Recorded by the request's [`crate::decision::Ticket`] when it closes as processed, so a
//! transfer that broke off does not count; kept per node, in memory (a restart forgets).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use phoneboot_model::{Mac, Snapshot};
use phoneboot_render::{Built, Class, Name, Requested};
use phoneboot_source::{Digest, File, Query, Transport};
use serde::Serialize;

/// One completed fetch of a device's own file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fetch {
    /// As requested (`SEP001122334455.cnf.xml.sgn`).
    pub file: String,
    /// Unix seconds.
    pub at: u64,
    pub client: SocketAddr,
    pub transport: &'static str,
    /// The `versionStamp` of what was served, for the files that carry one.
    pub version_stamp: Option<String>,
    /// SHA-256 of what was served, for the files without a `versionStamp` (the stamp tells
    /// the others' versions apart).
    pub sha256: Option<String>,
}

/// Where a device stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// It fetched what the database holds now.
    Current,
    /// It fetched an older configuration.
    Stale,
    /// No fetch of its own file since this node started.
    Never,
}

/// A device's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceFetch {
    pub device: String,
    pub mac: String,
    pub state: State,
    /// What the database implies now (its file's `versionStamp`, or its SHA-256).
    pub expected: Option<String>,
    pub last: Option<Fetch>,
}

/// The fetches of this node.
#[derive(Debug, Default)]
pub struct Fetches {
    by_mac: Mutex<HashMap<Mac, Fetch>>,
}

/// A fetch waiting for its request to end well.
#[derive(Debug)]
pub(crate) struct Pending {
    mac: Mac,
    fetch: Fetch,
}

impl Fetches {
    /// What to record if `query` for `file` completes: only a device's own configuration.
    pub(crate) fn pending(query: &Query, file: &File) -> Option<Pending> {
        let text = query.name.display();
        let requested = Requested::parse(&text)?;
        let mac = match requested.name {
            Name::SepXml(mac) | Name::SepCnf(mac) | Name::SipCnf(mac) | Name::Profile(_, mac) => {
                mac
            }
            _ => return None,
        };
        let content = file.content.in_memory();
        let version_stamp = match &file.carried_stamp {
            Some(carried) => Some(carried.to_string()),
            None => content.and_then(|c| version_stamp(c)),
        };
        // The stamp tells versions apart; hashing the file (rendered anew for each request)
        // at every fetch of a storm would be paid for nothing.
        let sha256 = match version_stamp {
            Some(_) => None,
            None => file.digest_known().map(|d| d.to_string()),
        };
        Some(Pending {
            mac,
            fetch: Fetch {
                file: text,
                at: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                client: query.client,
                transport: match query.transport {
                    Transport::Tftp => "tftp",
                    Transport::Http => "http",
                },
                version_stamp,
                sha256,
            },
        })
    }

    pub(crate) fn record(&self, pending: Pending) {
        self.by_mac
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pending.mac, pending.fetch);
    }

    /// Every device of `snapshot` with where it stands, in name order.
    pub fn report(&self, snapshot: &Snapshot) -> Vec<DeviceFetch> {
        let fetched = self
            .by_mac
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        snapshot
            .devices
            .iter()
            .map(|device| standing(snapshot, device, fetched.get(&device.mac).cloned()))
            .collect()
    }

    /// Where one device stands (one render, for a device's page).
    pub fn of(&self, snapshot: &Snapshot, device: &phoneboot_model::Device) -> DeviceFetch {
        let last = self
            .by_mac
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&device.mac)
            .cloned();
        standing(snapshot, device, last)
    }
}

/// `device`'s standing given its last fetch.
fn standing(
    snapshot: &Snapshot,
    device: &phoneboot_model::Device,
    last: Option<Fetch>,
) -> DeviceFetch {
    let expected = expected(snapshot, device);
    let state = match (&last, &expected) {
        (None, _) => State::Never,
        (Some(last), Some(expected)) if matches(last, expected) => State::Current,
        (Some(_), _) => State::Stale,
    };
    DeviceFetch {
        device: device.name.clone(),
        mac: device.mac.to_string(),
        state,
        expected: expected.map(Expected::shown),
        last,
    }
}

/// What a device's own configuration is now.
enum Expected {
    Stamp(String),
    Sha256(String),
}

impl Expected {
    fn shown(self) -> String {
        match self {
            Self::Stamp(s) | Self::Sha256(s) => s,
        }
    }
}

fn expected(snapshot: &Snapshot, device: &phoneboot_model::Device) -> Option<Expected> {
    let own = phoneboot_render::device_files(snapshot, device)
        .into_iter()
        .find(|f| f.class() == Class::Device && !matches!(f, Built::SepCnf(_)))?;
    let bytes = phoneboot_render::render(snapshot, &own).ok()??;
    Some(match version_stamp(&bytes) {
        Some(stamp) => Expected::Stamp(stamp),
        None => Expected::Sha256(Digest::of(&bytes).to_string()),
    })
}

/// A fetch matches when it carried the same stamp (a signed or encrypted form of the file
/// carries the plain file's stamp inside it), else the same content.
fn matches(last: &Fetch, expected: &Expected) -> bool {
    match expected {
        Expected::Stamp(stamp) => last.version_stamp.as_deref() == Some(stamp),
        Expected::Sha256(hash) => last.sha256.as_deref() == Some(hash),
    }
}

/// The text of the first `<versionStamp>` element.
pub(crate) fn version_stamp(bytes: &[u8]) -> Option<String> {
    const OPEN: &[u8] = b"<versionStamp>";
    const CLOSE: &[u8] = b"</versionStamp>";
    let start = find(bytes, OPEN)? + OPEN.len();
    let len = find(&bytes[start..], CLOSE)?;
    std::str::from_utf8(&bytes[start..start + len])
        .ok()
        .map(str::to_owned)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_is_read_from_plain_and_signed_files_alike() {
        let xml = b"<device>\n  <versionStamp>abc123</versionStamp>\n</device>";
        assert_eq!(version_stamp(xml).as_deref(), Some("abc123"));
        let mut signed = vec![1, 0, 2, 1, 0, 13];
        signed.extend_from_slice(xml);
        assert_eq!(version_stamp(&signed).as_deref(), Some("abc123"));
        assert_eq!(version_stamp(b"<device/>"), None);
        assert_eq!(version_stamp(b"<versionStamp>cut"), None);
    }

    fn fetch_of(name: &str, content: &'static [u8]) -> Fetch {
        let query = Query::new(
            phoneboot_source::FileName::parse(name.as_bytes()).unwrap(),
            "127.0.0.1:5000".parse().unwrap(),
            Transport::Tftp,
        );
        let file = File::new(
            phoneboot_source::Content::Memory(bytes::Bytes::from_static(content)),
            SystemTime::now(),
            phoneboot_source::Origin::Cache,
        );
        Fetches::pending(&query, &file).unwrap().fetch
    }

    #[test]
    fn a_stamped_file_is_told_by_its_stamp_and_only_an_unstamped_one_is_hashed() {
        let stamped = fetch_of(
            "SEP001122334455.cnf.xml",
            b"<device><versionStamp>v1</versionStamp></device>",
        );
        assert_eq!(stamped.version_stamp.as_deref(), Some("v1"));
        assert_eq!(stamped.sha256, None);
        let plain = fetch_of("SIP001122334455.cnf", b"line1_name: 1001\n");
        assert_eq!(plain.version_stamp, None);
        assert_eq!(
            plain.sha256,
            Some(Digest::of(b"line1_name: 1001\n").to_string())
        );
    }
}
