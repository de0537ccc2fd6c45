//! An impaired path between TFTP clients and a server, for tests and benchmarks where the
//! kernel has no netem: a UDP relay that drops, duplicates, delays and reorders datagrams in
//! both directions, and follows TFTP's change of port (each transfer's TID) so that any client
//! and any server work through it unchanged.
//!
//! ```text
//! client C ──► listen ─────────────► upstream U_C ──► server :69
//! client C ◄── face F_(C,T) ◄─────── upstream U_C ◄── server TID T
//! client C ──► face F_(C,T) ───────► upstream U_C ──► server TID T
//! ```
//!
//! One upstream socket per client address (the server sees it as the client), one client-facing
//! socket per server TID (the client sees it as the transfer's TID).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

/// What the path does to each datagram, in each direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability it arrives twice.
    pub duplicate: f64,
    /// Probability it is held back by `reorder_delay` more than the others (overtaken).
    pub reorder: f64,
    /// Every datagram's one-way delay.
    pub delay: Duration,
    pub reorder_delay: Duration,
    pub seed: u64,
}

/// Datagrams the relay dropped, duplicated and reordered, and all it forwarded.
#[derive(Debug, Default)]
pub struct PathStats {
    pub forwarded: std::sync::atomic::AtomicU64,
    pub dropped: std::sync::atomic::AtomicU64,
    pub duplicated: std::sync::atomic::AtomicU64,
    pub reordered: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct Fate {
    rng: Mutex<u64>,
    impairment: Impairment,
    stats: PathStats,
}

impl Fate {
    fn uniform(&self) -> f64 {
        let mut s = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        (*s >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sends `datagram` from `socket` to `to` as the path would.
    fn send(self: &Arc<Self>, socket: &Arc<UdpSocket>, datagram: &[u8], to: SocketAddr) {
        use std::sync::atomic::Ordering::Relaxed;
        let i = self.impairment;
        if self.uniform() < i.loss {
            self.stats.dropped.fetch_add(1, Relaxed);
            return;
        }
        let copies = if self.uniform() < i.duplicate {
            self.stats.duplicated.fetch_add(1, Relaxed);
            2
        } else {
            1
        };
        let mut delay = i.delay;
        if self.uniform() < i.reorder {
            self.stats.reordered.fetch_add(1, Relaxed);
            delay += i.reorder_delay;
        }
        self.stats.forwarded.fetch_add(1, Relaxed);
        let (socket, datagram) = (Arc::clone(socket), datagram.to_vec());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            for _ in 0..copies {
                let _ = socket.send_to(&datagram, to).await;
            }
        });
    }
}

/// A running relay; dropping it stops nothing (its tasks end with the runtime).
#[derive(Debug)]
pub struct Relay {
    pub listen: SocketAddr,
    fate: Arc<Fate>,
}

impl Relay {
    pub fn stats(&self) -> &PathStats {
        &self.fate.stats
    }

    /// Starts a relay on `listen` (port 0: any) in front of `server`.
    pub async fn start(
        listen: SocketAddr,
        server: SocketAddr,
        impairment: Impairment,
    ) -> std::io::Result<Self> {
        let front = Arc::new(UdpSocket::bind(listen).await?);
        let listen = front.local_addr()?;
        let fate = Arc::new(Fate {
            rng: Mutex::new(impairment.seed.max(1)),
            impairment,
            stats: PathStats::default(),
        });
        let upstreams: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
        let relay_ip = listen.ip();
        let f = Arc::clone(&fate);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, client)) = front.recv_from(&mut buf).await {
                let upstream = {
                    let known = upstreams
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&client)
                        .cloned();
                    match known {
                        Some(u) => u,
                        None => match upstream(relay_ip, client, server.ip(), &f).await {
                            Ok(u) => {
                                upstreams
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert(client, Arc::clone(&u));
                                u
                            }
                            Err(_) => continue,
                        },
                    }
                };
                f.send(&upstream, &buf[..n], server);
            }
        });
        Ok(Self { listen, fate })
    }
}

/// The server-facing socket of one client, and its task: what the server sends from a TID
/// goes to the client from that TID's client-facing socket.
async fn upstream(
    relay_ip: IpAddr,
    client: SocketAddr,
    server_ip: IpAddr,
    fate: &Arc<Fate>,
) -> std::io::Result<Arc<UdpSocket>> {
    let up = Arc::new(UdpSocket::bind(SocketAddr::new(relay_ip, 0)).await?);
    let (u, f) = (Arc::clone(&up), Arc::clone(fate));
    tokio::spawn(async move {
        let mut faces: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = u.recv_from(&mut buf).await {
            if from.ip() != server_ip {
                continue;
            }
            let face = match faces.get(&from) {
                Some(face) => Arc::clone(face),
                None => {
                    let Ok(face) = UdpSocket::bind(SocketAddr::new(relay_ip, 0)).await else {
                        continue;
                    };
                    let face = Arc::new(face);
                    faces.insert(from, Arc::clone(&face));
                    // What the client sends to this face goes to the server's TID.
                    let (face2, up2, f2) = (Arc::clone(&face), Arc::clone(&u), Arc::clone(&f));
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 65_536];
                        while let Ok((n, sender)) = face2.recv_from(&mut buf).await {
                            if sender == client {
                                f2.send(&up2, &buf[..n], from);
                            }
                        }
                    });
                    face
                }
            };
            f.send(&face, &buf[..n], client);
        }
    });
    Ok(up)
}
