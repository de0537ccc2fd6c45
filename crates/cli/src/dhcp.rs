//! `phoneboot dhcp`: DHCP configuration for finding phoneboot, and a decoder of the options.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use phoneboot_emu::dhcp::{self, Target};

/// `phoneboot dhcp SERVERS...` is `phoneboot dhcp config SERVERS...`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct DhcpArgs {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// TFTP servers for IPv4 phones, in order (addresses go into option 150; a host name can
    /// only go into option 66).
    #[arg(required_unless_present_any = ["v6", "v6_name"])]
    servers: Vec<String>,
    /// TFTP server addresses for IPv6 phones (DHCPv6 option 17, Cisco sub-option 1).
    #[arg(long, value_name = "IPV6")]
    v6: Vec<Ipv6Addr>,
    /// TFTP server name for IPv6 phones (Cisco sub-option 2).
    #[arg(long, value_name = "NAME")]
    v6_name: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Print ready-to-paste configuration for ISC dhcpd, ISC Kea, dnsmasq and Cisco IOS (the
    /// default: `phoneboot dhcp 10.0.0.5` is `phoneboot dhcp config 10.0.0.5`).
    Config(ConfigArgs),
    /// Explain an option 150, 66 or 17 given in hex (`0a000005`, `0a:00:00:05`, `0x0a000005`):
    /// a whole option as a capture shows it (code, length, value: `96080a0000050a000006`; for
    /// DHCPv6 `0011…` with 2-byte code and length), a bare value (read as the option it can
    /// be, and said which), or the option's number first and then its value (`150 0a000005`).
    Decode {
        /// [OPTION] HEX...
        #[arg(required = true, value_name = "[OPTION] HEX")]
        words: Vec<String>,
    },
}

pub(crate) fn run(args: DhcpArgs) -> anyhow::Result<()> {
    match args.action.unwrap_or(Action::Config(args.config)) {
        Action::Config(ConfigArgs {
            servers,
            v6,
            v6_name,
        }) => {
            out!("{}", config(&servers, &v6, v6_name.as_deref())?);
            Ok(())
        }
        Action::Decode { words } => {
            outln!("{}", decode_words(&words)?);
            Ok(())
        }
    }
}

/// The configuration text for the given servers.
fn config(servers: &[String], v6: &[Ipv6Addr], v6_name: Option<&str>) -> anyhow::Result<String> {
    let mut out = String::new();
    let (addrs, names): (Vec<_>, Vec<_>) = servers
        .iter()
        .map(|s| s.parse::<Ipv4Addr>().map_err(|_| s.clone()))
        .partition(Result::is_ok);
    let addrs: Vec<Ipv4Addr> = addrs.into_iter().flatten().collect();
    let names: Vec<String> = names.into_iter().filter_map(Result::err).collect();
    if !names.is_empty() && !addrs.is_empty() {
        bail!(
            "give either addresses (option 150) or one host name (option 66), not both: Cisco \
             advises against sending 66 and 150 together"
        );
    }
    if names.len() > 1 {
        bail!("option 66 carries one name; give one, or the servers' addresses for option 150");
    }
    if let Some(name) = names.first() {
        // 999.1.1.1 is a mistyped address, not a host name a phone could resolve.
        if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            bail!("{name:?} is not an IPv4 address: four numbers from 0 to 255, such as 10.0.0.5");
        }
        if dhcp::decode_option66(name.as_bytes()).is_err()
            || phoneboot_model::value::host("server", name, 253).is_err()
        {
            bail!("{name:?} is neither an IPv4 address nor a host name");
        }
        let _ = writeln!(
            out,
            "# Option 66 (TFTP server name). Cisco prefers option 150 with addresses; a name\n\
             # works if the phones can resolve it. Do not also send option 150.\n"
        );
        let _ = writeln!(
            out,
            "## ISC dhcpd (dhcpd.conf, in the subnet or pool)\noption tftp-server-name \"{name}\";\n"
        );
        let _ = writeln!(
            out,
            "## ISC Kea (kea-dhcp4.conf, \"option-data\")\n{{ \"name\": \"tftp-server-name\", \"data\": \"{name}\" }}\n"
        );
        let _ = writeln!(
            out,
            "## dnsmasq (dnsmasq.conf)\ndhcp-option=66,\"{name}\"\n"
        );
        let _ = writeln!(
            out,
            "## Cisco IOS (ip dhcp pool)\n option 66 ascii {name}\n"
        );
    }
    if !addrs.is_empty() {
        let _ = writeln!(
            out,
            "# Option 150 (TFTP server addresses, RFC 5859): what Cisco phones prefer.\n\
             # Phones use the first two addresses only. Do not also send option 66."
        );
        if addrs.len() > 2 {
            let _ = writeln!(
                out,
                "# WARNING: {} addresses given; phones ignore all but the first two.",
                addrs.len()
            );
        }
        let list = |sep: &str| {
            addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(sep)
        };
        let _ = writeln!(
            out,
            "\n## ISC dhcpd (dhcpd.conf)\noption tftp-servers code 150 = array of ip-address;\n\
             # in the subnet or pool:\noption tftp-servers {};\n",
            list(", ")
        );
        let _ = writeln!(
            out,
            "## ISC Kea (kea-dhcp4.conf, inside \"Dhcp4\")\n\"option-def\": [ {{ \"name\": \"tftp-servers\", \"code\": 150, \"space\": \"dhcp4\", \"type\": \"ipv4-address\", \"array\": true }} ],\n\
             \"option-data\": [ {{ \"name\": \"tftp-servers\", \"data\": \"{}\" }} ]\n",
            list(", ")
        );
        let _ = writeln!(
            out,
            "## dnsmasq (dnsmasq.conf)\ndhcp-option=150,{}\n",
            list(",")
        );
        let _ = writeln!(
            out,
            "## Cisco IOS (ip dhcp pool)\n option 150 ip {}\n",
            list(" ")
        );
    }
    if !v6.is_empty() || v6_name.is_some() {
        if let Some(name) = v6_name
            && dhcp::decode_option66(name.as_bytes()).is_err()
        {
            bail!("--v6-name {name:?} is not a host name");
        }
        let value = dhcp::encode_option17(v6, v6_name);
        let _ = writeln!(
            out,
            "# DHCPv6: option 17 (vendor-specific information), enterprise 9 (Cisco);\n\
             # sub-option 1 = TFTP server addresses, sub-option 2 = TFTP server name.\n\
             # Raw option 17 value (hex), for any server that takes one: {}\n",
            hex(&value)
        );
        let addrs6 = v6
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            out,
            "## ISC dhcpd (dhcpd6.conf)\noption space cisco code width 2 length width 2;\n\
             option cisco.tftp-servers code 1 = array of ip6-address;\n\
             option cisco.tftp-service code 2 = text;\n\
             option vsio.cisco code 9 = encapsulate cisco;\n"
        );
        if !v6.is_empty() {
            let _ = writeln!(out, "option cisco.tftp-servers {addrs6};");
        }
        if let Some(name) = v6_name {
            let _ = writeln!(out, "option cisco.tftp-service \"{name}\";");
        }
        let mut defs = Vec::new();
        // Kea sends a vendor's sub-options only when the client lists them in an option
        // request inside its own option 17, or with always-send; phones are not known to do
        // the first (tested against Kea 2.2: without always-send the sub-options are absent).
        let mut data = vec!["{ \"name\": \"vendor-opts\", \"data\": \"9\" }".to_owned()];
        if !v6.is_empty() {
            defs.push("{ \"name\": \"tftp-servers\", \"code\": 1, \"space\": \"vendor-9\", \"type\": \"ipv6-address\", \"array\": true }");
            data.push(format!(
                "{{ \"name\": \"tftp-servers\", \"space\": \"vendor-9\", \"data\": \"{addrs6}\", \"always-send\": true }}"
            ));
        }
        if let Some(name) = v6_name {
            defs.push("{ \"name\": \"tftp-service\", \"code\": 2, \"space\": \"vendor-9\", \"type\": \"string\" }");
            data.push(format!(
                "{{ \"name\": \"tftp-service\", \"space\": \"vendor-9\", \"data\": \"{name}\", \"always-send\": true }}"
            ));
        }
        let _ = writeln!(
            out,
            "\n## ISC Kea (kea-dhcp6.conf, inside \"Dhcp6\")\n\"option-def\": [ {} ],\n\"option-data\": [ {} ]\n",
            defs.join(", "),
            data.join(", ")
        );
        let colon_hex = value
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let _ = writeln!(
            out,
            "## dnsmasq (dnsmasq.conf, with a DHCPv6 dhcp-range)\ndhcp-option=option6:17,{colon_hex}\n"
        );
        let mut ios = String::from("## Cisco IOS (ipv6 dhcp pool)\n vendor-specific 9\n");
        for a in v6 {
            let _ = writeln!(ios, "  suboption 1 address {a}");
        }
        if let Some(name) = v6_name {
            let _ = writeln!(ios, "  suboption 2 ascii {name}");
        }
        out.push_str(&ios);
    }
    Ok(out)
}

/// `decode`'s words: an option number and its value, or hex that is a whole option or a
/// bare value.
fn decode_words(words: &[String]) -> anyhow::Result<String> {
    if let [first, rest @ ..] = words
        && !rest.is_empty()
        && first.len() <= 5
        && first.chars().all(|c| c.is_ascii_digit())
    {
        let option: u16 = first.parse()?;
        if !matches!(option, 150 | 66 | 17) {
            bail!(
                "option {option} is not one that names TFTP servers; use 150, 66 or 17 (a whole \
                 option in hex is one word: {})",
                words.concat()
            );
        }
        return decode(option, &parse_hex(&rest.concat())?);
    }
    let bytes = parse_hex(&words.concat())?;
    let (option, value, how) = read_option(&bytes)?;
    Ok(format!("{}\n  ({how})", decode(option, value)?))
}

/// Which option `bytes` are, and its value: a whole DHCPv4 option 150/66 (code, length), a
/// whole DHCPv6 option 17 (2-byte code and length), or else a bare value of the one option it
/// can be. The third part says how it was read.
fn read_option(bytes: &[u8]) -> anyhow::Result<(u16, &[u8], &'static str)> {
    const WHOLE: &str = "read as a whole option: code, length, value";
    // What a whole option's header would say, for the error when nothing fits.
    let mut header = None;
    match bytes {
        [code @ (150 | 66), len, value @ ..] => {
            if usize::from(*len) == value.len() {
                return Ok((u16::from(*code), value, WHOLE));
            }
            header = Some(format!(
                "as a whole option {code} its length byte says {len} bytes follow and {} do",
                value.len()
            ));
        }
        [0, 17, l1, l2, value @ ..] => {
            let len = usize::from(u16::from_be_bytes([*l1, *l2]));
            if len == value.len() {
                return Ok((17, value, WHOLE));
            }
            // No bare value begins so (0.17.x.x is no server address): say what is wrong.
            bail!(
                "this reads as a whole DHCPv6 option 17 (its first two bytes), but its length \
                 says {len} bytes follow and {} do",
                value.len()
            );
        }
        _ => {}
    }
    // A bare value (150.x.y.z and "Bob.example" begin like whole options 150 and 66).
    match bytes {
        [0, 0, 0, 9, ..] => Ok((
            17,
            bytes,
            "read as a bare option 17 value: enterprise 9 first",
        )),
        _ if bytes.iter().all(|b| b.is_ascii_graphic() || *b == 0) => {
            Ok((66, bytes, "read as a bare option 66 value: text"))
        }
        _ if bytes.len().is_multiple_of(4) => Ok((
            150,
            bytes,
            "read as a bare option 150 value: whole IPv4 addresses",
        )),
        _ => bail!(
            "{} bytes that are no option 150, 66 or 17: {}; as a bare value they are not text, \
             not whole IPv4 addresses and carry no Cisco enterprise number. Name the option \
             first if you know it: phoneboot dhcp decode 150 HEX",
            bytes.len(),
            header.unwrap_or_else(|| "no whole option begins so".to_owned())
        ),
    }
}

/// A person-readable account of an option value.
fn decode(option: u16, value: &[u8]) -> anyhow::Result<String> {
    Ok(match option {
        150 => {
            let addrs = dhcp::decode_option150(value)?;
            let list = addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let mut text = format!(
                "option 150: {} TFTP server address(es): {list}",
                addrs.len()
            );
            if addrs.len() > 2 {
                text.push_str("\n  phones use only the first two");
            }
            text
        }
        66 => match dhcp::decode_option66(value)? {
            Target::Addr(a) => format!("option 66: TFTP server at the dotted address {a}"),
            Target::Name(n) => {
                format!("option 66: TFTP server by host name {n} (resolved with DNS)")
            }
        },
        17 => {
            let v6 = dhcp::decode_option17(value)?;
            let mut text = "option 17 (DHCPv6 vendor options), Cisco (enterprise 9):".to_owned();
            if !v6.addresses.is_empty() {
                let list = v6
                    .addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = write!(text, "\n  sub-option 1, TFTP server addresses: {list}");
            }
            match v6.name {
                Some(Target::Name(n)) => {
                    let _ = write!(text, "\n  sub-option 2, TFTP server name: {n}");
                }
                Some(Target::Addr(IpAddr::V6(a))) => {
                    let _ = write!(text, "\n  sub-option 2, TFTP server: {a}");
                }
                Some(Target::Addr(a)) => {
                    let _ = write!(text, "\n  sub-option 2: {a}");
                }
                None => {}
            }
            if v6.addresses.is_empty() && text.ends_with(':') {
                text.push_str("\n  no TFTP sub-option (1 or 2)");
            }
            text
        }
        other => bail!("option {other} is not one that names TFTP servers; use 150, 66 or 17"),
    })
}

pub(crate) fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let digits: String = text
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-' | '.'))
        .collect();
    if digits.is_empty() {
        bail!("no value given");
    }
    if !digits.len().is_multiple_of(2) {
        bail!(
            "{} hex digits: an odd number cannot make whole bytes",
            digits.len()
        );
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .with_context(|| format!("{:?} is not a hex byte", &digits[i..i + 2]))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
