//! The web UI in a real headless Chromium (Debian's chromium and chromium-driver; CI installs
//! them, and a missing browser fails there): log in; add a SIP phone with two lines, after the
//! form showed the error for a bad MAC next to the field; fetch its SEP<MAC>.cnf.xml over
//! TFTP and find both lines; the device page says the phone is up to date, and stale after a
//! change; a CSV imported through its preview. Screenshots of the dashboard, the device list
//! and a device page are written to target/ui-screenshots for a reviewer to open.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use support::browser::Browser;
use support::cluster::{Cluster, curl_tftp, db_args, ok, wait_for};
use support::require;

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots")
}

fn add_admin(cluster: &Cluster) {
    let [flag, path] = db_args(&cluster.db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_phoneboot"))
        .args([
            "admin",
            "user",
            "add",
            "ada",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .args([flag, path])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn an_admin_adds_a_phone_in_the_browser_and_sees_whether_it_has_taken_its_configuration() {
    if !(require("chromium") && require("chromedriver") && require("curl")) {
        return;
    }
    let cluster = Cluster::example();
    add_admin(&cluster);
    let server = cluster.serve(&[]);
    let ui = format!("http://{}", server.admin.unwrap());
    let browser = Browser::start();

    // Not signed in: the login page, then back where we were going.
    browser.go(&format!("{ui}/ui/devices"));
    browser.find("#login");
    browser.type_into("#name", "ada");
    // With the keyboard alone: Enter in the password field submits.
    browser.type_into("#password", "a long enough password\u{E007}");
    browser.wait_until(
        "the device list",
        "return location.pathname === '/ui/devices'",
    );
    browser.go(&format!("{ui}/ui/"));
    browser.wait_until(
        "live counters",
        "return /^[0-9.]+$/.test(document.querySelector('#processed').textContent)",
    );
    browser.screenshot(&screenshots().join("dashboard.png"));

    // A bad MAC: the error is shown at the field, and nothing is written.
    browser.go(&format!("{ui}/ui/devices/new"));
    browser.type_into("#name", "00:11:22:33:44");
    browser.run("document.querySelector('#model').value = '8841'; document.querySelector('#protocol').value = 'SIP';");
    browser.click("button[data-action=add-line]");
    browser.click("button[data-action=add-line]");
    browser.type_into("[name='lines.0.dn']", "5001");
    browser.type_into("[name='lines.0.label']", "Ada");
    browser.type_into("[name='lines.1.dn']", "5002");
    browser.click("button[data-list=speed_dials]");
    browser.type_into("[name='speed_dials.0.number']", "5100");
    browser.type_into("[name='speed_dials.0.label']", "Reception");
    browser.click("form[data-api] button[type=submit]");
    browser.wait_until(
        "the field's error",
        "return document.querySelector('#name').getAttribute('aria-invalid') === 'true'",
    );
    let error = browser.text(".field-error");
    assert!(error.to_lowercase().contains("mac"), "{error}");
    assert!(!ok(&cluster.db, &["device", "list"]).contains("SEP0011223344BB"));

    // Corrected, saved: the device page.
    browser.type_into("#name", "00:11:22:33:44:BB");
    browser.click("form[data-api] button[type=submit]");
    browser.wait_until(
        "the device page",
        "return location.pathname === '/ui/devices/SEP0011223344BB'",
    );
    assert!(browser.text("#preview").contains("5002"));
    let shown = ok(&cluster.db, &["device", "show", "SEP0011223344BB"]);
    assert!(
        shown.contains("5100") && shown.contains("Reception"),
        "{shown}"
    );
    assert_eq!(browser.text("#fetch-state"), "never");

    // The phone fetches its file over TFTP: both lines; the page then says it is current.
    wait_for("the phone's file with both lines", || {
        curl_tftp(&server, "SEP0011223344BB.cnf.xml").is_some_and(|f| {
            let xml = String::from_utf8_lossy(&f);
            xml.contains("5001") && xml.contains("5002")
        })
    });
    let state = |browser: &Browser| {
        browser.go(&format!("{ui}/ui/devices/SEP0011223344BB"));
        browser.text("#fetch-state")
    };
    wait_for("the page to say current", || state(&browser) == "current");
    browser.screenshot(&screenshots().join("device.png"));
    // On a phone-sized screen the page does not scroll sideways (wide tables scroll inside).
    browser.resize(390, 844);
    browser.go(&format!("{ui}/ui/devices/SEP0011223344BB"));
    browser.find("#preview");
    let overflow = browser.run("return document.documentElement.scrollWidth - window.innerWidth");
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the page is wider than the screen by {overflow}px"
    );
    browser.screenshot(&screenshots().join("device-narrow.png"));
    browser.resize(1280, 900);

    // A change in the browser: the phone now runs an older configuration.
    browser.type_into("#description", "Front desk");
    browser.click("form[data-api] button[type=submit]");
    wait_for("the page to say stale", || state(&browser) == "stale");

    // A CSV imported through its preview.
    browser.go(&format!("{ui}/ui/import"));
    browser.type_into(
        "#csv",
        "mac,model,pool,description,line1_dn\n0011223344CC,8841,Default,Lobby,6001\n",
    );
    browser.click("#import button[type=submit]");
    browser.wait_until(
        "the preview",
        "return document.querySelector('#import-result td:last-child')?.textContent === 'added'",
    );
    assert!(
        !ok(&cluster.db, &["device", "list"]).contains("SEP0011223344CC"),
        "a preview writes nothing"
    );
    browser.click("#apply");
    browser.wait_until(
        "the import",
        "return document.querySelector('#import-result p')?.textContent.startsWith('Imported')",
    );
    assert!(ok(&cluster.db, &["device", "list"]).contains("SEP0011223344CC"));

    // The search reads the generation the node serves: the import is there a moment later.
    wait_for("the imported phone in a search", || {
        browser.go(&format!("{ui}/ui/devices?q=44cc"));
        browser.run("return document.querySelectorAll('tbody tr').length") == 1
    });
    browser.go(&format!("{ui}/ui/devices"));
    browser.screenshot(&screenshots().join("devices.png"));
    let audit = ok(&cluster.db, &["admin", "audit", "--who", "ada"]);
    assert!(
        audit.contains("SEP0011223344CC") && audit.contains("login"),
        "{audit}"
    );
}
