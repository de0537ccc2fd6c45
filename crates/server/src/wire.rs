//! Where a transfer's datagrams go and come from.
//!
//! By default a transfer has a socket of its own, its TID (RFC 1350 §4): the client's ACKs
//! come to that port. In single-port mode (`--single-port`, dnsmasq's `--tftp-single-port`)
//! everything goes through the request port, so that a firewall or NAT that lets only port 69
//! through still carries the transfer: the transfer sends from the listener's socket (from the
//! address the request came to), and the listener hands it its client's datagrams.

use std::io;
use std::net::SocketAddr;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::listener::Reply;

#[derive(Debug)]
pub(crate) enum Wire {
    /// A socket of the transfer's own.
    Own(UdpSocket),
    /// The request port: sends through the listener, receives from its hand-over.
    RequestPort {
        reply: Reply,
        client: SocketAddr,
        inbox: mpsc::Receiver<Vec<u8>>,
    },
}

impl Wire {
    /// The transfer's own socket, for options set on it (segmentation).
    pub(crate) fn socket(&self) -> Option<&UdpSocket> {
        match self {
            Self::Own(socket) => Some(socket),
            Self::RequestPort { .. } => None,
        }
    }

    pub(crate) async fn send(&self, datagram: &[u8], to: SocketAddr) -> io::Result<()> {
        match self {
            Self::Own(socket) => socket.send_to(datagram, to).await.map(|_| ()),
            Self::RequestPort { reply, .. } => reply.send(datagram, to).await,
        }
    }

    /// The next datagram for this transfer (copied into `buf`), and who sent it. On the
    /// request port only the client's come: strangers are the listener's business.
    pub(crate) async fn recv(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match self {
            Self::Own(socket) => socket.recv_from(buf).await,
            Self::RequestPort { client, inbox, .. } => match inbox.recv().await {
                Some(datagram) => {
                    let len = datagram.len().min(buf.len());
                    buf.get_mut(..len)
                        .unwrap_or_default()
                        .copy_from_slice(datagram.get(..len).unwrap_or_default());
                    Ok((len, *client))
                }
                // The client's place was taken by a new request of its own: nothing more comes
                // (the transfer learns it from its claim).
                None => std::future::pending().await,
            },
        }
    }
}
