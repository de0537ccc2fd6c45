//! SIGHUP, as logrotate, `systemctl reload` and every tftpd habit send it: the configuration
//! file is read again and taken in without a restart, transfers in flight finish intact, and
//! a file that does not validate is refused while the old configuration serves on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};

use support::cluster::wait_for;
use support::{Server, pseudo_random, require, sha256, temp_root};

fn config(root: &std::path::Path, max_serving_count: u32) -> String {
    format!(
        "root = {:?}\n\n[tftp]\nmax_serving_count = {max_serving_count}\n\n[database]\nurl = \"off\"\n",
        root.display().to_string()
    )
}

fn hangup(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sighup_takes_in_a_new_root_and_serving_count_while_twenty_transfers_finish_intact() {
    if !require("curl") {
        return;
    }
    let dir = temp_root();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let load = pseudo_random(6 << 20, 42);
    std::fs::write(first.join("load.bin"), &load).unwrap();
    std::fs::write(second.join("only-second.bin"), b"the second root").unwrap();
    let file = dir.path().join("phoneboot.toml");
    std::fs::write(&file, config(&first, 30)).unwrap();
    let server = Server::start_with(&[
        "serve".into(),
        "--config".into(),
        file.display().to_string(),
        "--tftp-listen".into(),
        "127.0.0.1:0".into(),
        "--admin-listen".into(),
        "127.0.0.1:0".into(),
        "--http-listen".into(),
        "off".into(),
    ]);
    assert_eq!(server.counters()["MaxServingCount"], 30);
    // Twenty downloads of 6 MiB in 512-byte blocks, lock-step: they take a while.
    let url = format!("tftp://{}/load.bin", server.v4);
    let outs: Vec<_> = (0..20)
        .map(|i| dir.path().join(format!("load-{i}.bin")))
        .collect();
    let clients: Vec<_> = outs
        .iter()
        .map(|out| {
            Command::new("curl")
                .args(["-s", "--tftp-blksize", "512", "-o"])
                .arg(out)
                .arg(&url)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    wait_for("20 transfers in flight", || {
        server.counters()["RequestsInProgress"] == 20
    });
    // The new file: another root, another serving count.
    std::fs::write(&file, config(&second, 25)).unwrap();
    hangup(&server);
    wait_for("the reload", || {
        server.log_text().contains("configuration reloaded")
    });
    assert_eq!(server.counters()["MaxServingCount"], 25);
    assert!(
        server.counters()["RequestsInProgress"] > 0,
        "the reload happened while transfers ran"
    );
    for (mut client, out) in clients.into_iter().zip(&outs) {
        assert!(client.wait().unwrap().success());
        assert_eq!(
            sha256(&std::fs::read(out).unwrap()),
            sha256(&load),
            "{}",
            out.display()
        );
    }
    assert_eq!(server.counter_reaches("RequestsProcessed", 20), 20);
    assert_eq!(server.counters()["RequestsAborted"], 0);
    let fetch = |name: &str| {
        Command::new("curl")
            .args(["-s", "-o", "-"])
            .arg(format!("tftp://{}/{name}", server.v4))
            .output()
            .unwrap()
    };
    assert_eq!(fetch("only-second.bin").stdout, b"the second root");
    assert!(
        fetch("load.bin").stdout.is_empty(),
        "the first root is no longer served"
    );

    // A file that does not validate: refused with the reason, the old one serves on.
    std::fs::write(&file, "[tftp]\nmax_serving_count = 0\n").unwrap();
    hangup(&server);
    wait_for("the refusal", || {
        server.log_text().contains("configuration not reloaded")
    });
    let log = server.log_text();
    assert!(
        log.contains("[tftp] max_serving_count (or --max-serving-count): 0 is not a whole number"),
        "{log}"
    );
    assert_eq!(server.counters()["MaxServingCount"], 25);
    assert_eq!(fetch("only-second.bin").stdout, b"the second root");
}
