//! A phone's power-up across a real network: two network namespaces joined by a veth pair; a
//! real DHCP server in one (dnsmasq, ISC dhcpd, ISC Kea in turn), configured with exactly the
//! lines `phoneboot dhcp config` prints for it, points at a `phoneboot serve` next to it: option
//! 150 for IPv4 (with an address lease), Cisco's DHCPv6 option 17 for IPv6 (a stateful
//! exchange that leases an address, and a stateless one). The emulator in the other namespace
//! does the real DHCP or DHCPv6 exchange and then boots over HTTP and TFTP, on IPv4 and IPv6.
//!
//! Needs root (network namespaces), dnsmasq, dhcpd, kea-dhcp4 and kea-dhcp6. In CI a machine
//! that cannot create namespaces fails this test, saying so; elsewhere it is skipped with a
//! message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use support::netns::{InNs, Link, in_ns};
use support::{phoneboot, require, section, temp_root};

const BIN: &str = env!("CARGO_BIN_EXE_phoneboot");

/// Which protocol the phones run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ip {
    V4,
    V6,
}

/// A real DHCP server, configured on the server's side of the link with what phoneboot printed.
#[derive(Debug, Clone, Copy)]
enum DhcpServer {
    Dnsmasq,
    IscDhcpd,
    Kea,
}

impl DhcpServer {
    const ALL: [DhcpServer; 3] = [Self::Dnsmasq, Self::IscDhcpd, Self::Kea];

    fn program(self, ip: Ip) -> &'static str {
        match (self, ip) {
            (Self::Dnsmasq, _) => "dnsmasq",
            (Self::IscDhcpd, _) => "dhcpd",
            (Self::Kea, Ip::V4) => "kea-dhcp4",
            (Self::Kea, Ip::V6) => "kea-dhcp6",
        }
    }

    /// Starts it for `ip` in `link`'s server namespace and waits until it serves.
    fn start(self, ip: Ip, link: &Link, dir: &Path, printed: &str) -> InNs {
        let file = |name: &str| dir.join(name).display().to_string();
        let iface = link.server_if.as_str();
        let (args, env, marker): (Vec<String>, Vec<(&str, String)>, &str) = match self {
            Self::Dnsmasq => {
                let (heading, range, marker) = match ip {
                    Ip::V4 => (
                        "## dnsmasq (dnsmasq.conf)",
                        "10.77.0.10,10.77.0.20,255.255.255.0,10m",
                        "DHCP, IP range",
                    ),
                    // Leases for the stateful phones; the stateless ones ask for the rest only.
                    Ip::V6 => (
                        "## dnsmasq (dnsmasq.conf, with a DHCPv6",
                        "2001:db8:77::100,2001:db8:77::1ff,64,10m",
                        "DHCPv6, IP range",
                    ),
                };
                let conf = file("dnsmasq.conf");
                std::fs::write(&conf, section(printed, heading)).unwrap();
                let args = vec![
                    "--keep-in-foreground".into(),
                    format!("--conf-file={conf}"),
                    "--port=0".into(),
                    format!("--interface={iface}"),
                    "--bind-interfaces".into(),
                    format!("--dhcp-range={range}"),
                    format!("--dhcp-leasefile={}", file("dnsmasq.leases")),
                    format!("--pid-file={}", file("dnsmasq.pid")),
                    "--log-facility=-".into(),
                ];
                (args, Vec::new(), marker)
            }
            Self::IscDhcpd => {
                let conf = file("dhcpd.conf");
                let text = match ip {
                    Ip::V4 => {
                        // The option's definition is global; its value goes in the subnet.
                        let lines = section(printed, "## ISC dhcpd (dhcpd.conf)");
                        let (define, value): (Vec<&str>, Vec<&str>) =
                            lines.lines().partition(|l| l.contains(" code "));
                        format!(
                            "{}\nsubnet 10.77.0.0 netmask 255.255.255.0 {{\n  range 10.77.0.10 \
                             10.77.0.20;\n  {}\n}}\n",
                            define.join("\n"),
                            value.join("\n  ")
                        )
                    }
                    Ip::V6 => format!(
                        "{}\nsubnet6 2001:db8:77::/64 {{ range6 2001:db8:77::100 \
                         2001:db8:77::1ff; }}\n",
                        section(printed, "## ISC dhcpd (dhcpd6.conf)")
                    ),
                };
                std::fs::write(&conf, text).unwrap();
                let leases = file("dhcpd.leases");
                std::fs::write(&leases, "").unwrap();
                let family = if ip == Ip::V4 { "-4" } else { "-6" };
                let args = [
                    family,
                    "-f",
                    "-d",
                    "-cf",
                    &conf,
                    "-lf",
                    &leases,
                    "-pf",
                    &file("dhcpd.pid"),
                    iface,
                ]
                .map(str::to_owned)
                .to_vec();
                (args, Vec::new(), "Server starting service")
            }
            Self::Kea => {
                let (space, subnets, marker) = match ip {
                    Ip::V4 => (
                        "Dhcp4",
                        r#""subnet4": [ { "id": 1, "subnet": "10.77.0.0/24", "pools": [ { "pool": "10.77.0.10 - 10.77.0.20" } ] } ]"#
                            .to_owned(),
                        "DHCP4_STARTED",
                    ),
                    Ip::V6 => (
                        "Dhcp6",
                        format!(
                            r#""server-id": {{ "type": "LL", "persist": false }},
  "subnet6": [ {{ "id": 1, "subnet": "2001:db8:77::/64", "interface": "{iface}",
    "pools": [ {{ "pool": "2001:db8:77::100 - 2001:db8:77::1ff" }} ] }} ]"#
                        ),
                        "DHCP6_STARTED",
                    ),
                };
                let heading = match ip {
                    Ip::V4 => "## ISC Kea (kea-dhcp4.conf",
                    Ip::V6 => "## ISC Kea (kea-dhcp6.conf",
                };
                let program = self.program(ip);
                let conf = file("kea.json");
                std::fs::write(
                    &conf,
                    format!(
                        r#"{{ "{space}": {{
  "interfaces-config": {{ "interfaces": ["{iface}"] }},
  "lease-database": {{ "type": "memfile", "persist": false }},
  "loggers": [ {{ "name": "{program}", "severity": "INFO", "output_options": [ {{ "output": "stderr" }} ] }} ],
  {subnets},
{}
}} }}"#,
                        section(printed, heading)
                    ),
                )
                .unwrap();
                let env = vec![
                    ("KEA_LOCKFILE_DIR", "none".to_owned()),
                    ("KEA_PIDFILE_DIR", dir.display().to_string()),
                ];
                (vec!["-c".to_owned(), conf], env, marker)
            }
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut process = in_ns(&link.server_ns, self.program(ip), &args, &env);
        process.wait_for(self.program(ip), marker);
        process
    }
}

#[test]
fn phones_get_their_server_from_each_real_dhcp_server_and_boot_from_it() {
    if !require("ip")
        || [Ip::V4, Ip::V6]
            .iter()
            .flat_map(|ip| DhcpServer::ALL.map(|s| s.program(*ip)))
            .any(|program| !require(program))
    {
        return;
    }
    let Some(link) = Link::for_test('d', "DHCP test") else {
        return;
    };
    let dir = temp_root();
    let db = dir.path().join("cluster.db");
    let (ok, _, err) = phoneboot(&["init", "--example", "--database", db.to_str().unwrap()]);
    assert!(ok, "{err}");
    let root = dir.path().join("tftp");
    std::fs::create_dir(&root).unwrap();

    let mut server = in_ns(
        &link.server_ns,
        BIN,
        &[
            "serve",
            "--database",
            db.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
            "--tftp-listen",
            "10.77.0.1:69,[2001:db8:77::1]:69",
            "--http-listen",
            "10.77.0.1:6970,[2001:db8:77::1]:6970",
            "--admin-listen",
            "off",
        ],
        &[],
    );
    server.wait_for("phoneboot", "HTTP listening on tcp [2001:db8:77::1]:6970");

    // What an operator would paste into each DHCP server.
    let (ok, printed_v4, err) = phoneboot(&["dhcp", "config", "10.77.0.1"]);
    assert!(ok, "{err}");
    let (ok, printed_v6, err) = phoneboot(&["dhcp", "config", "--v6", "2001:db8:77::1"]);
    assert!(ok, "{err}");
    for ip in [Ip::V4, Ip::V6] {
        let (printed, dhcp_flag, from, server_address) = match ip {
            Ip::V4 => (&printed_v4, "--dhcp", "Option150", "10.77.0.1"),
            Ip::V6 => (&printed_v6, "--dhcp6", "V6Addresses", "2001:db8:77::1"),
        };
        for dhcp in DhcpServer::ALL {
            let dhcp_dir = temp_root();
            let _running = dhcp.start(ip, &link, dhcp_dir.path(), printed);
            // An 8841 asks HTTP first; a 7965 boots over TFTP. On IPv6 the 8841 leases its
            // address over DHCPv6 (stateful), the 7965 asks for configuration only.
            for (mac, model, transport, lease) in [
                ("001122334401", "8841", "HTTP", true),
                ("0011223344EE", "7965", "TFTP", false),
            ] {
                let lease = lease && ip == Ip::V6;
                let out = Command::new("ip")
                    .args(["netns", "exec", &link.phone_ns, BIN, "emulate"])
                    .args([dhcp_flag, &link.phone_if])
                    .args(lease.then_some("--dhcp6-lease"))
                    .args([
                        "--mac",
                        mac,
                        "--model",
                        model,
                        "--timeout-ms",
                        "500",
                        "--retries",
                        "2",
                        // Provisioned means it has every file its configuration names: a
                        // phone running that load needs no image from this server.
                        "--running-load",
                        "configured",
                    ])
                    .env_remove("RUST_LOG")
                    .output()
                    .unwrap();
                let trace = String::from_utf8_lossy(&out.stdout);
                let err = String::from_utf8_lossy(&out.stderr);
                let context = format!("{dhcp:?} {ip:?}, {model}: {trace}\n{err}");
                if transport == "HTTP" {
                    assert!(out.status.success(), "{context}");
                } else {
                    // Not in the database: it boots, and the emulator says it is not
                    // provisioned.
                    assert!(
                        !out.status.success() && err.contains("runs on the default configuration"),
                        "{context}"
                    );
                }
                match ip {
                    Ip::V4 => assert!(
                        trace.contains("DHCP: leased 10.77.0.1")
                            && trace.contains("from 10.77.0.1"),
                        "{context}"
                    ),
                    Ip::V6 if lease => assert!(
                        trace.contains("DHCPv6: leased 2001:db8:77::1")
                            && trace.contains("from fe80::"),
                        "{context}"
                    ),
                    Ip::V6 => assert!(
                        trace.contains("DHCPv6: configuration from fe80::"),
                        "{context}"
                    ),
                }
                assert!(
                    trace.contains(&format!("the servers come from {from}")),
                    "{context}"
                );
                assert!(trace.contains("boot complete"), "{context}");
                let got = |file: &str| format!("{file} from {server_address}: got");
                if transport == "HTTP" {
                    assert!(trace.contains("asks HTTP on port 6970 first"), "{context}");
                    assert!(trace.contains(&got("SEP001122334401.cnf.xml")), "{context}");
                } else {
                    // Not in the database: the default file, over TFTP.
                    assert!(trace.contains(&got("XMLDefault.cnf.xml")), "{context}");
                }
            }
        }
    }
}
