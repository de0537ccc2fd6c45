//! A secure cluster end to end: `phoneboot security` makes or takes the keys, `serve` hands
//! out trust lists, `.sgn` and `.enc.sgn` over TFTP (tftp-hpa, curl) and HTTP, the openssl
//! command line checks what was served, and emulated secure phones boot from it — or refuse
//! a server that signs with a key their trust list does not hold.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "secure/by_openssl.rs"]
mod by_openssl;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use by_openssl::{decrypt_with_openssl, openssl, openssl_verifies, split};

use support::cluster::{Cluster, curl_tftp, fails, ok, wait_for};
use support::{Server, phoneboot, require};

const SECURE_PHONE: &str = "SEP001122334401"; // 8841, SIP
const ENCRYPTED_PHONE: &str = "SEP001122334402"; // 7941, SCCP

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../secure/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn keys_dir(cluster: &Cluster) -> PathBuf {
    let mut state = cluster.db.as_os_str().to_owned();
    state.push("-state");
    PathBuf::from(state).join("security")
}

/// tftp-hpa's client: the file, or None.
fn hpa_get(server: &Server, name: &str) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("got");
    let status = Command::new("tftp")
        .args(["-m", "octet", "127.0.0.1", &server.v4.port().to_string()])
        .args(["-c", "get", name, out.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&status.stdout).into_owned()
        + &String::from_utf8_lossy(&status.stderr);
    if said.contains("Error code") {
        return None;
    }
    std::fs::read(&out).ok()
}

/// `phoneboot emulate` of the example's 8841 or 7941 against `server`, with `extra`.
fn emulate(server: &Server, mac: &str, model: &str, extra: &[&str]) -> (bool, String) {
    let port = server.v4.port().to_string();
    let mut args = vec![
        "emulate",
        "--mac",
        mac,
        "--model",
        model,
        "--option150",
        "127.0.0.1",
        "--port",
        &port,
        "--http",
        "never",
        "--running-load",
        "configured",
    ];
    if model == "8841" {
        args.push("--sip");
    }
    args.extend_from_slice(extra);
    let (success, out, err) = phoneboot(&args);
    (success, format!("{out}{err}"))
}

fn secure_cluster() -> Cluster {
    let cluster = Cluster::example();
    ok(&cluster.db, &["security", "init"]);
    ok(
        &cluster.db,
        &["device", "set", SECURE_PHONE, "security_mode=authenticated"],
    );
    cluster
}

/// The secure cluster with the example's 7941 in an encrypted profile (its certificate the
/// `phone` fixture).
fn encrypted_cluster() -> Cluster {
    let cluster = secure_cluster();
    let cert = fixture("phone.crt.pem");
    ok(
        &cluster.db,
        &["security", "phone-cert", ENCRYPTED_PHONE, &cert],
    );
    ok(
        &cluster.db,
        &["device", "set", ENCRYPTED_PHONE, "security_mode=encrypted"],
    );
    cluster
}

#[test]
fn secure_modes_are_refused_until_the_keys_they_need_exist() {
    let cluster = Cluster::example();
    let said = fails(
        &cluster.db,
        &["device", "set", SECURE_PHONE, "security_mode=authenticated"],
    );
    assert!(
        said.contains("security_mode") && said.contains("phoneboot security init"),
        "{said}"
    );
    ok(&cluster.db, &["security", "init"]);
    ok(
        &cluster.db,
        &["device", "set", SECURE_PHONE, "security_mode=authenticated"],
    );
    let said = fails(
        &cluster.db,
        &["device", "set", ENCRYPTED_PHONE, "security_mode=encrypted"],
    );
    assert!(
        said.contains("security phone-cert SEP001122334402"),
        "{said}"
    );
    ok(
        &cluster.db,
        &[
            "security",
            "phone-cert",
            ENCRYPTED_PHONE,
            &fixture("phone.crt.pem"),
        ],
    );
    ok(
        &cluster.db,
        &["device", "set", ENCRYPTED_PHONE, "security_mode=encrypted"],
    );
    // The keys live with 0600 permissions, and `show` never prints one.
    let dir = keys_dir(&cluster);
    use std::os::unix::fs::PermissionsExt;
    for key in ["sast.key", "tftp.key"] {
        let mode = std::fs::metadata(dir.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let shown = ok(&cluster.db, &["security", "show"]);
    assert!(
        !shown.contains("PRIVATE KEY") && shown.contains("SEP001122334402"),
        "{shown}"
    );
}

#[test]
fn a_secure_phone_boots_from_signed_files_that_openssl_verifies() {
    if !require("tftp") || !require("curl") {
        return;
    }
    let cluster = secure_cluster();
    let server = cluster.serve(&[]);
    server.counter_reaches("BuildCount", 1);
    let signed = server.counters()["BuildSignCount"];
    assert!(signed >= 7, "every built file signed ahead: {signed}");
    let keys = keys_dir(&cluster);
    let itl = hpa_get(&server, "ITLFile.tlv").expect("ITLFile.tlv over tftp-hpa");
    assert!(
        openssl_verifies(&keys.join("sast.crt"), "sha1", &itl),
        "ITL signed by the SAST"
    );
    assert_eq!(
        hpa_get(&server, "ITLSEP001122334401.tlv").as_deref(),
        Some(&itl[..]),
        "a phone's own ITL is the cluster's"
    );
    assert!(
        hpa_get(&server, "CTLFile.tlv").is_none(),
        "no CTL outside mixed mode"
    );
    let plain = ok(&cluster.db, &["render", "SEP001122334401.cnf.xml"]);
    let sgn = hpa_get(&server, "SEP001122334401.cnf.xml.sgn").expect(".sgn over tftp-hpa");
    assert!(openssl_verifies(&keys.join("tftp.crt"), "sha1", &sgn));
    assert!(!openssl_verifies(&keys.join("sast.crt"), "sha1", &sgn));
    let (_, _, header_len) = split(&sgn);
    assert_eq!(
        &sgn[header_len..],
        plain.as_bytes(),
        "the payload is the plain file"
    );
    // The same over HTTP, byte for byte.
    let http = Command::new("curl")
        .args([
            "-s",
            &format!(
                "http://{}/SEP001122334401.cnf.xml.sgn",
                server.http.unwrap()
            ),
        ])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(http, sgn);

    let (booted, said) = emulate(&server, "001122334401", "8841", &["--secure"]);
    assert!(booted, "{said}");
    assert!(said.contains("trusted (2 records)") && said.contains("SEP001122334401.cnf.xml.sgn"));
    // Signed once at the full build and kept: every request above, over both wires and a
    // whole secure boot, made no signature.
    assert_eq!(server.counters()["BuildSignCount"], signed);
}

#[test]
fn a_phone_refuses_a_server_that_signs_with_another_key_and_keeps_its_trust_list() {
    if !require("curl") {
        return;
    }
    let cluster = secure_cluster();
    let held = tempfile::tempdir().unwrap();
    let itl_path = held.path().join("ITLFile.tlv");
    {
        let server = cluster.serve(&[]);
        std::fs::write(&itl_path, curl_tftp(&server, "ITLFile.tlv").unwrap()).unwrap();
        let (booted, said) = emulate(
            &server,
            "001122334401",
            "8841",
            &["--itl", itl_path.to_str().unwrap()],
        );
        assert!(booted, "{said}");
    }
    // New keys, as a cluster rebuilt from scratch would have: phones that hold the old list
    // refuse both the new list and what the new TFTP key signs.
    ok(&cluster.db, &["security", "init", "--force"]);
    let server = cluster.serve(&[]);
    let (booted, said) = emulate(
        &server,
        "001122334401",
        "8841",
        &["--itl", itl_path.to_str().unwrap()],
    );
    assert!(!booted, "{said}");
    assert!(said.contains("keeping the list it holds"), "{said}");
    assert!(
        said.contains("refused SEP001122334401.cnf.xml.sgn"),
        "{said}"
    );
    // A new phone (no list yet) takes the new cluster as it is.
    let (booted, said) = emulate(&server, "001122334401", "8841", &["--secure"]);
    assert!(booted, "{said}");
}

#[test]
fn an_encrypted_phone_boots_only_from_its_enc_sgn_which_openssl_decrypts() {
    if !require("curl") {
        return;
    }
    let cluster = encrypted_cluster();
    let server = cluster.serve(&[]);
    assert!(
        curl_tftp(&server, "SEP001122334402.cnf.xml").is_none(),
        "the plain configuration is served to no one"
    );
    let stub = curl_tftp(&server, "SEP001122334402.cnf.xml.sgn").unwrap();
    let (_, _, header_len) = split(&stub);
    let stub_text = String::from_utf8_lossy(&stub[header_len..]).into_owned();
    assert!(
        stub_text.contains("<fullConfig>false</fullConfig>"),
        "{stub_text}"
    );
    assert!(
        stub_text.contains("<encrConfig>true</encrConfig>"),
        "{stub_text}"
    );
    assert!(!stub_text.contains("<line"), "the stub holds no line");

    let enc = curl_tftp(&server, "SEP001122334402.cnf.xml.enc.sgn").unwrap();
    let keys = keys_dir(&cluster);
    assert!(openssl_verifies(&keys.join("tftp.crt"), "sha1", &enc));
    let plain = ok(&cluster.db, &["render", "SEP001122334402.cnf.xml"]);
    assert_eq!(
        decrypt_with_openssl(&enc, &fixture("phone.key.pem")),
        plain.as_bytes()
    );

    let key = [
        "--phone-cert",
        &fixture("phone.crt.pem"),
        "--phone-key",
        &fixture("phone.key.pem"),
    ];
    let (booted, said) = emulate(&server, "001122334402", "7941", &key);
    assert!(booted, "{said}");
    assert!(said.contains("SEP001122334402.cnf.xml.enc.sgn"), "{said}");

    // Has the phone taken the change: its last fetch, the .enc.sgn, carries the stamp of the
    // configuration inside it, so the phone is current (not stale for want of a readable one).
    let admin = server.admin.unwrap();
    let standing = || -> serde_json::Value {
        let report: serde_json::Value =
            serde_json::from_str(&support::http_get(admin, "/devices/fetched")).unwrap();
        report
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device"] == "SEP001122334402")
            .unwrap()
            .clone()
    };
    wait_for("the encrypted fetch to be recorded", || {
        standing()["last"]["file"] == "SEP001122334402.cnf.xml.enc.sgn"
    });
    let standing = standing();
    assert_eq!(standing["state"], "current", "{standing}");
    assert_eq!(standing["last"]["version_stamp"], standing["expected"]);

    let other = [
        "--phone-cert",
        &fixture("other.crt.pem"),
        "--phone-key",
        &fixture("other.key.pem"),
    ];
    let (booted, said) = emulate(&server, "001122334402", "7941", &other);
    assert!(
        !booted && said.contains("encrypted to another certificate"),
        "{said}"
    );
    assert!(server.counters()["EncryptCount"] >= 1);
}

#[test]
fn a_rotation_lists_both_pairs_then_the_new_one_signs_and_phones_follow() {
    if !require("curl") {
        return;
    }
    let cluster = secure_cluster();
    let held = tempfile::tempdir().unwrap();
    let itl_path = held.path().join("ITLFile.tlv");
    let fetch_itl = |server: &Server| {
        let itl = curl_tftp(server, "ITLFile.tlv").unwrap();
        std::fs::write(&itl_path, &itl).unwrap();
        itl
    };
    let itl = |s: &Server| (fetch_itl(s), itl_path.to_str().unwrap().to_owned());
    let server = cluster.serve(&[]);
    let (_, path) = itl(&server);
    drop(server);
    ok(&cluster.db, &["security", "rotate"]);
    let server = cluster.serve(&[]);
    // The transition list is signed by the old SAST, so a phone holding the old list takes it.
    let (booted, said) = emulate(&server, "001122334401", "8841", &["--itl", &path]);
    assert!(booted && said.contains("trusted (4 records)"), "{said}");
    let (_, path) = itl(&server);
    drop(server);
    ok(&cluster.db, &["security", "rotate", "--finish"]);
    let server = cluster.serve(&[]);
    let (booted, said) = emulate(&server, "001122334401", "8841", &["--itl", &path]);
    assert!(booted && said.contains("trusted (2 records)"), "{said}");
    let keys = keys_dir(&cluster);
    let sgn = curl_tftp(&server, "SEP001122334401.cnf.xml.sgn").unwrap();
    assert!(
        openssl_verifies(&keys.join("tftp.crt"), "sha1", &sgn),
        "the new TFTP key signs"
    );
    assert!(!openssl_verifies(
        &keys.join("retired/tftp.crt"),
        "sha1",
        &sgn
    ));
}

#[test]
fn custom_files_are_signed_once_and_the_signature_algorithm_is_a_parameter() {
    if !require("curl") {
        return;
    }
    let cluster = secure_cluster();
    ok(
        &cluster.db,
        &["params", "set", "file_signature_algorithm=sha512"],
    );
    let ring = b"<CiscoIPPhoneRingList><Ring><FileName>Chirp1.raw</FileName></Ring></CiscoIPPhoneRingList>\n";
    std::fs::write(cluster.root.join("RingList.xml"), ring).unwrap();
    std::fs::write(cluster.root.join("Chirp1.raw"), vec![0x7f; 4000]).unwrap();
    let server = cluster.serve(&[]);
    let keys = keys_dir(&cluster);
    let before = server.counter_reaches("BuildCount", 1);
    assert_eq!(before, 1);
    let signed_at_build = server.counters()["BuildSignCount"];
    for name in ["RingList.xml.sgn", "Chirp1.raw.sgn"] {
        let first = curl_tftp(&server, name).unwrap();
        assert!(
            openssl_verifies(&keys.join("tftp.crt"), "sha512", &first),
            "{name}"
        );
        assert!(
            !openssl_verifies(&keys.join("tftp.crt"), "sha1", &first),
            "{name}"
        );
        let again = curl_tftp(&server, name).unwrap();
        assert_eq!(first, again, "{name}: the same signed bytes, kept");
    }
    assert_eq!(
        server.counters()["BuildSignCount"],
        signed_at_build + 2,
        "one signature per custom file, however often asked"
    );
    // A file changed on disk is signed again.
    std::fs::write(
        cluster.root.join("RingList.xml"),
        b"<CiscoIPPhoneRingList/>\n",
    )
    .unwrap();
    wait_for("the changed ring list to be signed again", || {
        let got = curl_tftp(&server, "RingList.xml.sgn").unwrap();
        got.ends_with(b"<CiscoIPPhoneRingList/>\n")
    });
    assert!(curl_tftp(&server, "Missing.xml.sgn").is_none());
}

#[test]
fn importing_a_clusters_identity_refuses_what_cannot_serve_and_takes_what_can() {
    let cluster = Cluster::example();
    let said = fails(
        &cluster.db,
        &[
            "security",
            "import",
            "--key",
            &fixture("other.key.pem"),
            "--cert",
            &fixture("tftp.crt.pem"),
        ],
    );
    assert!(
        said.contains("does not belong to the certificate"),
        "{said}"
    );
    let said = fails(
        &cluster.db,
        &[
            "security",
            "import",
            "--key",
            &fixture("ec.key.pem"),
            "--cert",
            &fixture("ec.crt.pem"),
        ],
    );
    assert!(said.contains("RSA"), "{said}");
    let said = fails(
        &cluster.db,
        &[
            "security",
            "import",
            "--key",
            &fixture("golden/ITLFile.tlv"),
            "--cert",
            &fixture("golden/ITLFile.tlv"),
        ],
    );
    assert!(
        said.contains("openssl pkcs12") || said.contains("no certificate"),
        "{said}"
    );
    assert!(
        !keys_dir(&cluster).join("tftp.crt").exists(),
        "nothing half-written"
    );
    let out = ok(
        &cluster.db,
        &[
            "security",
            "import",
            "--key",
            &fixture("tftp.key.pem"),
            "--cert",
            &fixture("tftp.crt.pem"),
        ],
    );
    assert!(out.contains("CN=tftp.test.invalid"), "{out}");
    let shown = ok(&cluster.db, &["security", "show"]);
    assert!(
        shown.contains("serial 65180102030405060708090a0b0c0d0e"),
        "{shown}"
    );
}

/// The address `serve` logged for an HTTPS service (`server certificate` or `mutual`).
fn https_addr(server: &Server, which: &str) -> String {
    server
        .log_text()
        .lines()
        .find(|l| l.contains("HTTPS listening on tcp") && l.contains(which))
        .and_then(|l| l.split("HTTPS listening on tcp ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no HTTPS ({which}) address in {}", server.log_text()))
        .to_owned()
}

fn curl_https(url: &str, extra: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("curl")
        .args(["-s", "-f", "-k", "--max-time", "10"])
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    out.status.success().then_some(out.stdout)
}

fn fingerprint(dir: &Path, pem: &Path) -> String {
    let out = openssl(
        dir,
        &[
            "x509",
            "-in",
            pem.to_str().unwrap(),
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn https_presents_the_tftp_certificate_and_6972_serves_only_known_phones() {
    if !require("curl") {
        return;
    }
    let cluster = encrypted_cluster();
    let server = cluster.serve(&[]);
    let (tls, mutual) = (
        https_addr(&server, "server certificate"),
        https_addr(&server, "mutual"),
    );

    // The certificate on 6971 is the TFTP certificate the ITL lists (openssl s_client).
    let dir = tempfile::tempdir().unwrap();
    let shown = Command::new("openssl")
        .args(["s_client", "-connect", &tls, "-showcerts"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    let begin = shown
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = shown.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    std::fs::write(dir.path().join("served.pem"), &shown[begin..end]).unwrap();
    assert_eq!(
        fingerprint(dir.path(), &dir.path().join("served.pem")),
        fingerprint(dir.path(), &keys_dir(&cluster).join("tftp.crt"))
    );

    // A .sgn over HTTPS is answered with the plain body (the channel is what is trusted).
    let plain = ok(&cluster.db, &["render", "SEP001122334401.cnf.xml"]);
    let got = curl_https(&format!("https://{tls}/SEP001122334401.cnf.xml.sgn"), &[]).unwrap();
    assert_eq!(got, plain.as_bytes());
    // An encrypted phone's plain configuration goes to no one on 6971…
    assert!(curl_https(&format!("https://{tls}/SEP001122334402.cnf.xml"), &[]).is_none());
    // …and on 6972 only to that phone, proven by its certificate.
    let url = format!("https://{mutual}/SEP001122334402.cnf.xml");
    assert!(
        curl_https(&url, &[]).is_none(),
        "no client certificate, no handshake"
    );
    let other = [
        "--cert",
        &fixture("other.crt.pem"),
        "--key",
        &fixture("other.key.pem"),
    ];
    assert!(
        curl_https(&url, &other).is_none(),
        "a certificate no phone has"
    );
    let phone = [
        "--cert",
        &fixture("phone.crt.pem"),
        "--key",
        &fixture("phone.key.pem"),
    ];
    let own = ok(&cluster.db, &["render", "SEP001122334402.cnf.xml"]);
    assert_eq!(curl_https(&url, &phone).unwrap(), own.as_bytes());
    let another = format!("https://{mutual}/SEP001122334401.cnf.xml");
    assert_eq!(curl_https(&another, &phone).unwrap(), plain.as_bytes());
}

#[test]
fn an_encrypted_phones_plain_file_stays_hidden_when_the_node_has_no_keys() {
    if !require("curl") {
        return;
    }
    let cluster = encrypted_cluster();
    // Another node of the cluster, whose key folder was never copied.
    std::fs::remove_dir_all(keys_dir(&cluster)).unwrap();
    let server = cluster.serve(&[]);
    assert!(curl_tftp(&server, "SEP001122334402.cnf.xml").is_none());
    assert!(curl_tftp(&server, "SEP001122334402.cnf.xml.sgn").is_none());
    assert!(
        curl_tftp(&server, "SEP001122334401.cnf.xml").is_some(),
        "others as ever"
    );
    assert!(curl_tftp(&server, "ITLFile.tlv").is_none());
}

#[test]
fn only_a_phone_that_reads_sep_cnf_xml_takes_an_encrypted_configuration() {
    let cluster = secure_cluster();
    // The example's 7960 on SIP firmware reads SIP<MAC>.cnf, which has no encrypted form.
    ok(
        &cluster.db,
        &[
            "security",
            "phone-cert",
            "SEP001122334403",
            &fixture("phone.crt.pem"),
        ],
    );
    let said = fails(
        &cluster.db,
        &[
            "device",
            "set",
            "SEP001122334403",
            "security_mode=encrypted",
        ],
    );
    assert!(
        said.contains("only a phone that reads SEP<MAC>.cnf.xml"),
        "{said}"
    );
}

#[test]
fn a_pkcs12_export_is_imported_with_its_password_from_the_environment() {
    let cluster = Cluster::example();
    let dir = tempfile::tempdir().unwrap();
    let p12 = dir.path().join("cluster.p12");
    let made = openssl(
        dir.path(),
        &[
            "pkcs12",
            "-export",
            "-inkey",
            &fixture("tftp.key.pem"),
            "-in",
            &fixture("tftp.crt.pem"),
            "-out",
            p12.to_str().unwrap(),
            "-passout",
            "pass:s3cret",
        ],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let run = |password: &str| {
        let [flag, path] = support::cluster::db_args(&cluster.db);
        Command::new(env!("CARGO_BIN_EXE_phoneboot"))
            .args([
                "security",
                "import",
                "--p12",
                p12.to_str().unwrap(),
                &flag,
                &path,
            ])
            .env("PHONEBOOT_P12_PASSWORD", password)
            .env_remove("PHONEBOOT_DATABASE")
            .env_remove("PHONEBOOT_CONFIG")
            .output()
            .unwrap()
    };
    let wrong = run("guess");
    assert!(!wrong.status.success());
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(said.contains("check the password"), "{said}");
    assert!(
        !keys_dir(&cluster).join("tftp.crt").exists(),
        "nothing written"
    );
    let right = run("s3cret");
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    let shown = ok(&cluster.db, &["security", "show"]);
    assert!(
        shown.contains("serial 65180102030405060708090a0b0c0d0e"),
        "{shown}"
    );
}

#[test]
fn a_cluster_without_keys_opens_no_https() {
    let cluster = Cluster::example();
    let server = cluster.serve(&[]);
    assert!(
        !server.log_text().contains("HTTPS listening"),
        "{}",
        server.log_text()
    );
}

/// Centralized TFTP with secure clusters: a master whose database lacks the phone asks the
/// phone's own cluster for its files; the phone's trust list and signed files come from there,
/// and so does the `.sgn` of a common file (the seed's warning: a RingList.xml.sgn signed by
/// the master is refused by a phone of another cluster).
#[test]
fn a_phone_of_another_cluster_gets_its_trust_list_and_signed_common_files_from_its_own() {
    if !require("curl") {
        return;
    }
    let home = secure_cluster();
    std::fs::write(home.root.join("RingList.xml"), b"<CiscoIPPhoneRingList/>\n").unwrap();
    let home_server = home.serve(&[]);
    let master = Cluster::empty();
    ok(&master.db, &["security", "init"]);
    std::fs::write(
        master.root.join("RingList.xml"),
        b"<CiscoIPPhoneRingList/>\n",
    )
    .unwrap();
    let alternate = format!("http://{}", home_server.http.unwrap());
    let boot = |extra: &[&str]| {
        let mut args = vec!["--alternate-server", alternate.as_str()];
        args.extend_from_slice(extra);
        let server = master.serve(&args);
        emulate(&server, "001122334401", "8841", &["--secure"])
    };
    let (booted, said) = boot(&[]);
    assert!(booted, "{said}");
    assert!(said.contains("ITLSEP001122334401.tlv: trusted"), "{said}");
    assert!(said.contains("RingList.xml.sgn from"), "{said}");

    // Turned off, the master signs the ring list itself, and the phone refuses it.
    let config = master.dir.path().join("no-home.toml");
    std::fs::write(&config, "[remote]\ncommon_signed_from_home = false\n").unwrap();
    let (booted, said) = boot(&["--config", config.to_str().unwrap()]);
    assert!(!booted, "{said}");
    assert!(said.contains("refused RingList.xml.sgn"), "{said}");
}
