//! A phone's power-up across a real network: two network namespaces joined by a veth pair; a
//! real DHCP server in one (dnsmasq, ISC dhcpd, ISC Kea in turn), configured with exactly the
//! lines `phoneboot dhcp config` prints for it, hands out an address with option 150 pointing at
//! a `phoneboot serve` next to it; the emulator in the other does a real DHCP exchange and then
//! boots over HTTP and TFTP.
//!
//! Needs root (network namespaces), dnsmasq, dhcpd and kea-dhcp4. In CI a machine that cannot
//! create namespaces fails this test, saying so; elsewhere it is skipped with a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::{phoneboot, require, temp_root};

const BIN: &str = env!("CARGO_BIN_EXE_phoneboot");

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Two namespaces and a veth pair, removed on drop.
struct Link {
    server_ns: String,
    phone_ns: String,
    server_if: String,
    phone_if: String,
}

impl Link {
    fn create() -> Result<Self, String> {
        let id = std::process::id();
        let link = Link {
            server_ns: format!("pb-srv-{id}"),
            phone_ns: format!("pb-phone-{id}"),
            server_if: format!("pbs{id}"),
            phone_if: format!("pbp{id}"),
        };
        ip(&["netns", "add", &link.server_ns])?;
        ip(&["netns", "add", &link.phone_ns])?;
        ip(&[
            "link",
            "add",
            &link.server_if,
            "type",
            "veth",
            "peer",
            "name",
            &link.phone_if,
        ])?;
        ip(&["link", "set", &link.server_if, "netns", &link.server_ns])?;
        ip(&["link", "set", &link.phone_if, "netns", &link.phone_ns])?;
        for (ns, dev, addr) in [
            (&link.server_ns, &link.server_if, "10.77.0.1/24"),
            (&link.phone_ns, &link.phone_if, "10.77.0.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(link)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.server_ns]);
        let _ = ip(&["netns", "del", &self.phone_ns]);
    }
}

/// A process started inside a namespace (`ip netns exec` execs it: the PID is the process's
/// own), killed by PID on drop.
struct InNs(Child);

impl Drop for InNs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn in_ns(ns: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> InNs {
    let child = Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    InNs(child)
}

impl InNs {
    /// Reads the process's stderr until a line holds `marker` (the process is ready); the rest
    /// is drained in the background. Fails with what it printed if it exits or takes 20 s.
    fn wait_for(&mut self, what: &str, marker: &str) {
        let stderr = self.0.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(marker) => break,
                Ok(line) => seen.push(line),
                Err(e) => panic!(
                    "{what} did not start ({e:?}); it said:\n{}",
                    seen.join("\n")
                ),
            }
        }
        // Keep draining, so that a full pipe never blocks the process.
        std::thread::spawn(move || for _ in rx {});
    }
}

/// The lines under `heading` in `phoneboot dhcp config`'s output, without comments.
fn section(printed: &str, heading: &str) -> String {
    let lines: Vec<&str> = printed
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert!(!lines.is_empty(), "no {heading:?} section in:\n{printed}");
    lines.join("\n")
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

    fn program(self) -> &'static str {
        match self {
            Self::Dnsmasq => "dnsmasq",
            Self::IscDhcpd => "dhcpd",
            Self::Kea => "kea-dhcp4",
        }
    }

    /// Starts it in `link`'s server namespace and waits until it serves.
    fn start(self, link: &Link, dir: &Path, printed: &str) -> InNs {
        let file = |name: &str| dir.join(name).display().to_string();
        let iface = link.server_if.as_str();
        let (mut process, marker) = match self {
            Self::Dnsmasq => {
                let conf = file("dnsmasq.conf");
                std::fs::write(&conf, section(printed, "## dnsmasq")).unwrap();
                let process = in_ns(
                    &link.server_ns,
                    "dnsmasq",
                    &[
                        "--keep-in-foreground",
                        &format!("--conf-file={conf}"),
                        "--port=0",
                        &format!("--interface={iface}"),
                        "--bind-interfaces",
                        "--dhcp-range=10.77.0.10,10.77.0.20,255.255.255.0,10m",
                        &format!("--dhcp-leasefile={}", file("dnsmasq.leases")),
                        &format!("--pid-file={}", file("dnsmasq.pid")),
                        "--log-facility=-",
                    ],
                    &[],
                );
                (process, "DHCP, IP range")
            }
            Self::IscDhcpd => {
                // The option's definition is global; its value goes in the subnet.
                let lines = section(printed, "## ISC dhcpd (dhcpd.conf)");
                let (define, value): (Vec<&str>, Vec<&str>) =
                    lines.lines().partition(|l| l.contains(" code "));
                let conf = file("dhcpd.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "{}\nsubnet 10.77.0.0 netmask 255.255.255.0 {{\n  range 10.77.0.10 \
                         10.77.0.20;\n  {}\n}}\n",
                        define.join("\n"),
                        value.join("\n  ")
                    ),
                )
                .unwrap();
                let leases = file("dhcpd.leases");
                std::fs::write(&leases, "").unwrap();
                let pid = file("dhcpd.pid");
                let process = in_ns(
                    &link.server_ns,
                    "dhcpd",
                    &[
                        "-4", "-f", "-d", "-cf", &conf, "-lf", &leases, "-pf", &pid, iface,
                    ],
                    &[],
                );
                (process, "Server starting service")
            }
            Self::Kea => {
                let conf = file("kea-dhcp4.json");
                std::fs::write(
                    &conf,
                    format!(
                        r#"{{ "Dhcp4": {{
  "interfaces-config": {{ "interfaces": ["{iface}"] }},
  "lease-database": {{ "type": "memfile", "persist": false }},
  "loggers": [ {{ "name": "kea-dhcp4", "severity": "INFO", "output_options": [ {{ "output": "stderr" }} ] }} ],
  "subnet4": [ {{ "id": 1, "subnet": "10.77.0.0/24", "pools": [ {{ "pool": "10.77.0.10 - 10.77.0.20" }} ] }} ],
{}
}} }}"#,
                        section(printed, "## ISC Kea")
                    ),
                )
                .unwrap();
                let run = dir.display().to_string();
                let process = in_ns(
                    &link.server_ns,
                    "kea-dhcp4",
                    &["-c", &conf],
                    &[("KEA_LOCKFILE_DIR", "none"), ("KEA_PIDFILE_DIR", &run)],
                );
                (process, "DHCP4_STARTED")
            }
        };
        process.wait_for(self.program(), marker);
        process
    }
}

#[test]
fn a_phone_gets_its_server_from_each_real_dhcp_server_and_boots_from_it() {
    if !require("ip") || DhcpServer::ALL.iter().any(|s| !require(s.program())) {
        return;
    }
    let link = match Link::create() {
        Ok(link) => link,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "this machine cannot create network namespaces, which CI requires for the \
                 DHCP test (run as root with iproute2): {e}"
            );
            eprintln!("SKIP: cannot create network namespaces here: {e}");
            return;
        }
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
            "10.77.0.1:69",
            "--http-listen",
            "10.77.0.1:6970",
            "--admin-listen",
            "off",
        ],
        &[],
    );
    server.wait_for("phoneboot", "TFTP listening on udp 10.77.0.1:69");

    // What an operator would paste into each DHCP server.
    let (ok, printed, err) = phoneboot(&["dhcp", "config", "10.77.0.1"]);
    assert!(ok, "{err}");
    for dhcp in DhcpServer::ALL {
        let dhcp_dir = temp_root();
        let _running = dhcp.start(&link, dhcp_dir.path(), &printed);
        // An 8841 asks HTTP first; a 7965 boots over TFTP.
        for (mac, model, transport) in [
            ("001122334401", "8841", "HTTP"),
            ("0011223344EE", "7965", "TFTP"),
        ] {
            let out = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &link.phone_ns,
                    BIN,
                    "emulate",
                    "--dhcp",
                    &link.phone_if,
                ])
                .args([
                    "--mac",
                    mac,
                    "--model",
                    model,
                    "--timeout-ms",
                    "500",
                    "--retries",
                    "2",
                ])
                .env_remove("RUST_LOG")
                .output()
                .unwrap();
            let trace = String::from_utf8_lossy(&out.stdout);
            let err = String::from_utf8_lossy(&out.stderr);
            let context = format!("{dhcp:?}, {model}: {trace}\n{err}");
            assert!(out.status.success(), "{context}");
            assert!(
                trace.contains("DHCP: leased 10.77.0.1") && trace.contains("from 10.77.0.1"),
                "{context}"
            );
            assert!(
                trace.contains("the servers come from Option150"),
                "{context}"
            );
            assert!(trace.contains("boot complete"), "{context}");
            if transport == "HTTP" {
                assert!(trace.contains("asks HTTP on port 6970 first"), "{context}");
                assert!(
                    trace.contains("SEP001122334401.cnf.xml from 10.77.0.1: got"),
                    "{context}"
                );
            } else {
                // Not in the database: the default file, over TFTP.
                assert!(
                    trace.contains("XMLDefault.cnf.xml from 10.77.0.1: got"),
                    "{context}"
                );
            }
        }
    }
}
