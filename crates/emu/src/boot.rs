//! A device's boot against its TFTP servers (spec cisco-tftp.md §6), with the seed's rules for
//! choosing and changing servers:
//!
//! - the servers come from DHCP (see [`crate::dhcp`]), first one first; a device that got none
//!   uses the server it remembers from its last good boot (the seed: "kept in NVRAM");
//! - a "try later" answer (busy) makes the device wait and ask the same server again — the seed:
//!   no fail-over on a delay message;
//! - no answer at all makes it move to the next server;
//! - every boot starts again from the first server DHCP names.
//!
//! Files are fetched through a [`Fetcher`], so the same logic runs against real servers (TFTP,
//! HTTP) and against scripted ones in tests.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use phoneboot_model::{Mac, Profile};
use phoneboot_render::{Form, MacCase, Name};
use phoneboot_secure::{Identity, SignedFile, TrustList};

use crate::dhcp::Target;

/// What fetching one file from one server gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    File(Vec<u8>),
    NotFound,
    /// The server said "try later" (a TFTP ERROR 0 busy text, HTTP 503).
    Busy,
    /// No answer within the device's timeouts.
    Silent,
    /// Any other error (access violation, protocol error): the file is not usable.
    Failed(String),
}

/// Fetches files from servers; implemented over TFTP/HTTP by the CLI, scripted in tests.
pub trait Fetcher: Send + Sync {
    fn fetch<'a>(
        &'a self,
        server: &'a Target,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Fetched> + Send + 'a>>;
}

/// How a model family boots (spec §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// 79x1/79x2/79x5, 78xx, 88xx, 69xx…: CTL, ITL, `SEP<MAC>.cnf.xml` or `XMLDefault.cnf.xml`.
    Xml,
    /// 7940/7960 on SIP firmware: `SIPDefault.cnf`, `SIP<MAC>.cnf`.
    Sip79x0,
    /// 7902 (`ff<mac>`), 7905 (`ld<mac>`) and 7912 (`gk<mac>`).
    Small { profile: Profile },
    /// A device on a non-XML load (7935, 12 SP+, …): `SEP<MAC>.cnf`, else `SEPDefault.cnf`.
    Legacy,
    /// An IOS gateway under SCCP control (`ccm-manager sccp`, STCAPP): `SKIGW<last 10 hex of
    /// its MAC>.cnf.xml`, then one `AN…` file per analog port the gateway file names
    /// (gateways-em-gaps.md §1.3).
    SccpGateway,
    /// An IOS MGCP gateway (`ccm-manager config`): `<MGCP domain name>.cnf.xml` [U for the
    /// name] (gateways-em-gaps.md §1.2).
    MgcpGateway,
}

impl Family {
    /// The family of a model name such as "7965", "CP-8845" or "7912".
    pub fn of_model(model: &str, sip: bool) -> Self {
        let digits: String = model.chars().filter(char::is_ascii_digit).collect();
        match digits.as_str() {
            "7940" | "7960" if sip => Family::Sip79x0,
            "7902" => Family::Small {
                profile: Profile::Ff,
            },
            "7905" => Family::Small {
                profile: Profile::Ld,
            },
            "7912" => Family::Small {
                profile: Profile::Gk,
            },
            _ => Family::Xml,
        }
    }
}

/// An emulated device.
#[derive(Debug, Clone)]
pub struct Device {
    pub mac: Mac,
    pub family: Family,
    /// The firmware load it runs; a config naming another one makes it fetch that.
    pub running_load: RunningLoad,
    /// The server of its last good boot.
    pub nvram: Option<Target>,
    /// How long it waits after a busy answer before asking again.
    pub busy_wait: Duration,
    /// Busy answers it accepts for one file before giving up the boot.
    pub busy_retries: u32,
    /// An MGCP gateway's domain name, which names its configuration file.
    pub domain: Option<String>,
    /// The device name an XML device's configuration is named by instead of `SEP<MAC>`: IP
    /// Communicator's `<Device Name>.cnf.xml`, Jabber for Tablet's `TAB<USER>.cnf.xml`.
    pub device_name: Option<String>,
    /// A phone with Security by Default: it holds a trust list and takes signed files only
    /// from whom that list trusts. `None`: a phone that ignores security (older firmware).
    pub security: Option<Security>,
}

/// What a secure phone holds (spec §1.9, §1.10, §6.1).
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// The trust list it holds, kept across boots like its server. `None`: a new phone,
    /// which takes the first list it is given (Security by Default); after that a new list
    /// must be signed by a SAST of the one held.
    pub itl: Option<TrustList>,
    /// An encrypted security profile: its configuration only from `.enc.sgn`, opened with
    /// its own key.
    pub encrypted: Option<Identity>,
}

impl Device {
    pub fn new(mac: Mac, family: Family) -> Self {
        Self {
            mac,
            family,
            running_load: RunningLoad::Unknown,
            nvram: None,
            busy_wait: Duration::from_secs(10),
            // A phone told to try later keeps trying; 30 waits of 10 s is five minutes.
            busy_retries: 30,
            domain: None,
            device_name: None,
            security: None,
        }
    }
}

/// Why a device asks for a file: what it means when the file is not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A trust list probe: absent on a nonsecure cluster, and that is normal.
    Probe,
    /// The device's own configuration.
    Config,
    /// A default configuration, asked for when the device's own is missing (or, for a
    /// 7940/7960 on SIP, the defaults every one reads first).
    Default,
    /// A file the configuration names: the load, the dial plan, the softkeys, the feature
    /// policy, a 7902/7905/7912 profile, a gateway's ports. Missing, the device is not set up
    /// as its configuration says.
    Named,
    /// Fetched after the boot and not needed for it: the ring list, a locale's tones.
    Extra,
}

/// What the device runs now, which decides whether it fetches the load its configuration
/// names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RunningLoad {
    /// Unknown: it fetches whatever load its configuration names.
    #[default]
    Unknown,
    /// This load: it fetches another only.
    Named(String),
    /// The one its configuration names (a phone coming back after a power cut): it fetches no
    /// load.
    AsConfigured,
}

impl RunningLoad {
    fn runs(&self, load: &str) -> bool {
        match self {
            Self::Unknown => false,
            Self::Named(running) => running == load,
            Self::AsConfigured => true,
        }
    }
}

/// How a boot that completed left the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provision {
    /// It has its own configuration and every file that configuration names.
    Configured,
    /// Its own configuration was not found: it runs on a default one (auto-registration).
    DefaultOnly { missing: String },
    /// It has its own configuration, but files that configuration names were not found.
    Incomplete { missing: Vec<String> },
}

impl std::fmt::Display for Provision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Configured => f.write_str("provisioned: every file its configuration names"),
            Self::DefaultOnly { missing } => write!(
                f,
                "not provisioned: {missing} was not found, so it runs on the default \
                 configuration"
            ),
            Self::Incomplete { missing } => write!(
                f,
                "not provisioned as configured: {} not found",
                missing.join(", ")
            ),
        }
    }
}

/// The result of one file request, for the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileResult {
    pub name: String,
    pub role: Role,
    pub server: Option<Target>,
    pub outcome: FileOutcome,
    /// Busy answers before the outcome.
    pub busy: u32,
    /// When the outcome came, since the boot started.
    pub at: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOutcome {
    Got(usize),
    NotFound,
    Failed(String),
}

/// Why a boot did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootError {
    #[error("no TFTP server: DHCP named none and none is remembered")]
    NoServer,
    #[error("no server answered")]
    AllSilent,
    #[error("the server stayed busy for {0} tries")]
    StayedBusy(u32),
    #[error("neither its own configuration file nor a default one was found")]
    NoConfig,
    /// A secure phone refused its configuration: not signed by whom its trust list trusts,
    /// or an encrypted profile's file it cannot open.
    #[error("refused {file}: {why}")]
    Refused { file: String, why: String },
}

/// What a boot did.
#[derive(Debug, Clone, Default)]
pub struct Boot {
    pub files: Vec<FileResult>,
    /// Each decision, in order, with the time since the boot started, for a person to read.
    pub trace: Vec<(Duration, String)>,
    /// The server that served the configuration, remembered for the next boot.
    pub server: Option<Target>,
    pub failovers: u32,
    pub result: Option<Result<(), BootError>>,
}

impl Boot {
    /// Bytes of every file received.
    pub fn bytes(&self) -> u64 {
        self.files
            .iter()
            .map(|f| match f.outcome {
                FileOutcome::Got(n) => n as u64,
                _ => 0,
            })
            .sum()
    }

    /// Busy answers over the whole boot.
    pub fn busy(&self) -> u64 {
        self.files.iter().map(|f| u64::from(f.busy)).sum()
    }

    /// How the boot left the device, if it completed.
    pub fn provision(&self) -> Option<Provision> {
        if !matches!(self.result, Some(Ok(()))) {
            return None;
        }
        let missing = |role: Role| {
            self.files
                .iter()
                .filter(move |f| f.role == role && !matches!(f.outcome, FileOutcome::Got(_)))
                .map(|f| f.name.clone())
        };
        let own_got = self
            .files
            .iter()
            .any(|f| f.role == Role::Config && matches!(f.outcome, FileOutcome::Got(_)));
        if !own_got && let Some(own) = missing(Role::Config).next() {
            return Some(Provision::DefaultOnly { missing: own });
        }
        let named: Vec<String> = missing(Role::Named).collect();
        Some(if named.is_empty() {
            Provision::Configured
        } else {
            Provision::Incomplete { missing: named }
        })
    }
}

struct Session<'a> {
    started: tokio::time::Instant,
    device: &'a Device,
    fetcher: &'a dyn Fetcher,
    servers: Vec<Target>,
    current: usize,
    boot: Boot,
    /// The trust list a secure phone holds during this boot.
    itl: Option<TrustList>,
}

impl Session<'_> {
    fn note(&mut self, text: String) {
        self.boot.trace.push((self.started.elapsed(), text));
    }

    /// Fetches one file with the seed's rules for busy and silent servers.
    async fn get(&mut self, name: &str, role: Role) -> Result<Option<Vec<u8>>, BootError> {
        let mut busy = 0;
        loop {
            let Some(server) = self.servers.get(self.current).cloned() else {
                return Err(BootError::AllSilent);
            };
            match self.fetcher.fetch(&server, name).await {
                Fetched::Busy => {
                    busy += 1;
                    if busy > self.device.busy_retries {
                        self.record(
                            (name, role),
                            Some(server),
                            FileOutcome::Failed("busy".into()),
                            busy,
                        );
                        return Err(BootError::StayedBusy(busy));
                    }
                    self.note(format!(
                        "{name}: {server} is busy; waiting {:?} and asking it again",
                        self.device.busy_wait
                    ));
                    tokio::time::sleep(self.device.busy_wait).await;
                }
                Fetched::Silent => {
                    self.note(format!("{name}: no answer from {server}"));
                    self.current += 1;
                    match self.servers.get(self.current) {
                        Some(next) => {
                            self.boot.failovers += 1;
                            self.note(format!("failing over to {next}"));
                        }
                        None => {
                            self.record(
                                (name, role),
                                Some(server),
                                FileOutcome::Failed("no answer".into()),
                                busy,
                            );
                            return Err(BootError::AllSilent);
                        }
                    }
                }
                Fetched::File(data) => {
                    self.record(
                        (name, role),
                        Some(server),
                        FileOutcome::Got(data.len()),
                        busy,
                    );
                    return Ok(Some(data));
                }
                Fetched::NotFound => {
                    self.record((name, role), Some(server), FileOutcome::NotFound, busy);
                    return Ok(None);
                }
                Fetched::Failed(why) => {
                    self.record((name, role), Some(server), FileOutcome::Failed(why), busy);
                    return Ok(None);
                }
            }
        }
    }

    /// The first of `names` that exists.
    async fn first_of(
        &mut self,
        names: &[(String, Role)],
    ) -> Result<Option<(String, Vec<u8>)>, BootError> {
        for (name, role) in names {
            if let Some(data) = self.get(name, *role).await? {
                return Ok(Some((name.clone(), data)));
            }
        }
        Ok(None)
    }

    /// A secure phone's fetch of a file it checks: `NAME.sgn` first, verified against the
    /// trust list it holds (the signed payload is the file); without a `.sgn`, the plain file
    /// (older clusters, spec §6.1). A phone without security asks for the plain file only.
    async fn get_checked(&mut self, name: &str, role: Role) -> Result<Option<Vec<u8>>, BootError> {
        let Some(itl) = self.itl.clone() else {
            return self.get(name, role).await;
        };
        let signed = format!("{name}{}", Form::Signed.suffix());
        match self.get(&signed, role).await? {
            Some(file) => match verify(&itl, &file, &signed) {
                Ok(payload) => Ok(Some(payload)),
                Err(why) => {
                    self.note(format!("{signed}: refused: {why}"));
                    self.refuse(&signed, role, &why);
                    Err(BootError::Refused { file: signed, why })
                }
            },
            None => self.get(name, role).await,
        }
    }

    /// An encrypted-profile phone's configuration: the signed stub, then the `.enc.sgn`
    /// verified and opened with its own key.
    async fn get_encrypted(
        &mut self,
        name: &str,
        own: &Identity,
    ) -> Result<Option<Vec<u8>>, BootError> {
        let Some(itl) = self.itl.clone() else {
            return Err(BootError::Refused {
                file: name.to_owned(),
                why: "an encrypted profile needs a trust list, and none was given".into(),
            });
        };
        let Some(stub) = self.get_checked(name, Role::Config).await? else {
            return Ok(None);
        };
        // The stub names the certificate the configuration is encrypted to.
        let stub = String::from_utf8_lossy(&stub);
        let mine = own.cert().md5_hex();
        if let Some(hash) = xml_text(&stub, "certHash")
            && !hash.eq_ignore_ascii_case(&mine)
        {
            let why = format!(
                "its configuration is encrypted to another certificate (certHash {hash}; this \
                 phone's is {mine})"
            );
            self.note(format!("{name}: {why}"));
            return Err(BootError::Refused {
                file: name.to_owned(),
                why,
            });
        }
        let encrypted = format!("{name}{}", Form::EncryptedSigned.suffix());
        let Some(file) = self.get(&encrypted, Role::Config).await? else {
            return Ok(None);
        };
        let opened = SignedFile::parse(&file)
            .map_err(|e| e.to_string())
            .and_then(|f| {
                itl.verify_file(&f).map_err(|e| e.to_string())?;
                if !f.file_name.eq_ignore_ascii_case(&encrypted) {
                    return Err(format!("it is signed as {:?}", f.file_name));
                }
                phoneboot_secure::decrypt_config(own, &f).map_err(|e| e.to_string())
            });
        match opened {
            Ok(xml) => Ok(Some(xml)),
            Err(why) => {
                self.note(format!("{encrypted}: refused: {why}"));
                self.refuse(&encrypted, Role::Config, &why);
                Err(BootError::Refused {
                    file: encrypted,
                    why,
                })
            }
        }
    }

    /// Takes a trust list: the first one as it comes (after checking it is signed by a SAST
    /// it lists), a later one only when signed by a SAST of the one held.
    fn take_trust_list(&mut self, name: &str, bytes: &[u8]) {
        match checked_trust_list(bytes, self.itl.as_ref()) {
            Ok(offered) => {
                self.note(format!(
                    "{name}: trusted ({} records)",
                    offered.records.len()
                ));
                self.itl = Some(offered);
            }
            Err(e) => self.note(format!("{name}: {e}; keeping the list it holds")),
        }
    }

    fn refuse(&mut self, name: &str, role: Role, why: &str) {
        if let Some(last) = self.boot.files.last_mut()
            && last.name == name
        {
            last.outcome = FileOutcome::Failed(format!("refused: {why}"));
        } else {
            self.record((name, role), None, FileOutcome::Failed(why.to_owned()), 0);
        }
    }

    fn record(
        &mut self,
        (name, role): (&str, Role),
        server: Option<Target>,
        outcome: FileOutcome,
        busy: u32,
    ) {
        let shown = match &outcome {
            FileOutcome::Got(n) => format!("got {n} bytes"),
            FileOutcome::NotFound => "not found".to_owned(),
            FileOutcome::Failed(why) => format!("failed: {why}"),
        };
        let from = server
            .as_ref()
            .map_or_else(String::new, |s| format!(" from {s}"));
        self.note(format!("{name}{from}: {shown}"));
        self.boot.files.push(FileResult {
            name: name.to_owned(),
            role,
            server,
            outcome,
            busy,
            at: self.started.elapsed(),
        });
    }
}

/// A trust list offered to a phone holding `held` (none: it takes the first, if signed by a
/// SAST it lists), checked. The verdict is a pure function of the bytes and the list held,
/// so it is kept for the process: a storm of thousands of emulated phones offered the same
/// list checks it once, and measures the server rather than itself.
fn checked_trust_list(bytes: &[u8], held: Option<&TrustList>) -> Result<TrustList, String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Key = (Vec<u8>, Vec<u8>);
    static CHECKED: OnceLock<Mutex<HashMap<Key, Result<TrustList, String>>>> = OnceLock::new();
    let key = (
        phoneboot_secure::HashAlg::Sha1.digest(bytes),
        held.map(|h| h.id().to_vec()).unwrap_or_default(),
    );
    let memo = CHECKED.get_or_init(Mutex::default);
    if let Some(known) = memo.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return known.clone();
    }
    let verdict = TrustList::parse(bytes)
        .map_err(|e| format!("not a trust list ({e})"))
        .and_then(|offered| {
            match held {
                Some(held) => offered.verify_with(held),
                None => offered.verify_with(&offered),
            }
            .map_err(|e| format!("refused ({e})"))?;
            Ok(offered)
        });
    let mut memo = memo.lock().unwrap_or_else(|p| p.into_inner());
    if memo.len() >= 16 {
        memo.clear();
    }
    memo.insert(key, verdict.clone());
    verdict
}

/// A signed file's payload, if the trust list vouches for its signer.
fn verify(itl: &TrustList, file: &[u8], asked: &str) -> Result<Vec<u8>, String> {
    let signed = SignedFile::parse(file).map_err(|e| e.to_string())?;
    itl.verify_file(&signed).map_err(|e| e.to_string())?;
    // A file signed for another name is another file (a signature cannot be moved).
    let named = signed.file_name.rsplit('/').next().unwrap_or_default();
    let asked = asked.rsplit('/').next().unwrap_or_default();
    if !named.eq_ignore_ascii_case(asked) {
        return Err(format!(
            "it is signed as {:?}, not {asked:?}",
            signed.file_name
        ));
    }
    Ok(signed.payload().to_vec())
}

/// Boots `device` against the servers DHCP gave (or its remembered one) and remembers the server
/// that served its configuration.
pub async fn boot(device: &mut Device, dhcp_servers: Vec<Target>, fetcher: &dyn Fetcher) -> Boot {
    let servers = if dhcp_servers.is_empty() {
        device.nvram.clone().into_iter().collect()
    } else {
        dhcp_servers
    };
    let mut s = Session {
        started: tokio::time::Instant::now(),
        device,
        fetcher,
        servers,
        current: 0,
        boot: Boot::default(),
        itl: device.security.as_ref().and_then(|sec| sec.itl.clone()),
    };
    let result = run(&mut s).await;
    if let Err(e) = &result {
        s.note(format!("boot failed: {e}"));
    }
    s.boot.result = Some(result);
    if let Some(provision) = s.boot.provision() {
        s.note(provision.to_string());
    }
    let (boot, itl) = (s.boot, s.itl);
    if let Some(server) = &boot.server {
        device.nvram = Some(server.clone());
    }
    if let Some(security) = &mut device.security {
        security.itl = itl;
    }
    boot
}

async fn run(s: &mut Session<'_>) -> Result<(), BootError> {
    if s.servers.is_empty() {
        return Err(BootError::NoServer);
    }
    s.note(format!(
        "TFTP servers: {}",
        s.servers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mac = s.device.mac;
    // Every name a phone asks for is spelled by the one file-name grammar.
    let name = |n: Name, role| (n.to_string(), role);
    match s.device.family {
        Family::Xml => {
            // Trust lists: absent on a nonsecure cluster, and that is normal.
            s.first_of(&[
                name(Name::CtlSep(mac), Role::Probe),
                name(Name::CtlFile, Role::Probe),
            ])
            .await?;
            let itl = s
                .first_of(&[
                    name(Name::ItlSep(mac), Role::Probe),
                    name(Name::ItlFile, Role::Probe),
                ])
                .await?;
            if let (Some((file, bytes)), Some(_)) = (itl, &s.device.security) {
                s.take_trust_list(&file, &bytes);
            }
            let own = s
                .device
                .device_name
                .clone()
                .map_or(Name::SepXml(mac), Name::DeviceXml);
            let encrypted = s
                .device
                .security
                .as_ref()
                .and_then(|sec| sec.encrypted.clone());
            let config = match &encrypted {
                Some(key) => s
                    .get_encrypted(&own.to_string(), key)
                    .await?
                    .map(|xml| (own.to_string(), xml)),
                None => match s.get_checked(&own.to_string(), Role::Config).await? {
                    Some(xml) => Some((own.to_string(), xml)),
                    None => {
                        let default = Name::XmlDefault.to_string();
                        s.get_checked(&default, Role::Default)
                            .await?
                            .map(|xml| (default, xml))
                    }
                },
            }
            .ok_or(BootError::NoConfig)?;
            s.boot.server = s.servers.get(s.current).cloned();
            let text = String::from_utf8_lossy(&config.1).into_owned();
            if let Some(load) = xml_text(&text, "loadInformation")
                && !s.device.running_load.runs(&load)
            {
                s.note(format!(
                    "config names load {load}, not the running one: fetching it"
                ));
                s.get(&format!("{load}.loads"), Role::Named).await?;
            }
            for tag in ["dialTemplate", "softKeyFile", "featurePolicyFile"] {
                if let Some(file) = xml_text(&text, tag) {
                    s.get_checked(&file, Role::Named).await?;
                }
            }
            // The ring list, which phones fetch after boot (seed); absent is normal.
            s.get_checked("RingList.xml", Role::Extra).await?;
            // Tones of a network locale other than the built-in United States one.
            if let Some(locale) = xml_text(&text, "networkLocale")
                && locale != "United_States"
            {
                s.get(&format!("{locale}/g3-tones.xml"), Role::Extra)
                    .await?;
            }
        }
        Family::Sip79x0 => {
            let (default, role) = name(Name::SipDefault, Role::Default);
            let default = s.get(&default, role).await?;
            let (own, role) = name(Name::SipCnf(mac), Role::Config);
            let own = s.get(&own, role).await?;
            if default.is_none() && own.is_none() {
                return Err(BootError::NoConfig);
            }
            s.boot.server = s.servers.get(s.current).cloned();
            let text = [default, own]
                .into_iter()
                .flatten()
                .map(|d| String::from_utf8_lossy(&d).into_owned())
                .collect::<Vec<_>>()
                .join("\n");
            if let Some(image) = key_value(&text, "image_version")
                && !s.device.running_load.runs(&image)
            {
                s.note(format!("image_version {image} differs: fetching it"));
                s.get(&format!("{image}.loads"), Role::Named).await?;
            }
            // `dial_template: NAME` names NAME.xml (default "dialplan").
            let plan = key_value(&text, "dial_template").unwrap_or_else(|| "dialplan".into());
            let (plan, role) = name(Name::PlainXml(plan), Role::Named);
            s.get(&plan, role).await?;
        }
        Family::Small { profile } => {
            // These phones spell their MAC in lower case (spec §1.1).
            let (got, _) = s
                .first_of(&[
                    (Name::SepXml(mac).spelled(MacCase::Lower), Role::Config),
                    name(Name::XmlDefault, Role::Default),
                ])
                .await?
                .ok_or(BootError::NoConfig)?;
            s.boot.server = s.servers.get(s.current).cloned();
            // Spec §6.2: without a file of its own the phone takes the defaults from
            // XMLDefault.cnf.xml and SEPDefault.cnf (absent is normal).
            if got == Name::XmlDefault.to_string() {
                let (default, role) = name(Name::SepDefault, Role::Extra);
                s.get(&default, role).await?;
            }
            // Its own profile, else the default one.
            s.first_of(&[
                name(Name::Profile(profile, mac), Role::Named),
                name(Name::ProfileDefault(profile), Role::Extra),
            ])
            .await?;
        }
        Family::Legacy => {
            s.first_of(&[
                name(Name::SepCnf(mac), Role::Config),
                name(Name::SepDefault, Role::Default),
            ])
            .await?
            .ok_or(BootError::NoConfig)?;
            s.boot.server = s.servers.get(s.current).cloned();
        }
        Family::SccpGateway => {
            let hex = mac.to_string();
            let id = &hex[2..];
            let (_, config) = s
                .first_of(&[(format!("SKIGW{id}.cnf.xml"), Role::Config)])
                .await?
                .ok_or(BootError::NoConfig)?;
            s.boot.server = s.servers.get(s.current).cloned();
            // The ports' files are the AN<id><port> devices the gateway's file names.
            let text = String::from_utf8_lossy(&config).into_owned();
            for port in analog_ports(&text, id) {
                s.get(&format!("{port}.cnf.xml"), Role::Named).await?;
            }
        }
        Family::MgcpGateway => {
            let domain = s.device.domain.clone().unwrap_or_else(|| "gateway".into());
            s.first_of(&[(format!("{domain}.cnf.xml"), Role::Config)])
                .await?
                .ok_or(BootError::NoConfig)?;
            s.boot.server = s.servers.get(s.current).cloned();
        }
    }
    s.note("boot complete".to_owned());
    Ok(())
}

/// The text of the first `<tag>…</tag>` anywhere in the document, unescaped and trimmed;
/// `None` when it is absent, empty, or the document is not well-formed up to it (a device
/// cannot use a file it cannot parse).
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    let mut text = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if !inside && e.name().as_ref() == tag.as_bytes() => inside = true,
            Event::Text(t) if inside => text.push_str(&t.decode().ok()?),
            Event::GeneralRef(r) if inside => {
                let name = r.decode().ok()?;
                let c = match &*name {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => r.resolve_char_ref().ok()??,
                };
                text.push(c);
            }
            Event::End(_) if inside => {
                let text = text.trim();
                return (!text.is_empty()).then(|| text.to_owned());
            }
            Event::Start(_) if inside => return None, // a container, not a value
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// The analog-port device names (`AN` + the gateway's 10 hex digits + 3 hex digits) a
/// gateway file mentions, in order, each once.
fn analog_ports(text: &str, id: &str) -> Vec<String> {
    let prefix = format!("AN{id}");
    let mut ports: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&prefix) {
        let tail = &rest[at + prefix.len()..];
        let digits: String = tail.chars().take(3).collect();
        if digits.len() == 3 && digits.chars().all(|c| c.is_ascii_hexdigit()) {
            let name = format!("{prefix}{}", digits.to_ascii_uppercase());
            if !ports.contains(&name) {
                ports.push(name);
            }
        }
        rest = &rest[at + prefix.len()..];
    }
    ports
}

/// `key: value` from the 7940/7960 SIP configuration format.
fn key_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let (k, v) = line.split_once(':')?;
        (k.trim() == key)
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests;
