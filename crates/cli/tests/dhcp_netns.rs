//! A phone's power-up across a real network: two network namespaces joined by a veth pair;
//! dnsmasq in one hands out an address with option 150 pointing at a `phoneboot serve` next to
//! it; the emulator in the other does a real DHCP exchange and then boots over HTTP and TFTP.
//!
//! Needs root (network namespaces) and dnsmasq. In CI a machine that cannot create namespaces
//! fails this test, saying so; elsewhere it is skipped with a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

fn in_ns(ns: &str, program: &str, args: &[&str]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_phone_gets_its_server_from_a_real_dhcp_exchange_and_boots_from_it() {
    if !require("dnsmasq") || !require("ip") {
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

    let mut server = InNs(in_ns(
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
    ));
    let log = BufReader::new(server.0.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = log.lines();
    loop {
        assert!(
            Instant::now() < deadline,
            "phoneboot did not start in the namespace"
        );
        match lines.next() {
            Some(Ok(line)) if line.contains("TFTP listening on udp 10.77.0.1:69") => break,
            Some(_) => {}
            None => panic!("phoneboot exited in the namespace"),
        }
    }
    std::thread::spawn(move || for _ in lines {});

    let leases = dir.path().join("leases");
    let _dnsmasq = InNs(in_ns(
        &link.server_ns,
        "dnsmasq",
        &[
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            &format!("--interface={}", link.server_if),
            "--bind-interfaces",
            "--dhcp-range=10.77.0.2,10.77.0.20,255.255.255.0,10m",
            "--dhcp-host=00:11:22:33:44:01,10.77.0.2",
            "--dhcp-option=150,10.77.0.1",
            &format!("--dhcp-leasefile={}", leases.display()),
            &format!("--pid-file={}", dir.path().join("dnsmasq.pid").display()),
            "--log-facility=-",
        ],
    ));
    std::thread::sleep(Duration::from_millis(500));

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
        assert!(out.status.success(), "{model}: {trace}\n{err}");
        assert!(trace.contains("DHCP: leased 10.77.0."), "{trace}");
        assert!(trace.contains("from 10.77.0.1"), "{trace}");
        assert!(trace.contains("the servers come from Option150"), "{trace}");
        assert!(trace.contains("boot complete"), "{trace}");
        if transport == "HTTP" {
            assert!(trace.contains("asks HTTP on port 6970 first"), "{trace}");
            assert!(
                trace.contains("SEP001122334401.cnf.xml from 10.77.0.1: got"),
                "{trace}"
            );
        } else {
            // Not in the database: the default file, over TFTP.
            assert!(
                trace.contains("XMLDefault.cnf.xml from 10.77.0.1: got"),
                "{trace}"
            );
        }
    }
    let leases = std::fs::read_to_string(&leases).unwrap_or_default();
    assert!(
        leases.contains("00:11:22:33:44:01") && leases.contains("10.77.0.2"),
        "{leases}"
    );
}
