//! `phoneboot emulate`: one device finds its TFTP servers from DHCP inputs and boots over TFTP,
//! printing each decision and each file with its outcome and time.

use std::net::{Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use phoneboot_emu::boot::{self, Device, Family, Provision, RunningLoad};
use phoneboot_emu::dhcp::{self, Chosen, DhcpError, Local, Offer, Target};
use phoneboot_emu::dhcp6_client;
use phoneboot_emu::net::{HttpFetcher, HttpFirst, TftpFetcher};
use phoneboot_model::{Catalogue, FileScheme, Mac, ModelInfo, Protocol};

use crate::client::TransferArgs;

/// Which kind of gateway `--gateway` emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GatewayKind {
    Sccp,
    Mgcp,
}

/// Whether a device asks HTTP (6970) before TFTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HttpMode {
    /// As the model does (the catalogue's `http`: 78xx, 88xx).
    Auto,
    Always,
    Never,
}

/// How emulated devices fetch and how patient they are (shared by `emulate` and `storm`).
#[derive(Debug, Clone, Args)]
pub(crate) struct Behaviour {
    /// Ask HTTP before TFTP: auto (as the model does: 78xx/88xx yes), always or never.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) http: HttpMode,
    /// The HTTP port of the servers.
    #[arg(long, default_value_t = 6970)]
    pub(crate) http_port: u16,
    /// Wait after a busy answer before asking the same server again (what a phone does).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub(crate) busy_wait_ms: u64,
    /// Busy answers a device takes for one file before it gives up its boot.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub(crate) busy_retries: u32,
    /// The load the device runs now: a configuration naming another one makes it fetch that;
    /// "configured" runs whatever its configuration names (a phone back after a power cut).
    /// [default: none, so it fetches the load its configuration names]
    #[arg(long, value_name = "LOAD|configured")]
    pub(crate) running_load: Option<String>,
    /// A phone with Security by Default: it takes the first trust list it is given (or the
    /// one of --itl), asks for NAME.sgn before NAME and refuses a file not signed by the TFTP
    /// certificate its list trusts.
    #[arg(long)]
    pub(crate) secure: bool,
    /// The trust list the phone holds already (an ITLFile.tlv): a list or file signed by
    /// anyone else is refused. Implies --secure.
    #[arg(long, value_name = "FILE")]
    pub(crate) itl: Option<std::path::PathBuf>,
    /// An encrypted security profile: the phone's own certificate and key (PEM; one file may
    /// hold both). It boots only from its SEP<MAC>.cnf.xml.enc.sgn. Implies --secure.
    #[arg(long, value_name = "FILE", requires = "phone_key")]
    pub(crate) phone_cert: Option<std::path::PathBuf>,
    #[arg(long, value_name = "FILE", requires = "phone_cert")]
    pub(crate) phone_key: Option<std::path::PathBuf>,
}

impl Behaviour {
    /// What a secure phone holds, read from the files named (none for a phone that ignores
    /// security).
    pub(crate) fn security(&self) -> anyhow::Result<Option<phoneboot_emu::boot::Security>> {
        use anyhow::Context as _;
        let secure = self.secure || self.itl.is_some() || self.phone_cert.is_some();
        if !secure {
            return Ok(None);
        }
        let itl = match &self.itl {
            Some(path) => {
                let bytes =
                    std::fs::read(path).with_context(|| format!("--itl {}", path.display()))?;
                Some(
                    phoneboot_secure::TrustList::parse(&bytes)
                        .map_err(|e| anyhow::anyhow!("--itl {}: {e}", path.display()))?,
                )
            }
            None => None,
        };
        let encrypted = match (&self.phone_cert, &self.phone_key) {
            (Some(cert), Some(key)) => {
                let read = |p: &std::path::Path| {
                    std::fs::read_to_string(p).with_context(|| p.display().to_string())
                };
                Some(
                    phoneboot_secure::Identity::from_pem(&read(key)?, &read(cert)?)
                        .map_err(|e| anyhow::anyhow!("--phone-cert/--phone-key: {e}"))?,
                )
            }
            _ => None,
        };
        Ok(Some(phoneboot_emu::boot::Security { itl, encrypted }))
    }

    pub(crate) fn apply(&self, device: &mut Device) {
        device.busy_wait = Duration::from_millis(self.busy_wait_ms);
        device.busy_retries = self.busy_retries;
        device.running_load = match self.running_load.as_deref() {
            None => RunningLoad::Unknown,
            Some(l) if l.eq_ignore_ascii_case("configured") => RunningLoad::AsConfigured,
            Some(l) => RunningLoad::Named(l.to_owned()),
        };
    }
}

/// True when a device of `model` asks HTTP first under `mode`.
impl HttpMode {
    /// Whether a device asks HTTP first, given what its model does.
    pub(crate) fn http_first(self, model_does: bool) -> bool {
        match self {
            HttpMode::Always => true,
            HttpMode::Never => false,
            HttpMode::Auto => model_does,
        }
    }
}

/// How a device boots, as its model has it (seed Table 11-3, spec §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BootPlan {
    pub(crate) family: Family,
    /// The device name its configuration file is named by when it is not `SEP<MAC>` (IP
    /// Communicator and Jabber for Tablet ask for `<device name>.cnf.xml`).
    pub(crate) device_name: Option<String>,
    /// The model asks HTTP 6970 before TFTP.
    pub(crate) http: bool,
}

/// The built-in model catalogue, extended by the operator's file when one is given.
pub(crate) fn catalogue(models: Option<&Path>) -> anyhow::Result<Arc<Catalogue>> {
    Ok(phoneboot_server::db::catalogue(models)?)
}

/// A model by the one rule every command uses (its name, or Cisco's `CP-` product code), or
/// the refusal `device add` gives too.
pub(crate) fn model<'c>(catalogue: &'c Catalogue, name: &str) -> anyhow::Result<&'c ModelInfo> {
    catalogue.get(name).ok_or_else(|| {
        anyhow::anyhow!(
            "model {name:?} is not in the model catalogue (`phoneboot models` lists it; \
             --models FILE adds models)"
        )
    })
}

/// How a device named `name` of model `info` boots with SIP or SCCP firmware. `None` when
/// the model asks for no configuration file of its own.
pub(crate) fn boot_plan(info: &ModelInfo, sip: bool, name: &str) -> Option<BootPlan> {
    let protocol = if sip {
        Protocol::Sip
    } else if info.protocols.contains(&Protocol::Sccp) {
        Protocol::Sccp
    } else {
        *info.protocols.first()?
    };
    let (family, device_name) = match info.scheme(protocol) {
        FileScheme::None => return None,
        FileScheme::Legacy => (Family::Legacy, None),
        _ if !info.xml => (Family::Legacy, None),
        FileScheme::SipCnf => (Family::Sip79x0, None),
        FileScheme::DeviceName | FileScheme::Tablet => (Family::Xml, Some(name.to_owned())),
        FileScheme::Sep => match info.profile {
            Some(profile) => (Family::Small { profile }, None),
            None => (Family::Xml, None),
        },
    };
    Some(BootPlan {
        family,
        device_name,
        http: info.http,
    })
}

#[derive(Debug, Args)]
pub(crate) struct EmulateArgs {
    /// The device's MAC address (0011.2233.4455, 00:11:22:33:44:55, 001122334455, SEP…).
    #[arg(long)]
    mac: Mac,
    /// Model, e.g. 7965, CP-8845, 7960, 7912, 7935, IPCommunicator (`phoneboot models` lists
    /// them); it decides which files the device asks for and whether HTTP comes first.
    #[arg(long, default_value = "7965")]
    model: String,
    /// A model catalogue file that extends the built-in one (as `serve --models` takes it), for
    /// a model the built-in catalogue lacks.
    #[arg(long, env = "PHONEBOOT_MODELS", value_name = "FILE")]
    models: Option<PathBuf>,
    /// The device's name, for models whose file is named by it (IP Communicator: any name;
    /// Jabber for Tablet: TAB<USER>). [default: SEP<MAC>]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Emulate a voice gateway instead of a phone: an IOS gateway under SCCP control
    /// (SKIGW<MAC>.cnf.xml, then its analog ports' AN… files) or an MGCP gateway
    /// (<domain>.cnf.xml). Gateways choose their server by the gateway rules (CiscoCM1 first).
    #[arg(long, value_enum)]
    gateway: Option<GatewayKind>,
    /// An MGCP gateway's domain name, which names its configuration file. [default: gateway]
    #[arg(long, value_name = "NAME", requires = "gateway")]
    domain: Option<String>,
    /// What the DNS name CiscoCM1 resolves to, for a gateway. [default: ask DNS]
    #[arg(long, value_name = "IP", requires = "gateway")]
    cisco_cm1: Option<std::net::IpAddr>,
    /// The device runs SIP firmware (a 7940/7960 then boots from SIPDefault.cnf).
    #[arg(long)]
    sip: bool,
    /// TFTP server set on the device itself ("Alternate TFTP"); repeat for server 2.
    #[arg(long = "alternate-tftp", value_name = "HOST")]
    alternate: Vec<String>,
    /// DHCP option 150: TFTP server addresses, comma-separated.
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    option150: Vec<Ipv4Addr>,
    /// DHCP option 66: TFTP server name or dotted address.
    #[arg(long, value_name = "NAME")]
    option66: Option<String>,
    /// The DHCP reply's siaddr (next server).
    #[arg(long, value_name = "IPV4")]
    siaddr: Option<Ipv4Addr>,
    /// The DHCP reply's sname (server host name).
    #[arg(long, value_name = "NAME")]
    sname: Option<String>,
    /// A captured DHCP reply (raw BOOTP/DHCP payload) to take all of the above from.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["option150", "option66", "siaddr", "sname"])]
    dhcp_reply: Option<PathBuf>,
    /// Do a real DHCP exchange (DISCOVER, OFFER, REQUEST, ACK) on this network interface, as
    /// the device does at power-up, and take the TFTP servers from the ACK. Needs root.
    #[arg(long, value_name = "INTERFACE", conflicts_with_all = ["option150", "option66", "siaddr", "sname", "dhcp_reply"])]
    dhcp: Option<String>,
    /// The phone runs IPv6: its DHCPv6 reply carried this option 17 value (hex, as `phoneboot
    /// dhcp config --v6` prints it): Cisco's sub-option 1 (TFTP server addresses, the first two
    /// count) wins over sub-option 2 (a name); an alternate TFTP server set on the phone wins
    /// over both.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["option150", "option66", "siaddr", "sname", "dhcp_reply", "dhcp", "gateway"])]
    option17: Option<String>,
    /// The phone runs IPv6: ask the DHCPv6 servers on this interface for configuration
    /// (stateless INFORMATION-REQUEST, with Cisco's vendor class) and take option 17 from the
    /// REPLY. Needs root.
    #[arg(long, value_name = "INTERFACE", conflicts_with_all = ["option150", "option66", "siaddr", "sname", "dhcp_reply", "dhcp", "gateway", "option17"])]
    dhcp6: Option<String>,
    /// The phone runs IPv6: take option 17 from this captured DHCPv6 REPLY or ADVERTISE (the
    /// UDP payload, as a packet capture saves it).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["option150", "option66", "siaddr", "sname", "dhcp_reply", "dhcp", "gateway", "option17", "dhcp6"])]
    dhcp6_reply: Option<PathBuf>,
    /// With --dhcp6: lease the address over DHCPv6 too (SOLICIT, ADVERTISE, REQUEST, REPLY),
    /// as a phone does on a network whose router advertisements say "managed".
    #[arg(long, requires = "dhcp6")]
    dhcp6_lease: bool,
    /// How long to wait for each DHCP reply (OFFER, ACK; a DHCPv6 REPLY); the request is sent
    /// again after 4 s, 8 s, 16 s ... as RFC 2131 has it (DHCPv6: 1 s, 2 s, 4 s ...).
    #[arg(long, value_name = "MS", default_value_t = 15000)]
    dhcp_timeout_ms: u64,
    /// The TFTP port of the servers (69 on real networks).
    #[arg(long, default_value_t = 69)]
    port: u16,
    #[command(flatten)]
    behaviour: Behaviour,
    #[command(flatten)]
    transfer: TransferArgs,
}

pub(crate) async fn run(args: EmulateArgs) -> anyhow::Result<()> {
    let mac = args.mac.to_string();
    // What the device will ask for, decided (and a wrong model refused) before any exchange.
    let gateway = |family| BootPlan {
        family,
        device_name: None,
        http: false,
    };
    let plan = match args.gateway {
        None => {
            let name = args.name.clone().unwrap_or_else(|| format!("SEP{mac}"));
            let catalogue = catalogue(args.models.as_deref())?;
            let info = model(&catalogue, &args.model)?;
            boot_plan(info, args.sip, &name).with_context(|| {
                format!(
                    "a {} asks for no configuration file of its own (--gateway emulates a \
                     gateway)",
                    args.model
                )
            })?
        }
        Some(GatewayKind::Sccp) => gateway(Family::SccpGateway),
        Some(GatewayKind::Mgcp) => gateway(Family::MgcpGateway),
    };
    let local = Local {
        servers: args.alternate.iter().map(|s| target(s)).collect(),
    };
    let (chosen, problems) = match (&args.option17, &args.dhcp6, &args.dhcp6_reply) {
        (Some(hex), _, _) => {
            let value = crate::dhcp::parse_hex(hex).context("--option17")?;
            dhcp::phone_servers_v6(&local, Some(&value))
        }
        (None, None, Some(path)) => {
            let message =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let value = dhcp6_client::vendor_opts_of(&message)
                .with_context(|| format!("{} is not a usable DHCPv6 reply", path.display()))?;
            dhcp::phone_servers_v6(&local, value.as_deref())
        }
        (None, Some(interface), _) => {
            let mode = if args.dhcp6_lease {
                dhcp6_client::Mode::Stateful
            } else {
                dhcp6_client::Mode::Stateless
            };
            let reply = dhcp6_client::exchange(
                interface,
                args.mac.octets(),
                &args.model,
                mode,
                Duration::from_millis(args.dhcp_timeout_ms),
            )
            .await
            .with_context(|| format!("DHCPv6 on {interface}"))?;
            outln!(
                "        DHCPv6: {} from {}{}",
                reply
                    .address
                    .map_or_else(|| "configuration".to_owned(), |a| format!("leased {a}")),
                reply.server,
                if reply.vendor_opts.is_some() {
                    ""
                } else {
                    " (no Cisco vendor option in it)"
                }
            );
            dhcp::phone_servers_v6(&local, reply.vendor_opts.as_deref())
        }
        (None, None, None) => servers_v4(&args, &local).await?,
    };
    for problem in problems {
        outln!("        DHCP: ignored a malformed option: {problem}");
    }
    let servers = match chosen {
        Some((from, servers)) => {
            outln!("        DHCP: the servers come from {from:?}");
            servers
        }
        None => {
            outln!("        DHCP: no TFTP server named (the remembered one would be used)");
            Vec::new()
        }
    };
    let mut device = Device::new(args.mac, plan.family);
    device.device_name = plan.device_name;
    device.domain.clone_from(&args.domain);
    args.behaviour.apply(&mut device);
    device.security = args.behaviour.security()?;
    let tftp = TftpFetcher::new(args.port, args.transfer.config());
    let http_first = args.behaviour.http.http_first(plan.http);
    let result = if http_first {
        outln!(
            "        asks HTTP on port {} first, then TFTP",
            args.behaviour.http_port
        );
        let http = HttpFetcher::new(args.behaviour.http_port, tftp.config.timeout)
            .map_err(|e| anyhow::anyhow!("HTTP client: {e}"))?;
        boot::boot(&mut device, servers, &HttpFirst { http, tftp }).await
    } else {
        boot::boot(&mut device, servers, &tftp).await
    };
    for (at, line) in &result.trace {
        outln!("{:>7.3}s {line}", at.as_secs_f64());
    }
    match (result.result.as_ref(), result.provision()) {
        (Some(Ok(())), Some(Provision::Configured)) => Ok(()),
        (Some(Ok(())), Some(other)) => bail!("the device booted, but is {other}"),
        (Some(Err(e)), _) => bail!("boot failed: {e}"),
        _ => bail!("boot did not run"),
    }
}

/// An IPv4 device's servers: from a real DHCP exchange, a captured reply, or the flags.
async fn servers_v4(
    args: &EmulateArgs,
    local: &Local,
) -> anyhow::Result<(Option<(Chosen, Vec<Target>)>, Vec<DhcpError>)> {
    let offer = match (&args.dhcp, &args.dhcp_reply) {
        (Some(interface), _) => {
            let ack = phoneboot_emu::dhcp_client::exchange(
                interface,
                args.mac.octets(),
                Duration::from_millis(args.dhcp_timeout_ms),
            )
            .await
            .with_context(|| format!("DHCP on {interface}"))?;
            outln!(
                "        DHCP: leased {} from {}",
                ack.yiaddr.map_or_else(|| "?".into(), |a| a.to_string()),
                ack.server_id.map_or_else(|| "?".into(), |a| a.to_string())
            );
            ack
        }
        (None, Some(path)) => {
            let packet =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Offer::parse(&packet)
                .with_context(|| format!("{} is not a usable DHCP reply", path.display()))?
        }
        (None, None) => Offer {
            siaddr: args.siaddr,
            sname: args.sname.clone(),
            option150: (!args.option150.is_empty())
                .then(|| args.option150.iter().flat_map(|a| a.octets()).collect()),
            option66: args.option66.as_ref().map(|n| n.as_bytes().to_vec()),
            order: [
                (!args.option150.is_empty()).then_some(dhcp::OPTION_TFTP_SERVERS),
                args.option66.as_ref().map(|_| dhcp::OPTION_TFTP_NAME),
            ]
            .into_iter()
            .flatten()
            .collect(),
            ..Offer::default()
        },
    };
    Ok(match args.gateway {
        None => dhcp::phone_servers(local, &offer),
        Some(_) => {
            // A gateway asks DNS for CiscoCM1 before it looks at DHCP (the seed's order).
            let cisco_cm1 = args.cisco_cm1.or_else(|| {
                ("CiscoCM1", 69)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .map(|a| a.ip())
            });
            dhcp::gateway_servers(local, cisco_cm1, &offer)
        }
    })
}

pub(crate) fn target(text: &str) -> Target {
    match text.parse() {
        Ok(ip) => Target::Addr(ip),
        Err(_) => Target::Name(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phoneboot_model::Profile;

    fn plan(model: &str, sip: bool, name: &str) -> Option<BootPlan> {
        boot_plan(Catalogue::builtin().get(model)?, sip, name)
    }

    #[test]
    fn each_model_boots_as_the_catalogue_says() {
        let xml = |device_name: Option<&str>, http| BootPlan {
            family: Family::Xml,
            device_name: device_name.map(str::to_owned),
            http,
        };
        let other = |family| BootPlan {
            family,
            device_name: None,
            http: false,
        };
        for (model, sip, name, want) in [
            ("7965", false, "SEP001122334455", xml(None, false)),
            ("CP-8845", true, "SEP001122334455", xml(None, true)),
            ("7960", true, "SEP001122334455", other(Family::Sip79x0)),
            ("7960", false, "SEP001122334455", xml(None, false)),
            (
                "7912",
                false,
                "SEP001122334455",
                other(Family::Small {
                    profile: Profile::Gk,
                }),
            ),
            (
                "7902",
                false,
                "SEP001122334455",
                other(Family::Small {
                    profile: Profile::Ff,
                }),
            ),
            ("7935", false, "SEP001122334455", other(Family::Legacy)),
            (
                "IPCommunicator",
                false,
                "BOBSOFTPHONE",
                xml(Some("BOBSOFTPHONE"), false),
            ),
            (
                "JabberTablet",
                false,
                "TABALICE",
                xml(Some("TABALICE"), false),
            ),
            // Cisco's product code names the model.
            ("CP-7960G", true, "SEP001122334455", other(Family::Sip79x0)),
        ] {
            assert_eq!(plan(model, sip, name), Some(want), "{model} sip={sip}");
        }
    }

    #[test]
    fn a_model_without_a_configuration_file_has_no_plan() {
        assert_eq!(plan("VG224", false, "AN0011223344550"), None);
    }

    #[test]
    fn http_mode_overrides_the_model_only_when_told_to() {
        assert!(HttpMode::Auto.http_first(true));
        assert!(!HttpMode::Auto.http_first(false));
        assert!(HttpMode::Always.http_first(false));
        assert!(!HttpMode::Never.http_first(true));
    }
}
