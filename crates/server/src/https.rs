//! HTTPS for phones (spec §2, §6): TCP 6971, server-authenticated TLS with the cluster's TFTP
//! certificate (the one the ITL lists, so a phone checks the server against its trust list),
//! and TCP 6972, mutual TLS where the client must present a phone certificate stored in the
//! key store. Both serve the HTTP file routes; what differs is [`Tls`] on the query (a
//! `NAME.sgn` is answered with the plain body there, spec §2, and on 6972 an encrypted phone
//! may fetch its own plain configuration).
//!
//! The certificate and the known phones are read from the [`SecureState`] at each handshake,
//! so an import or rotation taken in by a reload applies to the next connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use phoneboot_source::Tls;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::security::SecureState;

/// A handshake that takes longer is dropped: a phone finishes in milliseconds, and a client
/// that stalls must not hold a task.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Handshakes in progress at once, per listener; further connections wait in the kernel's
/// backlog. Bounds what clients that connect and stall can hold.
const MAX_HANDSHAKES: usize = 256;

/// Which of the two services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// 6971: the server proves itself; anyone may ask.
    ServerAuthenticated,
    /// 6972: the phone proves itself too, with a stored certificate.
    Mutual,
}

/// The provider every TLS listener uses: ring, as rcgen uses for certificates.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS configuration of `kind`, reading keys and phones from `secure`.
pub(crate) fn config(kind: Kind, secure: &Arc<SecureState>) -> Result<Arc<ServerConfig>, String> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let resolver = Arc::new(CurrentCert {
        secure: Arc::clone(secure),
        made: Mutex::default(),
    });
    let config = match kind {
        Kind::ServerAuthenticated => builder.with_no_client_auth().with_cert_resolver(resolver),
        Kind::Mutual => builder
            .with_client_cert_verifier(Arc::new(KnownPhones {
                secure: Arc::clone(secure),
                provider,
            }))
            .with_cert_resolver(resolver),
    };
    Ok(Arc::new(config))
}

/// The TFTP identity in force, as rustls presents it (made again when it changes).
#[derive(Debug)]
struct CurrentCert {
    secure: Arc<SecureState>,
    made: Mutex<Option<(Vec<u8>, Arc<CertifiedKey>)>>,
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let keys = self.secure.keys()?;
        let identity = &keys.current.tftp;
        let serial = identity.cert().serial().to_vec();
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((known, key)) = made.as_ref()
            && *known == serial
        {
            return Some(Arc::clone(key));
        }
        let der = identity.key_pkcs8_der().ok()?;
        let key = rustls::crypto::ring::sign::any_supported_type(&PrivateKeyDer::Pkcs8(
            PrivatePkcs8KeyDer::from(der),
        ))
        .ok()?;
        let certified = Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(identity.cert().der().to_vec())],
            key,
        ));
        *made = Some((serial, Arc::clone(&certified)));
        Some(certified)
    }
}

/// Accepts a client certificate only when it is, byte for byte, one stored for a phone (its
/// LSC or MIC, `phoneboot security phone-cert`), and the handshake proves its key.
#[derive(Debug)]
struct KnownPhones {
    secure: Arc<SecureState>,
    provider: Arc<CryptoProvider>,
}

impl KnownPhones {
    /// The phone whose stored certificate this is, while that certificate is valid.
    fn device_of(secure: &SecureState, cert: &[u8]) -> Option<String> {
        let keys = secure.keys()?;
        keys.phones
            .iter()
            .find(|(_, c)| c.der() == cert)
            .filter(|(_, c)| c.check_valid_at(std::time::SystemTime::now()).is_ok())
            .map(|(mac, _)| format!("SEP{mac}"))
    }
}

impl ClientCertVerifier for KnownPhones {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match Self::device_of(&self.secure, end_entity.as_ref()) {
            Some(_) => Ok(ClientCertVerified::assertion()),
            None => Err(rustls::Error::General(
                "the client certificate is no phone's stored, valid certificate".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The admin listener's TLS: the certificate chain and key of PEM files the operator names
/// (any key rustls takes: RSA, ECDSA, Ed25519), no client certificate asked.
pub(crate) fn admin_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject as _;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| {
            format!(
                "{}: {e} (a PEM certificate chain, server first)",
                cert.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in it (PEM, -----BEGIN CERTIFICATE-----)",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "{}: {e} (a PEM private key, PKCS#8, PKCS#1 or SEC1)",
            key.display()
        )
    })?;
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map(Arc::new)
        .map_err(|e| format!("the key does not go with the certificate, or is not usable: {e}"))
}

/// Who is at the other end of a TLS connection.
#[derive(Debug, Clone)]
pub(crate) struct TlsPeer {
    pub addr: SocketAddr,
    pub tls: Tls,
}

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose connections arrive after their TLS handshake. Handshakes run in
/// their own tasks (a slow client delays no one) and are bounded in time.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, TlsPeer)>,
    local: SocketAddr,
}

impl TlsListener {
    pub(crate) fn new(
        tcp: TcpListener,
        kind: Kind,
        config: Arc<ServerConfig>,
        secure: Arc<SecureState>,
        stop: CancellationToken,
    ) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    () = stop.cancelled() => return,
                    permit = Arc::clone(&handshakes).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => return,
                    },
                };
                let (stream, addr) = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = tcp.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            debug!("HTTPS accept: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let (acceptor, tx, secure) = (acceptor.clone(), tx.clone(), Arc::clone(&secure));
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await;
                    drop(permit);
                    let stream = match handshake {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => return debug!(client = %addr, "TLS handshake: {e}"),
                        Err(_) => return debug!(client = %addr, "TLS handshake timed out"),
                    };
                    let tls = match kind {
                        Kind::ServerAuthenticated => Tls::Server,
                        Kind::Mutual => {
                            let device = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .and_then(|c| KnownPhones::device_of(&secure, c.as_ref()));
                            match device {
                                Some(device) => Tls::Mutual { device },
                                None => return, // the verifier refused it already
                            }
                        }
                    };
                    let _ = tx.send((stream, TlsPeer { addr, tls })).await;
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = TlsPeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept loop stopped (shutdown): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(TlsPeer {
            addr: self.local,
            tls: Tls::None,
        })
    }
}
