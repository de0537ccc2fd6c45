//! Two network namespaces joined by a veth pair (10.77.0.1 and 2001:db8:77::1 on the server's
//! side, .2 and ::2 on the phone's), and processes started inside one of them.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn ip(args: &[&str]) -> Result<(), String> {
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
pub struct Link {
    pub server_ns: String,
    pub phone_ns: String,
    pub server_if: String,
    pub phone_if: String,
}

impl Link {
    /// A link for the test `what`, or `None` (the test skips, saying so) where namespaces
    /// cannot be made — which fails the test in CI, where they are required.
    pub fn for_test(tag: char, what: &str) -> Option<Self> {
        match Self::create(tag) {
            Ok(link) => Some(link),
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "this machine cannot create network namespaces, which CI requires for the \
                     {what} (run as root with iproute2): {e}"
                );
                eprintln!("SKIP: cannot create network namespaces here: {e}");
                None
            }
        }
    }

    /// `tag` tells apart the links of one test process.
    pub fn create(tag: char) -> Result<Self, String> {
        let id = std::process::id();
        let link = Link {
            server_ns: format!("pb-srv-{tag}{id}"),
            phone_ns: format!("pb-phone-{tag}{id}"),
            server_if: format!("pbs{tag}{id}"),
            phone_if: format!("pbp{tag}{id}"),
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
        for (ns, dev, v4, v6) in [
            (
                &link.server_ns,
                &link.server_if,
                "10.77.0.1/24",
                "2001:db8:77::1/64",
            ),
            (
                &link.phone_ns,
                &link.phone_if,
                "10.77.0.2/24",
                "2001:db8:77::2/64",
            ),
        ] {
            // No duplicate address detection: the addresses (link-local ones too) are usable
            // at once, as they are on a phone minutes after power-up.
            let out = Command::new("ip")
                .args(["netns", "exec", ns, "sysctl", "-qw"])
                .arg(format!("net.ipv6.conf.{dev}.accept_dad=0"))
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            ip(&["-n", ns, "addr", "add", v4, "dev", dev])?;
            ip(&["-n", ns, "addr", "add", v6, "dev", dev, "nodad"])?;
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
pub struct InNs(pub Child);

impl Drop for InNs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn in_ns(ns: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> InNs {
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
    pub fn wait_for(&mut self, what: &str, marker: &str) {
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
