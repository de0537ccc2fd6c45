//! Has the phone taken the change? The admin listener's `/devices/fetched` says, per device,
//! whether it fetched the configuration the database holds now, an older one, or none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::cluster::{Cluster, curl_tftp, ok, wait_for};
use support::{http_get, require};

fn state_of(report: &serde_json::Value, device: &str) -> String {
    report
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == device)
        .unwrap_or_else(|| panic!("{device} not in {report}"))["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_phone_that_fetched_its_file_is_current_until_a_change_makes_it_stale() {
    if !require("curl") {
        return;
    }
    let cluster = Cluster::example();
    let server = cluster.serve(&[]);
    let admin = server.admin.unwrap();
    let report = || -> serde_json::Value {
        serde_json::from_str(&http_get(admin, "/devices/fetched")).unwrap()
    };
    assert_eq!(state_of(&report(), "SEP001122334401"), "never");

    curl_tftp(&server, "SEP001122334401.cnf.xml").unwrap();
    // Recorded when the transfer ends (the server has the last ACK a moment after curl).
    wait_for("the fetch to be recorded", || {
        state_of(&report(), "SEP001122334401") == "current"
    });
    let now = report();
    assert_eq!(
        state_of(&now, "SEP001122334402"),
        "never",
        "others untouched"
    );
    let line = now
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device"] == "SEP001122334401")
        .unwrap()
        .clone();
    assert_eq!(line["last"]["file"], "SEP001122334401.cnf.xml");
    assert_eq!(line["last"]["transport"], "tftp");
    assert_eq!(line["last"]["version_stamp"], line["expected"]);

    // A change the phone has not fetched yet makes it stale; fetching it makes it current.
    // One write: with two, the phone could fetch the first while the server had not taken
    // the second in yet (seen under a loaded CI run), and stay stale.
    ok(
        &cluster.db,
        &[
            "device",
            "set",
            "SEP001122334401",
            "description=moved to room 12",
            "load=sip88xx.14-3-1-0001-1",
        ],
    );
    wait_for("the change to be served", || {
        state_of(&report(), "SEP001122334401") == "stale"
    });
    let stale = http_get(admin, "/devices/fetched?state=stale");
    assert!(
        stale.contains("SEP001122334401") && !stale.contains("SEP001122334402"),
        "{stale}"
    );
    curl_tftp(&server, "SEP001122334401.cnf.xml").unwrap();
    wait_for("the new fetch to be recorded", || {
        state_of(&report(), "SEP001122334401") == "current"
    });
    assert!(http_get(admin, "/devices/fetched?state=bogus").contains("none of current"));

    // The same from the command line.
    let addr = admin.to_string();
    let (success, printed, err) = support::phoneboot(&["fetched", "--admin", &addr]);
    assert!(success, "{err}");
    let row = printed
        .lines()
        .find(|l| l.starts_with("SEP001122334401"))
        .unwrap_or_else(|| panic!("{printed}"));
    assert!(
        row.contains("current") && row.contains("SEP001122334401.cnf.xml"),
        "{row}"
    );
    assert!(printed.contains("never fetched"), "{printed}");
    let (success, printed, _) =
        support::phoneboot(&["fetched", "--admin", &addr, "--state", "never"]);
    assert!(
        success && !printed.contains("SEP001122334401 "),
        "{printed}"
    );
}
