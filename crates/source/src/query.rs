//! One request as every source sees it.

use std::net::SocketAddr;

use crate::name::FileName;

/// What is asked for, by whom, and over what: the context a request carries down the chain,
/// so that a source (or a wrapper around the chain) can answer per client or per transport
/// without another argument on every method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub name: FileName,
    pub client: SocketAddr,
    pub transport: Transport,
    /// The request came from another server (it carries the hop header): answer from local
    /// sources only, so that two servers listing each other as alternates cannot loop.
    pub local_only: bool,
    /// How an HTTPS request was authenticated (none over TFTP and plain HTTP).
    pub tls: Tls,
}

/// What a TLS connection proved about its client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Tls {
    /// Not TLS.
    #[default]
    None,
    /// Server-authenticated TLS (6971): the client is anyone.
    Server,
    /// Mutual TLS (6972): the client holds the key of this device's stored certificate.
    Mutual { device: String },
}

/// The wire a request came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tftp,
    Http,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tftp => "TFTP",
            Self::Http => "HTTP",
        })
    }
}

impl Query {
    pub fn new(name: FileName, client: SocketAddr, transport: Transport) -> Self {
        Self {
            name,
            client,
            transport,
            local_only: false,
            tls: Tls::None,
        }
    }
}
