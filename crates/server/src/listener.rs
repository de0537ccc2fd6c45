//! The request port (UDP 69): binding, the receive loop, and the decision for each datagram.
//!
//! This path must stay cheap during a boot storm: a request is parsed, deduplicated, looked up
//! (a few `stat`s, no reads when the file is cached) and either answered at once from this
//! socket (not found, denied, busy) or handed to a transfer task with its own socket.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use phoneboot_tftp::packet::{self, ErrorCode, Opcode, Packet};
use quinn_udp::{RecvMeta, UdpSocketState};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use phoneboot_source::{FileName, Query, Source as _, Transport};

use crate::counters::Counter;
use crate::decision::{self, Decision, Outcome, Refusal, Ticket};
use crate::net::canonical;
use crate::transfer::{self, Job, Start};
use crate::{Shared, sockopt};

/// The longest request taken (RFC 2347 even asks requests to fit in 512 bytes): a name of the
/// longest length served ([`phoneboot_source::name::MAX_NAME_LEN`]), the mode and hundreds of
/// options fit; a request holds its bytes while it waits for a slot, so the queue's memory is
/// bounded by this.
pub(crate) const MAX_REQUEST: usize = 4096;

/// Why a listening socket could not be opened, with advice a person can act on.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}{hint}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub source: io::Error,
    pub hint: String,
}

impl BindError {
    pub(crate) fn new(addr: SocketAddr, source: io::Error, what: &str) -> Self {
        let hint = match source.kind() {
            io::ErrorKind::PermissionDenied if addr.port() < 1024 => format!(
                "\n  port {} needs root or CAP_NET_BIND_SERVICE; try --{what} 0.0.0.0:{}, or grant \
                 the binary the capability: sudo setcap cap_net_bind_service=+ep $(command -v phoneboot)",
                addr.port(),
                if what == "tftp-listen" { 6969 } else { 8080 },
            ),
            io::ErrorKind::AddrInUse => {
                // TFTP is UDP; the HTTP file service and the admin listener are TCP.
                let (who, ss) = if what == "tftp-listen" {
                    ("is tftpd-hpa, atftpd or dnsmasq running?", "-lunp")
                } else {
                    ("is another web server or phoneboot running?", "-ltnp")
                };
                format!(
                    "\n  another process holds this port ({who} `ss {ss} 'sport = :{}'` \
                     tells); stop it or choose another --{what}",
                    addr.port()
                )
            }
            io::ErrorKind::AddrNotAvailable => {
                "\n  this address is not configured on any interface of this host".to_owned()
            }
            _ => String::new(),
        };
        Self { addr, source, hint }
    }
}

/// One listening socket.
#[derive(Debug)]
pub(crate) struct Listener {
    socket: UdpSocket,
    state: UdpSocketState,
    local: SocketAddr,
}

impl Listener {
    /// Opens the sockets for one configured address: for `[::]` one dual-stack socket where the
    /// OS allows it, else one per family.
    pub(crate) fn bind(addr: SocketAddr, recv_buffer: usize) -> Result<Vec<Self>, BindError> {
        if addr.ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
            match Self::bind_one(addr, Some(false), recv_buffer) {
                Ok(l) => return Ok(vec![l]),
                Err(e) if e.source.kind() == io::ErrorKind::AddrInUse => return Err(e),
                Err(e) if e.source.kind() == io::ErrorKind::PermissionDenied => return Err(e),
                Err(e) => {
                    debug!("dual-stack socket on {addr} failed ({e}); trying one per family");
                }
            }
            let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port());
            let mut out = vec![Self::bind_one(v4, None, recv_buffer)?];
            match Self::bind_one(addr, Some(true), recv_buffer) {
                Ok(v6) => out.push(v6),
                Err(e) => warn!("IPv6 unavailable, serving IPv4 only: {e}"),
            }
            return Ok(out);
        }
        Ok(vec![Self::bind_one(addr, None, recv_buffer)?])
    }

    fn bind_one(
        addr: SocketAddr,
        only_v6: Option<bool>,
        recv_buffer: usize,
    ) -> Result<Self, BindError> {
        let fail = |e| BindError::new(addr, e, "tftp-listen");
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
            .map_err(fail)?;
        if let Some(v6) = only_v6 {
            socket.set_only_v6(v6).map_err(fail)?;
        }
        socket.set_nonblocking(true).map_err(fail)?;
        socket.bind(&addr.into()).map_err(fail)?;
        size_recv_buffer(&socket, addr, recv_buffer);
        let std_socket: std::net::UdpSocket = socket.into();
        let state = UdpSocketState::new((&std_socket).into()).map_err(fail)?;
        // After quinn-udp's set-up, which forbids fragmentation: single-port transfers send
        // their blocks from this socket.
        sockopt::allow_fragments(&std_socket, addr.is_ipv6());
        let local = std_socket.local_addr().map_err(fail)?;
        let socket = UdpSocket::from_std(std_socket).map_err(fail)?;
        Ok(Self {
            socket,
            state,
            local,
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Receives and dispatches requests until `stop` is cancelled.
    pub(crate) async fn run(self: Arc<Self>, shared: Arc<Shared>, stop: CancellationToken) {
        const BUF: usize = u16::MAX as usize + 1;
        let batch = quinn_udp::BATCH_SIZE.min(32);
        let mut storage = vec![0u8; BUF * batch];
        let mut meta = vec![RecvMeta::default(); batch];
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                ready = self.socket.readable() => {
                    if let Err(e) = ready {
                        warn!("TFTP listener {} failed: {e}", self.local);
                        return;
                    }
                }
            }
            let mut bufs: Vec<IoSliceMut<'_>> =
                storage.chunks_mut(BUF).map(IoSliceMut::new).collect();
            let received = self.socket.try_io(Interest::READABLE, || {
                self.state.recv((&self.socket).into(), &mut bufs, &mut meta)
            });
            let count = match received {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    debug!("receive on {}: {e}", self.local);
                    continue;
                }
            };
            for (m, buf) in meta.iter().zip(bufs.iter()).take(count) {
                // With UDP GRO one buffer may hold several datagrams of one client.
                let client = canonical(m.addr);
                let local_ip = m.dst_ip.map(|ip| ip.to_canonical());
                let payload = &buf[..m.len];
                if payload.is_empty() {
                    // `chunks` yields nothing for an empty datagram, which still deserves its
                    // ERROR 4.
                    self.dispatch(&shared, payload, client, local_ip);
                }
                for datagram in payload.chunks(m.stride.max(1)) {
                    self.dispatch(&shared, datagram, client, local_ip);
                }
            }
        }
    }

    /// Decides what to do with one datagram from `client` that arrived on `local_ip`.
    fn dispatch(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        datagram: &[u8],
        client: SocketAddr,
        local_ip: Option<IpAddr>,
    ) {
        let counters = &shared.counters;
        // Single-port mode: a client's ACKs and ERRORs come here, and go to its transfer.
        // Anything but a request from a client without one is dropped unanswered: an ERROR 5
        // from this port would reach a client whose transfer this very port serves.
        // A transfer started in single-port mode keeps its datagrams even if a reload turned
        // the mode off meanwhile.
        let opcode = datagram.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        let request = matches!(opcode, Some(1 | 2));
        if !request && shared.admission.deliver(client, datagram) {
            return;
        }
        if !request && shared.config().single_port {
            counters.incr(Counter::ForeignDatagrams);
            debug!(%client, "datagram for no transfer on the request port (single-port mode)");
            return;
        }
        match Packet::parse(datagram) {
            // A name too long is refused as a name (below); this is everything else.
            Ok(Packet::Rrq(request))
                if datagram.len() > MAX_REQUEST
                    && request.filename.len() <= phoneboot_source::name::MAX_NAME_LEN =>
            {
                // No client sends this much; a request holds its bytes while it waits.
                counters.incr(Counter::MalformedDatagrams);
                debug!(%client, len = datagram.len(), "request longer than {MAX_REQUEST} bytes");
                self.reply_error(
                    client,
                    local_ip,
                    ErrorCode::IllegalOperation,
                    "Request too long",
                );
            }
            Ok(Packet::Rrq(request)) => {
                self.on_read_request(shared, datagram, request.filename, client, local_ip);
            }
            Ok(Packet::Wrq(_)) => {
                Ticket::open(counters, Transport::Tftp).close(Outcome::Denied);
                info!(%client, "write request refused: the server is read-only");
                self.reply_error(
                    client,
                    local_ip,
                    ErrorCode::AccessViolation,
                    "Read-only server",
                );
            }
            // RFC 1350: never answer an ERROR.
            Ok(Packet::Error { .. }) => counters.incr(Counter::MalformedDatagrams),
            Ok(other) => {
                // DATA, ACK or OACK on the request port belongs to no transfer here.
                counters.incr(Counter::MalformedDatagrams);
                debug!(%client, opcode = ?other.opcode(), "packet for no transfer on the request port");
                self.reply_error(
                    client,
                    local_ip,
                    ErrorCode::UnknownTransferId,
                    "Unknown transfer ID",
                );
            }
            Err(e) => {
                counters.incr(Counter::MalformedDatagrams);
                debug!(%client, "malformed request: {e}");
                let is_error = datagram.get(..2) == Some(&(Opcode::Error as u16).to_be_bytes()[..]);
                if !is_error {
                    self.reply_error(
                        client,
                        local_ip,
                        ErrorCode::IllegalOperation,
                        &e.to_string(),
                    );
                }
            }
        }
    }

    fn on_read_request(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        datagram: &[u8],
        filename: &[u8],
        client: SocketAddr,
        local_ip: Option<IpAddr>,
    ) {
        let Some(claim) = shared.admission.claim(client, datagram) else {
            // The client retransmitted its request before our first answer reached it.
            shared.counters.incr(Counter::RequestsDuplicate);
            return;
        };
        let ticket = Ticket::open(&shared.counters, Transport::Tftp);
        let local_ip = local_ip.or_else(|| Some(self.local.ip()).filter(|ip| !ip.is_unspecified()));
        let reply = Reply {
            listener: Arc::clone(self),
            client,
            local_ip,
        };
        let name = match FileName::parse(filename) {
            Ok(name) => name,
            Err(why) => {
                let shown = String::from_utf8_lossy(filename);
                return reply.refuse(shared, decision::refuse_name(ticket, client, &shown, why));
            }
        };
        let query = Query::new(name, client, Transport::Tftp);
        let start = match shared.chain().try_now(&query) {
            // Decided at once (cached, missing, refused): a refusal goes from here.
            Some(lookup) => match decision::decide(shared, ticket, &query, lookup) {
                Decision::Refuse(refusal) => return reply.refuse(shared, refusal),
                // Served, or waiting for a serving slot: the task goes on.
                decided => Start::Decided(decided),
            },
            // A disk read or a peer fetch: the task looks it up first, then decides.
            None => Start::Lookup(ticket),
        };
        transfer::spawn(
            Arc::clone(shared),
            Job {
                query,
                reply,
                request: datagram.to_vec(),
                claim,
                start,
            },
        );
    }

    /// Sends an ERROR from the request port, from the address the request was sent to.
    fn reply_error(
        &self,
        to: SocketAddr,
        local_ip: Option<IpAddr>,
        code: ErrorCode,
        message: &str,
    ) {
        let mut buf = [0u8; 256];
        let Some(len) = packet::write_error(&mut buf, code, message) else {
            return;
        };
        // Best effort: an error reply that cannot be sent now is not worth a queue.
        let transmit = self.transmit(to, local_ip, &buf[..len]);
        if let Err(e) = self.state.try_send((&self.socket).into(), &transmit) {
            debug!("error reply to {to}: {e}");
        }
    }

    /// Sends a transfer's datagram from the request port (single-port mode), from the address
    /// the request was sent to, waiting for room in the socket's buffer.
    pub(crate) async fn send(
        &self,
        to: SocketAddr,
        local_ip: Option<IpAddr>,
        contents: &[u8],
    ) -> io::Result<()> {
        let transmit = self.transmit(to, local_ip, contents);
        self.socket
            .async_io(Interest::WRITABLE, || {
                self.state.try_send((&self.socket).into(), &transmit)
            })
            .await
    }

    fn transmit<'a>(
        &self,
        to: SocketAddr,
        local_ip: Option<IpAddr>,
        contents: &'a [u8],
    ) -> quinn_udp::Transmit<'a> {
        let destination = match (self.local, to) {
            // A dual-stack socket addresses IPv4 clients in their mapped form.
            (SocketAddr::V6(_), SocketAddr::V4(v4)) => {
                SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            _ => to,
        };
        quinn_udp::Transmit {
            destination,
            ecn: None,
            contents,
            segment_size: None,
            src_ip: local_ip.map(|ip| match (self.local, ip) {
                (SocketAddr::V6(_), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
                _ => ip,
            }),
        }
    }
}

/// Where a request's refusal goes: from the request port, from the address the request was
/// sent to, whether it was decided at once or after a disk read or a peer fetch.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    listener: Arc<Listener>,
    client: SocketAddr,
    local_ip: Option<IpAddr>,
}

impl Reply {
    /// Sends a transfer's datagram from the request port (single-port mode).
    pub(crate) async fn send(&self, contents: &[u8], to: SocketAddr) -> io::Result<()> {
        self.listener.send(to, self.local_ip, contents).await
    }

    /// The local address the request was sent to, when known.
    pub(crate) fn local_ip(&self) -> Option<IpAddr> {
        self.local_ip
    }

    /// Sends the TFTP form of `refusal` (nothing for a busy server configured to drop).
    pub(crate) fn refuse(&self, shared: &Shared, refusal: Refusal) {
        if let Some((code, text)) = refusal.tftp_reply(&shared.config()) {
            self.listener
                .reply_error(self.client, self.local_ip, code, &text);
        }
    }
}

/// Sizes the receive buffer for bursts: the plain option first (capped by `rmem_max`), then the
/// forced one (needs CAP_NET_ADMIN), and a warning with the fix if neither reached the goal.
fn size_recv_buffer(socket: &Socket, addr: SocketAddr, wanted: usize) {
    let _ = socket.set_recv_buffer_size(wanted);
    let enough = |s: &Socket| effective_recv_buffer(s) >= wanted;
    if enough(socket) || (sockopt::force_recv_buffer(socket, wanted).is_ok() && enough(socket)) {
        return;
    }
    warn!(
        "receive buffer of {addr} is {} bytes, not the {wanted} asked for: a burst of requests \
         may be dropped by the kernel. Raise the limit with `sysctl -w net.core.rmem_max={wanted}` \
         or run with CAP_NET_ADMIN",
        effective_recv_buffer(socket)
    );
}

/// The buffer size in force. Linux reports twice the value that was set (the doubling pays for
/// its bookkeeping), so the value read back must be halved before comparing it with the value
/// asked for; otherwise a request capped at `rmem_max` / 2 looks fulfilled.
fn effective_recv_buffer(socket: &Socket) -> usize {
    let reported = socket.recv_buffer_size().unwrap_or(0);
    if cfg!(target_os = "linux") {
        reported / 2
    } else {
        reported
    }
}
