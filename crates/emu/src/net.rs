//! Fetching files from real servers: phoneboot's TFTP client engine driven by a tokio socket,
//! an HTTP client for the 6970 service, and the [`Fetcher`]s a device boots with.
//!
//! How answers read to a device: TFTP ERROR 1 and HTTP 404 are "not found"; TFTP ERROR 0 and
//! HTTP 503 are "try later" (the busy answer of CUCM and phoneboot); no answer after the
//! client's retries is silence (the device moves to its next server).

use std::future::Future;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use phoneboot_tftp::packet;
use phoneboot_tftp::{ClientConfig, ClientError, ErrorCode, ReadClient};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::boot::{Fetched, Fetcher};
use crate::dhcp::Target;

/// Downloads one file over TFTP with phoneboot's client engine.
pub async fn tftp_fetch(
    server: SocketAddr,
    file: &[u8],
    config: ClientConfig,
) -> Result<Vec<u8>, ClientError> {
    tftp_fetch_counted(server, file, config).await.0
}

/// [`tftp_fetch`], also saying how many times the client timed out and retransmitted.
pub async fn tftp_fetch_counted(
    server: SocketAddr,
    file: &[u8],
    config: ClientConfig,
) -> (Result<Vec<u8>, ClientError>, u64) {
    let bind = match server {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    let Ok(socket) = UdpSocket::bind(bind).await else {
        return (Err(ClientError::TimedOut), 0);
    };
    // A windowed download receives with UDP GRO where the kernel has it: a run of datagrams a
    // server sent with segmentation offload arrives in one receive (as on any Linux host that
    // asks for it); each datagram still goes to the engine on its own. Lock-step downloads
    // (every phone) skip the socket set-up it costs.
    let gro = (config.options.windowsize.unwrap_or(1) > 1)
        .then(|| quinn_udp::UdpSocketState::new((&socket).into()).ok())
        .flatten();
    let mut client = ReadClient::new(Instant::now(), server, file, config);
    let mut send_buf = vec![0u8; 1024];
    let mut recv_buf = vec![0u8; (u16::MAX as usize + 1).max(packet::MAX_DATAGRAM + 1)];
    loop {
        let now = Instant::now();
        while let Some(tx) = client.poll_transmit(now, &mut send_buf) {
            let _ = socket.send_to(&send_buf[..tx.len], tx.destination).await;
        }
        // No need to dally: the data is in, and a lost final ACK only makes the server wait
        // for its own short linger.
        if client.is_complete() || client.is_finished() {
            let timeouts = client.stats().timeouts;
            return (client.finish(), timeouts);
        }
        let deadline = client.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            received = receive(&socket, gro.as_ref(), &mut recv_buf) => {
                if let Some((len, stride, from)) = received {
                    let from = SocketAddr::new(from.ip().to_canonical(), from.port());
                    let now = Instant::now();
                    for datagram in recv_buf[..len].chunks(stride.max(1)) {
                        client.handle_datagram(now, from, datagram);
                    }
                    if len == 0 {
                        client.handle_datagram(now, from, &[]);
                    }
                }
            }
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => client.handle_timeout(Instant::now()),
        }
    }
}

/// One receive: (bytes, the length of each datagram in them, sender). With GRO, several
/// datagrams of one sender may come at once.
async fn receive(
    socket: &UdpSocket,
    gro: Option<&quinn_udp::UdpSocketState>,
    buf: &mut [u8],
) -> Option<(usize, usize, SocketAddr)> {
    let Some(state) = gro else {
        let (len, from) = socket.recv_from(buf).await.ok()?;
        return Some((len, len, from));
    };
    let mut meta = [quinn_udp::RecvMeta::default()];
    loop {
        socket.readable().await.ok()?;
        let received = socket.try_io(Interest::READABLE, || {
            state.recv(socket.into(), &mut [IoSliceMut::new(buf)], &mut meta)
        });
        match received {
            Ok(n) if n > 0 => return Some((meta[0].len, meta[0].stride, meta[0].addr)),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return None,
        }
    }
}

/// The socket address of a server target; `None` when a name does not resolve (to a device
/// that is the same as a server that does not answer).
pub fn address(server: &Target, port: u16) -> Option<SocketAddr> {
    match server {
        Target::Addr(ip) => Some(SocketAddr::new(*ip, port)),
        Target::Name(host) => (host.as_str(), port).to_socket_addrs().ok()?.next(),
    }
}

/// Fetches over TFTP.
#[derive(Debug, Clone)]
pub struct TftpFetcher {
    pub port: u16,
    pub config: ClientConfig,
    /// Client timeouts (each one a retransmission), summed over every fetch of this fetcher
    /// and its clones.
    pub timeouts: Arc<AtomicU64>,
}

impl TftpFetcher {
    pub fn new(port: u16, config: ClientConfig) -> Self {
        Self {
            port,
            config,
            timeouts: Arc::default(),
        }
    }
}

impl Fetcher for TftpFetcher {
    fn fetch<'a>(
        &'a self,
        server: &'a Target,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Fetched> + Send + 'a>> {
        Box::pin(async move {
            let Some(addr) = address(server, self.port) else {
                return Fetched::Silent;
            };
            let (result, timeouts) = tftp_fetch_counted(addr, name.as_bytes(), self.config).await;
            self.timeouts.fetch_add(timeouts, Ordering::Relaxed);
            match result {
                Ok(data) => Fetched::File(data),
                Err(ClientError::Remote {
                    code: ErrorCode::FileNotFound,
                    ..
                }) => Fetched::NotFound,
                Err(ClientError::Remote {
                    code: ErrorCode::NotDefined,
                    ..
                }) => Fetched::Busy,
                Err(ClientError::TimedOut) => Fetched::Silent,
                Err(e) => Fetched::Failed(e.to_string()),
            }
        })
    }
}

/// Fetches over HTTP (`GET http://server:port/name`), as 78xx/88xx phones do first.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    pub port: u16,
    client: reqwest::Client,
}

impl HttpFetcher {
    pub fn new(port: u16, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout * 4)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { port, client })
    }
}

/// What an HTTP attempt gave: an answer, or no HTTP service at all.
enum HttpAnswer {
    Answer(Fetched),
    Unreachable,
}

impl HttpFetcher {
    async fn get(&self, server: &Target, name: &str) -> HttpAnswer {
        let Some(addr) = address(server, self.port) else {
            return HttpAnswer::Unreachable;
        };
        let url = format!("http://{addr}/{name}");
        let response = match self.client.get(&url).send().await {
            Ok(r) => r,
            Err(_) => return HttpAnswer::Unreachable,
        };
        let status = response.status().as_u16();
        HttpAnswer::Answer(match status {
            200 => match response.bytes().await {
                Ok(body) => Fetched::File(body.to_vec()),
                Err(e) => Fetched::Failed(format!("HTTP body: {e}")),
            },
            404 => Fetched::NotFound,
            503 => Fetched::Busy,
            other => Fetched::Failed(format!("HTTP {other}")),
        })
    }
}

impl Fetcher for HttpFetcher {
    fn fetch<'a>(
        &'a self,
        server: &'a Target,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Fetched> + Send + 'a>> {
        Box::pin(async move {
            match self.get(server, name).await {
                HttpAnswer::Answer(a) => a,
                HttpAnswer::Unreachable => Fetched::Silent,
            }
        })
    }
}

/// HTTP first, TFTP when the server has no HTTP service (connection refused, no answer).
/// An HTTP answer — 404 included — is final: it comes from the same file space.
#[derive(Debug, Clone)]
pub struct HttpFirst {
    pub http: HttpFetcher,
    pub tftp: TftpFetcher,
}

impl Fetcher for HttpFirst {
    fn fetch<'a>(
        &'a self,
        server: &'a Target,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Fetched> + Send + 'a>> {
        Box::pin(async move {
            match self.http.get(server, name).await {
                HttpAnswer::Answer(a) => a,
                HttpAnswer::Unreachable => self.tftp.fetch(server, name).await,
            }
        })
    }
}
