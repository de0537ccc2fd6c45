//! Serving a secure cluster: the trust lists, the `.sgn` form of every file, the `.enc.sgn`
//! of phones in an encrypted profile — a [`Source`] around the whole chain.
//!
//! ```text
//! ITLFile.tlv, ITLSEP<MAC>.tlv, CTLFile.tlv  -> built once per key set, from the key store
//! X.sgn   -> X.sgn as the chain has it (a file signed elsewhere), else X from the chain,
//!            signed with the TFTP key (kept: once per content, never per request)
//! SEP<MAC>.cnf.xml.sgn of an encrypted phone -> its stub, signed
//! SEP<MAC>.cnf.xml.enc.sgn                    -> its configuration encrypted to its certificate
//! SEP<MAC>.cnf.xml of an encrypted phone      -> served to no one
//! ```
//!
//! A signature is kept per signed name with what it was made of (the plain content's
//! SHA-256, the hash, the signer; for an `.enc.sgn` the phone's certificate too), so a request
//! for an unchanged file only assembles header and content. For built device files only the
//! header is kept (the plain file is rendered per request anyway, and 100,000 devices must
//! not mean 100,000 copies); other files keep their signed form whole, shared by every
//! transfer. The full build after each generation signs every built file ahead
//! ([`SecureState::presign`]), so a boot storm asking for `.sgn` finds them signed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use phoneboot_model::{SecurityMode, Snapshot};
use phoneboot_render::{Built, Form, Name, Requested};
use phoneboot_secure::{Certificate, HashAlg, Record, Role, Signer, trust};
use phoneboot_source::{
    Chain, Digest, File, FileName, Lookup, LookupFuture, Origin, Query, Source, Tls,
};
use tokio::sync::OnceCell;
use tracing::{debug, warn};

use super::keystore::Keys;
use crate::built::BuiltFiles;
use crate::counters::{Counter, Counters};

/// What the kept signatures may hold in all (headers and whole signed files). Past it the
/// whole files go (they are made again when asked for); 100,000 devices' headers are ~35 MiB.
pub const MAX_KEPT_BYTES: usize = 256 << 20;

/// Files larger than this are not signed on request (their `.sgn` is not found): reading
/// one whole into memory per version is the cost of signing it.
pub const MAX_SIGNED_BYTES: u64 = 16 << 20;

/// The hash a snapshot's parameters choose ("TFTP File Signature Algorithm").
pub fn hash_of(snapshot: Option<&Snapshot>) -> HashAlg {
    match snapshot.map(|s| s.params.file_signature_algorithm) {
        Some(phoneboot_model::FileSignatureAlgorithm::Sha512) => HashAlg::Sha512,
        _ => HashAlg::Sha1,
    }
}

/// What a kept signature was made of: when any of it changes, it is made again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    digest: Digest,
    hash: HashAlg,
    /// The signing certificate's fingerprint (a serial can repeat across certificates).
    signer: String,
    /// The phone certificate's fingerprint, for an `.enc.sgn`.
    phone: String,
}

#[derive(Debug, Clone)]
struct Kept {
    stamp: Stamp,
    /// The header alone (built device files), to go before the plain content.
    header: Bytes,
    /// The whole signed file (everything else, and every `.enc.sgn`).
    whole: Option<Bytes>,
}

impl Kept {
    fn bytes(&self) -> usize {
        self.header.len() + self.whole.as_ref().map_or(0, Bytes::len)
    }

    fn answer(&self, plain: &Bytes) -> Bytes {
        match &self.whole {
            Some(whole) => whole.clone(),
            None => {
                let mut out = BytesMut::with_capacity(self.header.len() + plain.len());
                out.extend_from_slice(&self.header);
                out.extend_from_slice(plain);
                out.freeze()
            }
        }
    }
}

/// The kept signatures by lower-case signed name, and what they hold in all.
#[derive(Debug)]
struct KeptFiles {
    by_name: HashMap<String, Kept>,
    bytes: usize,
    limit: usize,
}

impl Default for KeptFiles {
    fn default() -> Self {
        Self {
            by_name: HashMap::new(),
            bytes: 0,
            limit: MAX_KEPT_BYTES,
        }
    }
}

impl KeptFiles {
    fn get(&self, name: &str) -> Option<&Kept> {
        self.by_name.get(name)
    }

    fn insert(&mut self, name: String, kept: Kept) {
        self.bytes += kept.bytes();
        if let Some(old) = self.by_name.insert(name, kept) {
            self.bytes -= old.bytes();
        }
        if self.bytes > self.limit {
            // Whole files first: each is one signature to make again. Headers (a device's
            // file is rendered per request) stay unless they alone are past the bound.
            self.by_name.retain(|_, k| k.whole.is_none());
            self.bytes = self.by_name.values().map(Kept::bytes).sum();
            if self.bytes > self.limit {
                self.by_name.clear();
                self.bytes = 0;
            }
        }
    }

    fn clear(&mut self) {
        self.by_name.clear();
        self.bytes = 0;
    }

    fn len(&self) -> usize {
        self.by_name.len()
    }
}

/// The keys in force and the signatures made with them; shared by every chain a reload makes.
#[derive(Debug)]
pub struct SecureState {
    keys: RwLock<Option<Arc<Keys>>>,
    kept: RwLock<KeptFiles>,
    /// One signing per name at a time: a storm's first requests for a common file wait for
    /// the one signature instead of each making its own.
    flights: Mutex<HashMap<String, Arc<OnceCell<Option<Kept>>>>>,
    counters: Arc<Counters>,
}

/// What a signed answer is made of.
#[derive(Debug, Clone)]
struct Job {
    /// The name the header carries and the signature is kept under (its lower case).
    signed_name: String,
    plain: Bytes,
    /// The plain content's SHA-256, computed once per request.
    digest: Digest,
    modified: SystemTime,
    /// Encrypted to this certificate (an `.enc.sgn`).
    phone: Option<Certificate>,
    /// Keep the whole signed file, not only its header.
    keep_whole: bool,
}

impl SecureState {
    pub fn new(keys: Option<Keys>, counters: Arc<Counters>) -> Self {
        Self {
            keys: RwLock::new(keys.map(Arc::new)),
            kept: RwLock::default(),
            flights: Mutex::default(),
            counters,
        }
    }

    pub fn keys(&self) -> Option<Arc<Keys>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// New keys (a reload): signatures made with others are made again when next asked.
    pub fn replace_keys(&self, keys: Option<Keys>) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys.map(Arc::new);
        // Signatures of other keys are never served again: let them go.
        self.kept.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Puts back the keys that were in force (a reload that failed).
    pub fn restore_keys(&self, keys: Option<Arc<Keys>>) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }

    /// How many signed files are kept.
    pub fn kept(&self) -> usize {
        self.kept.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn stamp(keys: &Keys, hash: HashAlg, job: &Job) -> Stamp {
        Stamp {
            digest: job.digest,
            hash,
            signer: keys.signer_id.clone(),
            phone: job
                .phone
                .as_ref()
                .map(Certificate::fingerprint)
                .unwrap_or_default(),
        }
    }

    /// The answer if its signature is kept and still true.
    fn ready(&self, keys: &Keys, hash: HashAlg, job: &Job) -> Option<Bytes> {
        let stamp = Self::stamp(keys, hash, job);
        let kept = self.kept.read().unwrap_or_else(|p| p.into_inner());
        kept.get(&job.signed_name.to_ascii_lowercase())
            .filter(|k| k.stamp == stamp)
            .map(|k| k.answer(&job.plain))
    }

    /// Signs (or encrypts) on this thread and keeps the result.
    fn make(&self, keys: &Keys, hash: HashAlg, job: &Job) -> Option<Kept> {
        let signer = Signer {
            identity: &keys.current.tftp,
            hash,
        };
        let timestamp = unix_seconds(job.modified);
        let stamp = Self::stamp(keys, hash, job);
        let made = match &job.phone {
            Some(phone) => phoneboot_secure::encrypt_config(
                signer,
                phone,
                &job.signed_name,
                timestamp,
                &job.plain,
            )
            .map(|whole| Kept {
                stamp,
                header: Bytes::new(),
                whole: Some(Bytes::from(whole)),
            }),
            None => phoneboot_secure::sign_header(signer, &job.signed_name, timestamp, &job.plain)
                .map(|header| {
                    let header = Bytes::from(header);
                    let whole = job.keep_whole.then(|| {
                        let mut whole = BytesMut::with_capacity(header.len() + job.plain.len());
                        whole.extend_from_slice(&header);
                        whole.extend_from_slice(&job.plain);
                        whole.freeze()
                    });
                    Kept {
                        stamp,
                        header,
                        whole,
                    }
                }),
        };
        match made {
            Ok(kept) => {
                self.counters.incr(if job.phone.is_some() {
                    Counter::EncryptCount
                } else {
                    Counter::BuildSignCount
                });
                self.kept
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(job.signed_name.to_ascii_lowercase(), kept.clone());
                Some(kept)
            }
            Err(e) => {
                warn!(file = %job.signed_name, "cannot sign: {e}");
                None
            }
        }
    }

    /// The answer, signing on a blocking thread if need be; one signing per name and content
    /// at once (a flight for another version of the file is another flight).
    async fn answer(self: &Arc<Self>, keys: Arc<Keys>, hash: HashAlg, job: Job) -> Lookup {
        if let Some(ready) = self.ready(&keys, hash, &job) {
            return answered(ready, &job);
        }
        let stamp = Self::stamp(&keys, hash, &job);
        let key = format!("{}|{stamp:?}", job.signed_name.to_ascii_lowercase());
        let cell = Arc::clone(
            self.flights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key.clone())
                .or_default(),
        );
        let made = cell
            .get_or_init(|| {
                let (state, keys, job) = (Arc::clone(self), Arc::clone(&keys), job.clone());
                async move {
                    tokio::task::spawn_blocking(move || state.make(&keys, hash, &job))
                        .await
                        .ok()
                        .flatten()
                }
            })
            .await
            .clone();
        {
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            if flights.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                flights.remove(&key);
            }
        }
        match made.filter(|k| k.stamp == stamp) {
            Some(kept) => answered(kept.answer(&job.plain), &job),
            None => Lookup::Failed(format!("{} could not be signed", job.signed_name)),
        }
    }

    /// Signs a built file ahead of requests (the full build's sink): its `.sgn`, and for a
    /// phone in an encrypted profile its stub `.sgn` and its `.enc.sgn` instead.
    pub fn presign(&self, snapshot: &Snapshot, at: SystemTime, built: &Built, bytes: &[u8]) {
        let Some(keys) = self.keys() else { return };
        let hash = hash_of(Some(snapshot));
        let plain = Bytes::copy_from_slice(bytes);
        let jobs = match plan_for(snapshot, Some(&keys), &built.name()) {
            Secrecy::Plain => vec![sign_job(signed(&built.name()), plain, at, false)],
            Secrecy::Encrypted { device, phone } => {
                let stub = phoneboot_render::encrypted_stub(snapshot, device, &phone.md5_hex());
                vec![
                    sign_job(signed(&built.name()), Bytes::from(stub), at, false),
                    Job::new(
                        format!("{}{}", built.name(), Form::EncryptedSigned.suffix()),
                        plain,
                        at,
                        Some(phone.clone()),
                        true,
                    ),
                ]
            }
            Secrecy::Unservable => Vec::new(),
        };
        for job in jobs {
            if self.ready(&keys, hash, &job).is_none() {
                self.make(&keys, hash, &job);
            }
        }
    }
}

/// Signing `plain`, kept as `signed_name` (`NAME.sgn`).
fn sign_job(signed_name: String, plain: Bytes, modified: SystemTime, keep_whole: bool) -> Job {
    Job::new(signed_name, plain, modified, None, keep_whole)
}

impl Job {
    fn new(
        signed_name: String,
        plain: Bytes,
        modified: SystemTime,
        phone: Option<Certificate>,
        keep_whole: bool,
    ) -> Self {
        Self {
            digest: Digest::of(&plain),
            signed_name,
            plain,
            modified,
            phone,
            keep_whole,
        }
    }
}

fn signed(name: &Name) -> String {
    format!("{name}{}", Form::Signed.suffix())
}

fn found(bytes: Bytes, modified: SystemTime) -> Lookup {
    Lookup::Found(File::new(bytes, modified, Origin::Cache))
}

/// What `job` made, as served. An encrypted configuration carries its plain file's
/// `versionStamp` beside it: "has the phone taken the change" cannot read it inside.
fn answered(bytes: Bytes, job: &Job) -> Lookup {
    let mut file = File::new(bytes, job.modified, Origin::Cache);
    if job.phone.is_some() {
        file.carried_stamp = crate::fetches::version_stamp(&job.plain).map(Arc::from);
    }
    Lookup::Found(file)
}

fn unix_seconds(at: SystemTime) -> u32 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// How a device's configuration may go out.
enum Secrecy<'s> {
    /// As any file: plain, and signed on request.
    Plain,
    /// Only encrypted to the phone's certificate; the `.sgn` is a stub.
    Encrypted {
        device: &'s phoneboot_model::Device,
        phone: &'s Certificate,
    },
    /// An encrypted phone without a certificate: nothing can go out (writes refuse this;
    /// a certificate removed later leads here).
    Unservable,
}

fn plan_for<'s>(snapshot: &'s Snapshot, keys: Option<&'s Keys>, name: &Name) -> Secrecy<'s> {
    let Some(mac) = name.mac() else {
        return Secrecy::Plain;
    };
    match snapshot.device_by_mac(mac) {
        Some(device) if device.security_mode == SecurityMode::Encrypted => {
            match (name, keys.and_then(|k| k.phone(mac))) {
                (Name::SepXml(_), Some(phone)) => Secrecy::Encrypted { device, phone },
                // Its other files (a legacy .cnf, a profile) and, without keys or its
                // certificate, everything: nothing of an encrypted phone goes out plain.
                _ => Secrecy::Unservable,
            }
        }
        _ => Secrecy::Plain,
    }
}

/// The trust lists of one key set, built once.
#[derive(Debug, Clone)]
struct TrustFiles {
    itl: Option<Bytes>,
    ctl: Option<Bytes>,
    at: SystemTime,
}

impl TrustFiles {
    fn build(keys: &Keys, hash: HashAlg) -> Self {
        let records = keys.itl_records();
        // Stable bytes: the newest certificate's start, not the time of this build, so that
        // every node and every restart serve the same list.
        let at = records
            .iter()
            .map(|r| r.cert.not_before())
            .max()
            .unwrap_or(UNIX_EPOCH);
        let signer = Signer {
            identity: &keys.current.sast,
            hash,
        };
        let make = |name: &str, records: &[Record]| {
            trust::build(signer, name, unix_seconds(at), [1, 0], records)
                .map(Bytes::from)
                .map_err(|e| warn!("cannot build {name}: {e}"))
                .ok()
        };
        // A CTL exists only in mixed mode: when the call managers' own certificates are
        // known (CCM records), for phones to check their TLS signalling.
        let mixed = keys
            .trust
            .iter()
            .any(|r| matches!(r.role, Role::Ccm | Role::CcmTftp));
        let ctl = mixed.then(|| make("CTLFile.tlv", &records)).flatten();
        Self {
            itl: make("ITLFile.tlv", &records),
            ctl,
            at,
        }
    }
}

/// The chain, secured.
#[derive(Debug)]
pub struct Secured {
    inner: Chain,
    state: Arc<SecureState>,
    /// `None`: no keys — nothing is signed, but an encrypted phone's files still go out to
    /// no one (a node whose key folder is missing must not serve them plain).
    keys: Option<Arc<Keys>>,
    built: Option<Arc<BuiltFiles>>,
    /// The trust lists for each hash the parameters may choose.
    trust: Vec<(HashAlg, TrustFiles)>,
}

/// What a requested name asks of the secure layer.
enum Plan {
    /// Not a secure name: the chain answers it.
    Pass,
    /// The chain answers another name (a `.sgn` over HTTPS: the plain file).
    PassAs(Box<Query>),
    Trust(Option<(Bytes, SystemTime)>),
    /// Served to no one.
    Hidden,
    /// `X.sgn`: the chain's own `X.sgn` if it has one, else `X` signed.
    Sign {
        plain: Box<Query>,
        keep_whole: bool,
        /// Whether the chain may hold an `X.sgn` of its own: not when X is built (built files
        /// come first, so a file on disk could not stand for one anyway).
        own_first: bool,
        /// A common file's `.sgn` for a phone of another cluster: that cluster's, first.
        home_first: bool,
    },
    /// Made from the database (stub `.sgn`, `.enc.sgn`).
    Made(Box<Job>),
}

impl Secured {
    pub fn wrap(inner: Chain, state: &Arc<SecureState>, built: Option<Arc<BuiltFiles>>) -> Self {
        let keys = state.keys();
        let trust = keys.as_ref().map_or_else(Vec::new, |keys| {
            [HashAlg::Sha1, HashAlg::Sha512]
                .into_iter()
                .map(|hash| (hash, TrustFiles::build(keys, hash)))
                .collect()
        });
        Self {
            inner,
            state: Arc::clone(state),
            keys,
            built,
            trust,
        }
    }

    fn hash(&self) -> HashAlg {
        hash_of(
            self.built
                .as_ref()
                .map(|b| b.current())
                .as_ref()
                .map(|g| &g.snapshot),
        )
    }

    fn trust(&self) -> Option<&TrustFiles> {
        let hash = self.hash();
        self.trust.iter().find(|(h, _)| *h == hash).map(|(_, t)| t)
    }

    fn trust_file(&self, pick: impl FnOnce(&TrustFiles) -> Option<Bytes>) -> Plan {
        Plan::Trust(
            self.trust()
                .and_then(|t| pick(t).map(|bytes| (bytes, t.at))),
        )
    }

    fn plan(&self, query: &Query) -> Plan {
        let text = query.name.display();
        let requested = Requested::parse(&text);
        let generation = self.built.as_ref().map(|b| b.current());
        let snapshot = generation.as_ref().map(|g| &g.snapshot);
        if let Some(Requested { name, form }) = &requested {
            match (name, form) {
                (Name::ItlFile, Form::Plain) => return self.trust_file(|t| t.itl.clone()),
                // A phone of this cluster gets the cluster's list; another cluster's phone its
                // own cluster's, through the chain (centralized TFTP).
                (Name::ItlSep(mac), Form::Plain)
                    if snapshot.is_some_and(|s| s.device_by_mac(*mac).is_some()) =>
                {
                    return self.trust_file(|t| t.itl.clone());
                }
                (Name::CtlFile, Form::Plain) => return self.trust_file(|t| t.ctl.clone()),
                (Name::CtlSep(_) | Name::ItlSep(_), Form::Plain) => return Plan::Pass,
                (Name::CtlSep(_) | Name::ItlFile | Name::ItlSep(_) | Name::CtlFile, _) => {
                    return Plan::Trust(None);
                }
                _ => {}
            }
            if query.tls != Tls::None && *form != Form::EncryptedSigned {
                return self.plan_https(query, name, *form, snapshot);
            }
            if let (Some(snapshot), Some(generation)) = (snapshot, &generation) {
                match (plan_for(snapshot, self.keys.as_deref(), name), form) {
                    (Secrecy::Plain, _) => {}
                    (Secrecy::Unservable, _) | (Secrecy::Encrypted { .. }, Form::Plain) => {
                        return Plan::Hidden;
                    }
                    (Secrecy::Encrypted { device, phone }, Form::Signed) => {
                        let stub =
                            phoneboot_render::encrypted_stub(snapshot, device, &phone.md5_hex());
                        return Plan::Made(Box::new(sign_job(
                            signed(name),
                            Bytes::from(stub),
                            generation.at,
                            false,
                        )));
                    }
                    (Secrecy::Encrypted { phone, .. }, Form::EncryptedSigned) => {
                        let rendered = phoneboot_render::render_name(snapshot, &name.to_string());
                        let Some((_, Ok(xml))) = rendered else {
                            return Plan::Hidden;
                        };
                        return Plan::Made(Box::new(Job::new(
                            format!("{name}{}", form.suffix()),
                            Bytes::from(xml),
                            generation.at,
                            Some(phone.clone()),
                            true,
                        )));
                    }
                }
            }
            if *form == Form::EncryptedSigned {
                return Plan::Hidden; // only encrypted phones have one
            }
        }
        let Some(plain_text) = strip_suffix_ci(&text, ".sgn") else {
            return Plan::Pass;
        };
        if self.keys.is_none() {
            return Plan::Pass; // a .sgn only as the chain has it
        }
        if query.tls != Tls::None {
            // Over HTTPS the channel is what is trusted: a `NAME.sgn` gets NAME's plain body
            // (spec §2, port 6971).
            return FileName::parse(plain_text.as_bytes()).map_or(Plan::Pass, |name| {
                Plan::PassAs(Box::new(Query {
                    name,
                    ..query.clone()
                }))
            });
        }
        let Ok(plain_name) = FileName::parse(plain_text.as_bytes()) else {
            return Plan::Pass;
        };
        // A device's own files are rendered per request; keep only their headers.
        let per_device = requested.is_some_and(|r| r.name.mac().is_some());
        let built = snapshot.is_some_and(|s| phoneboot_render::resolve(s, plain_text).is_some());
        // Only what this node has is signed with its key: a file from another cluster is
        // that cluster's to sign (its `.sgn` is asked for as it is, after the local ones).
        Plan::Sign {
            own_first: !built,
            home_first: self.asks_others(query) && self.inner.asked_first(query),
            plain: Box::new(Query {
                name: plain_name,
                local_only: true,
                ..query.clone()
            }),
            keep_whole: !per_device,
        }
    }

    /// A device file over HTTPS: `NAME.sgn` answered with NAME's plain body; an encrypted
    /// phone's plain configuration only to that phone, proven by its certificate (6972).
    fn plan_https(
        &self,
        query: &Query,
        name: &Name,
        form: Form,
        snapshot: Option<&Snapshot>,
    ) -> Plan {
        if let Some(snapshot) = snapshot
            && !matches!(
                plan_for(snapshot, self.keys.as_deref(), name),
                Secrecy::Plain
            )
        {
            // The phone the file belongs to, by MAC: the name a certificate proves.
            let owner = name.mac().map(|mac| format!("SEP{mac}"));
            let own = matches!((&query.tls, owner), (Tls::Mutual { device }, Some(owner))
                if device.eq_ignore_ascii_case(&owner));
            if !own {
                return Plan::Hidden;
            }
        }
        if form == Form::Plain {
            return Plan::Pass;
        }
        match FileName::parse(name.to_string().as_bytes()) {
            Ok(plain) => Plan::PassAs(Box::new(Query {
                name: plain,
                ..query.clone()
            })),
            Err(_) => Plan::Pass,
        }
    }

    /// The signed answer for a plain file the chain found, when it can be given at once.
    fn signed_now(&self, file: &File, signed_name: String, keep_whole: bool) -> Option<Lookup> {
        let keys = self.keys.as_ref()?;
        let plain = file.content.in_memory()?.clone();
        let job = sign_job(signed_name, plain, file.modified, keep_whole);
        self.state
            .ready(keys, self.hash(), &job)
            .map(|bytes| found(bytes, file.modified))
    }

    async fn signed(&self, file: File, signed_name: String, keep_whole: bool) -> Lookup {
        let Some(keys) = &self.keys else {
            return Lookup::Skip;
        };
        if file.content.len() > MAX_SIGNED_BYTES {
            debug!(file = %signed_name, "too large to sign on request");
            return Lookup::Skip;
        }
        let plain = match file.content.in_memory() {
            Some(bytes) => bytes.clone(),
            None => {
                let content = file.content.clone();
                match tokio::task::spawn_blocking(move || content.to_bytes_blocking()).await {
                    Ok(Ok(bytes)) => bytes,
                    Ok(Err(e)) => return Lookup::Failed(format!("reading to sign: {e}")),
                    Err(e) => return Lookup::Failed(format!("reading to sign: {e}")),
                }
            }
        };
        let job = sign_job(signed_name, plain, file.modified, keep_whole);
        self.state.answer(Arc::clone(keys), self.hash(), job).await
    }
}

impl Source for Secured {
    fn name(&self) -> &str {
        "secure"
    }

    fn is_local(&self) -> bool {
        self.inner.is_local()
    }

    fn try_now(&self, query: &Query) -> Option<Lookup> {
        match self.plan(query) {
            Plan::Pass => self.inner.try_now(query),
            Plan::PassAs(plain) => self.inner.try_now(&plain),
            Plan::Trust(Some((bytes, at))) => Some(found(bytes, at)),
            Plan::Trust(None) | Plan::Hidden => Some(Lookup::Skip),
            Plan::Made(job) => match &self.keys {
                Some(keys) => self
                    .state
                    .ready(keys, self.hash(), &job)
                    .map(|bytes| answered(bytes, &job)),
                None => Some(Lookup::Skip),
            },
            Plan::Sign {
                plain,
                keep_whole,
                own_first,
                home_first,
            } => {
                if home_first {
                    match self.inner.try_now(query)? {
                        Lookup::Skip => {}
                        decided => return Some(decided),
                    }
                }
                let local = local(query);
                if own_first {
                    match self.inner.try_now(&local)? {
                        Lookup::Skip => {}
                        decided => return Some(decided),
                    }
                }
                match self.inner.try_now(&plain)? {
                    Lookup::Found(file) => self.signed_now(&file, signed_name(query), keep_whole),
                    Lookup::Skip if self.asks_others(query) => self.inner.try_now(query),
                    other => Some(other),
                }
            }
        }
    }

    fn lookup<'a>(&'a self, query: &'a Query) -> LookupFuture<'a> {
        Box::pin(async move {
            match self.plan(query) {
                Plan::Pass => self.inner.lookup(query).await,
                Plan::PassAs(plain) => self.inner.lookup(&plain).await,
                Plan::Trust(Some((bytes, at))) => found(bytes, at),
                Plan::Trust(None) | Plan::Hidden => Lookup::Skip,
                Plan::Made(job) => match &self.keys {
                    Some(keys) => self.state.answer(Arc::clone(keys), self.hash(), *job).await,
                    None => Lookup::Skip,
                },
                Plan::Sign {
                    plain,
                    keep_whole,
                    own_first,
                    home_first,
                } => {
                    if home_first {
                        match self.inner.lookup(query).await {
                            Lookup::Skip => {}
                            decided => return decided,
                        }
                    }
                    let local = local(query);
                    if own_first {
                        match self.inner.lookup(&local).await {
                            Lookup::Skip => {}
                            decided => return decided,
                        }
                    }
                    match self.inner.lookup(&plain).await {
                        Lookup::Found(file) => {
                            self.signed(file, signed_name(query), keep_whole).await
                        }
                        Lookup::Skip if self.asks_others(query) => self.inner.lookup(query).await,
                        other => other,
                    }
                }
            }
        })
    }
}

/// The same request, answered by this node's own sources only.
fn local(query: &Query) -> Query {
    Query {
        local_only: true,
        ..query.clone()
    }
}

impl Secured {
    /// Whether a `.sgn` this node does not have may be asked of other clusters.
    fn asks_others(&self, query: &Query) -> bool {
        !query.local_only && self.inner.has_remote()
    }
}

/// The name a signed file's header carries: as requested, with the case the grammar spells
/// device names in (a phone checks the name it asked for, and CUCM's own spelling).
fn signed_name(query: &Query) -> String {
    let text = query.name.display();
    match Requested::parse(&text) {
        Some(requested) => requested.to_string(),
        None => text,
    }
}

fn strip_suffix_ci<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = text.len().checked_sub(suffix.len())?;
    (text.is_char_boundary(cut) && text[cut..].eq_ignore_ascii_case(suffix))
        .then(|| &text[..cut])
        .filter(|rest| !rest.is_empty())
}

#[cfg(test)]
mod tests;
