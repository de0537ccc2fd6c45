//! The boot rules against scripted servers, on a paused clock: wait and retry on busy, fail
//! over on silence, back to the first server on the next boot, NVRAM when DHCP names none.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use phoneboot_emu::boot::*;
use phoneboot_emu::dhcp::Target;

/// Servers by name; each (server, file) answers from a script, the last answer repeating.
/// Unscripted files are not found; a server listed as down never answers.
#[derive(Default)]
struct Scripted {
    answers: Mutex<HashMap<(String, String), Vec<Fetched>>>,
    down: Vec<String>,
    calls: Mutex<Vec<(String, String)>>,
}

impl Scripted {
    fn answer(self, server: &str, file: &str, script: Vec<Fetched>) -> Self {
        self.answers
            .lock()
            .unwrap()
            .insert((server.into(), file.into()), script);
        self
    }
    fn calls(&self) -> Vec<(String, String)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Fetcher for Scripted {
    fn fetch<'a>(
        &'a self,
        server: &'a Target,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Fetched> + Send + 'a>> {
        let server = server.to_string();
        self.calls
            .lock()
            .unwrap()
            .push((server.clone(), name.to_owned()));
        let answer = if self.down.contains(&server) {
            Fetched::Silent
        } else {
            let mut answers = self.answers.lock().unwrap();
            match answers.get_mut(&(server, name.to_owned())) {
                Some(script) if script.len() > 1 => script.remove(0),
                Some(script) => script[0].clone(),
                None => Fetched::NotFound,
            }
        };
        Box::pin(async move { answer })
    }
}

fn srv(name: &str) -> Target {
    Target::Name(name.into())
}

const MAC: &str = "001122AABBCC";

fn mac(text: &str) -> phoneboot_model::Mac {
    text.parse().unwrap()
}
const CONFIG: &str = "SEP001122AABBCC.cnf.xml";

fn config(load: &str) -> Fetched {
    Fetched::File(
        format!("<device>\n<loadInformation>{load}</loadInformation>\n<dialTemplate>DRdefault.xml</dialTemplate>\n</device>\n")
            .into_bytes(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_busy_server_is_waited_for_and_asked_again_never_failed_over() {
    let fetcher = Scripted::default()
        .answer(
            "a",
            CONFIG,
            vec![Fetched::Busy, Fetched::Busy, config("L1")],
        )
        .answer("b", CONFIG, vec![config("B")]);
    let mut phone = Device::new(mac(MAC), Family::Xml);
    phone.running_load = RunningLoad::Named("L1".into());
    let started = tokio::time::Instant::now();
    let boot = boot(&mut phone, vec![srv("a"), srv("b")], &fetcher).await;
    assert_eq!(boot.result, Some(Ok(())), "{:#?}", boot.trace);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(20),
        "two waits of 10 s"
    );
    assert_eq!(boot.failovers, 0);
    assert!(
        fetcher.calls().iter().all(|(server, _)| server == "a"),
        "b was never asked"
    );
    let cfg = boot.files.iter().find(|f| f.name == CONFIG).unwrap();
    assert_eq!(cfg.busy, 2);
    assert!(boot.trace.iter().any(|(_, t)| t.contains("busy; waiting")));
}

#[tokio::test(start_paused = true)]
async fn a_server_that_stays_busy_ends_the_boot_without_failing_over() {
    let fetcher = Scripted::default().answer("a", "CTLSEP001122AABBCC.tlv", vec![Fetched::Busy]);
    let mut phone = Device::new(mac(MAC), Family::Xml);
    phone.busy_retries = 3;
    let boot = boot(&mut phone, vec![srv("a"), srv("b")], &fetcher).await;
    assert_eq!(boot.result, Some(Err(BootError::StayedBusy(4))));
    assert_eq!(boot.failovers, 0);
}

#[tokio::test(start_paused = true)]
async fn silence_fails_over_and_the_next_boot_starts_from_the_first_server_again() {
    let mut fetcher = Scripted::default()
        .answer("a", CONFIG, vec![config("L1")])
        .answer("b", CONFIG, vec![config("L1")]);
    fetcher.down = vec!["a".into()];
    let mut phone = Device::new(mac(MAC), Family::Xml);
    phone.running_load = RunningLoad::Named("L1".into());
    let first = boot(&mut phone, vec![srv("a"), srv("b")], &fetcher).await;
    assert_eq!(first.result, Some(Ok(())));
    assert_eq!(first.failovers, 1);
    assert_eq!(first.server, Some(srv("b")));
    assert_eq!(
        phone.nvram,
        Some(srv("b")),
        "the server that worked is remembered"
    );

    // Next boot, a is back: DHCP still names a first, so a is asked first.
    fetcher.down.clear();
    fetcher.calls.lock().unwrap().clear();
    let second = boot(&mut phone, vec![srv("a"), srv("b")], &fetcher).await;
    assert_eq!(second.server, Some(srv("a")));
    assert_eq!(second.failovers, 0);
    assert_eq!(fetcher.calls()[0].0, "a");

    // A boot with no DHCP servers uses the remembered one.
    fetcher.calls.lock().unwrap().clear();
    let third = boot(&mut phone, vec![], &fetcher).await;
    assert_eq!(third.result, Some(Ok(())));
    assert!(fetcher.calls().iter().all(|(s, _)| s == "a"));
}

#[tokio::test(start_paused = true)]
async fn all_servers_silent_or_none_known_fail_the_boot() {
    let fetcher = Scripted {
        down: vec!["a".into(), "b".into()],
        ..Scripted::default()
    };
    let mut phone = Device::new(mac(MAC), Family::Xml);
    let b = boot(&mut phone, vec![srv("a"), srv("b")], &fetcher).await;
    assert_eq!(b.result, Some(Err(BootError::AllSilent)));
    assert_eq!(phone.nvram, None);
    let b = boot(&mut phone, vec![], &fetcher).await;
    assert_eq!(b.result, Some(Err(BootError::NoServer)));
}

#[tokio::test(start_paused = true)]
async fn an_xml_phone_follows_the_file_order_and_fetches_a_new_load() {
    let fetcher = Scripted::default()
        .answer("a", "XMLDefault.cnf.xml", vec![config("SIP78xx.14-2-1")])
        .answer(
            "a",
            "SIP78xx.14-2-1.loads",
            vec![Fetched::File(b"load".to_vec())],
        )
        .answer(
            "a",
            "DRdefault.xml",
            vec![Fetched::File(b"<DIALTEMPLATE/>".to_vec())],
        );
    let mut phone = Device::new(mac(MAC), Family::Xml);
    phone.running_load = RunningLoad::Named("SIP78xx.12-0-1".into());
    let b = boot(&mut phone, vec![srv("a")], &fetcher).await;
    assert_eq!(b.result, Some(Ok(())));
    let order: Vec<String> = fetcher.calls().into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        order,
        [
            "CTLSEP001122AABBCC.tlv",
            "CTLFile.tlv",
            "ITLSEP001122AABBCC.tlv",
            "ITLFile.tlv",
            "SEP001122AABBCC.cnf.xml",
            "XMLDefault.cnf.xml",
            "SIP78xx.14-2-1.loads",
            "DRdefault.xml",
            "RingList.xml",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_foreign_network_locale_and_a_named_7960_dial_plan_are_fetched() {
    let xml = "<device>\n  <networkLocale>Germany</networkLocale>\n</device>\n";
    let fetcher = Scripted::default().answer(
        "a",
        "SEP001122AABBCC.cnf.xml",
        vec![Fetched::File(xml.into())],
    );
    let mut phone = Device::new(mac(MAC), Family::Xml);
    assert_eq!(
        boot(&mut phone, vec![srv("a")], &fetcher).await.result,
        Some(Ok(()))
    );
    let order: Vec<String> = fetcher.calls().into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        order[order.len() - 2..],
        ["RingList.xml", "Germany/g3-tones.xml"]
    );

    let own = "line1_name: \"1001\"\ndial_template: \"Standard\"\n";
    let fetcher =
        Scripted::default().answer("a", "SIP001122AABBCC.cnf", vec![Fetched::File(own.into())]);
    let mut sip = Device::new(mac(MAC), Family::of_model("7960", true));
    assert_eq!(
        boot(&mut sip, vec![srv("a")], &fetcher).await.result,
        Some(Ok(()))
    );
    let order: Vec<String> = fetcher.calls().into_iter().map(|(_, f)| f).collect();
    assert_eq!(order.last().map(String::as_str), Some("Standard.xml"));
}

#[tokio::test(start_paused = true)]
async fn sip_7960_and_7912_use_their_own_files() {
    let fetcher = Scripted::default().answer(
        "a",
        "SIPDefault.cnf",
        vec![Fetched::File(b"image_version: P0S3-8-12-00\n".to_vec())],
    );
    let mut sip = Device::new(mac(MAC), Family::of_model("7960", true));
    sip.running_load = RunningLoad::Named("P0S3-8-12-00".into());
    let b = boot(&mut sip, vec![srv("a")], &fetcher).await;
    assert_eq!(b.result, Some(Ok(())));
    let order: Vec<String> = fetcher.calls().into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        order,
        ["SIPDefault.cnf", "SIP001122AABBCC.cnf", "dialplan.xml"]
    );

    let fetcher = Scripted::default().answer("a", "XMLDefault.cnf.xml", vec![config("x")]);
    let mut small = Device::new(mac(MAC), Family::of_model("7912", false));
    let b = boot(&mut small, vec![srv("a")], &fetcher).await;
    assert_eq!(
        b.result,
        Some(Ok(())),
        "a missing profile does not stop the boot"
    );
    let order: Vec<String> = fetcher.calls().into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        order,
        [
            "SEP001122aabbcc.cnf.xml",
            "XMLDefault.cnf.xml",
            "SEPDefault.cnf",
            "gk001122aabbcc",
            "gkdefault.cfg"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn no_configuration_at_all_fails_the_boot() {
    let fetcher = Scripted::default();
    let mut phone = Device::new(mac(MAC), Family::Xml);
    let b = boot(&mut phone, vec![srv("a")], &fetcher).await;
    assert_eq!(b.result, Some(Err(BootError::NoConfig)));
}

#[tokio::test(start_paused = true)]
async fn an_sccp_gateway_fetches_its_file_then_each_analog_port_it_names() {
    // The file name holds the last 10 hex digits of the MAC; the ports are the AN names the
    // gateway's file mentions, each once.
    let skigw = "<device>\n  <product>VG224</product>\n  <port>AN2233445566A00</port>\n  \
                 <port>AN2233445566A01</port>\n  <port>AN2233445566A00</port>\n</device>\n";
    let fetcher = Scripted::default()
        .answer(
            "a",
            "SKIGW2233445566.cnf.xml",
            vec![Fetched::File(skigw.into())],
        )
        .answer(
            "a",
            "AN2233445566A00.cnf.xml",
            vec![Fetched::File(b"<x/>".to_vec())],
        );
    let mut gw = Device::new(mac("AA2233445566"), Family::SccpGateway);
    let b = boot(&mut gw, vec![srv("a")], &fetcher).await;
    assert_eq!(b.result, Some(Ok(())));
    let order: Vec<String> = fetcher.calls().into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        order,
        [
            "SKIGW2233445566.cnf.xml",
            "AN2233445566A00.cnf.xml",
            "AN2233445566A01.cnf.xml"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_mgcp_gateway_fetches_the_file_of_its_domain_name_and_fails_without_it() {
    let fetcher = Scripted::default().answer(
        "a",
        "vg320.example.com.cnf.xml",
        vec![Fetched::File(b"<device/>".to_vec())],
    );
    let mut gw = Device::new(mac("001122334455"), Family::MgcpGateway);
    gw.domain = Some("vg320.example.com".into());
    assert_eq!(
        boot(&mut gw, vec![srv("a")], &fetcher).await.result,
        Some(Ok(()))
    );
    let mut other = Device::new(mac("001122334455"), Family::MgcpGateway);
    other.domain = Some("elsewhere".into());
    assert_eq!(
        boot(&mut other, vec![srv("a")], &fetcher).await.result,
        Some(Err(BootError::NoConfig))
    );
}

#[tokio::test(start_paused = true)]
async fn soft_clients_ask_for_their_device_name_and_legacy_loads_for_the_cnf_file() {
    let fetcher = Scripted::default()
        .answer(
            "a",
            "BOBSOFT.cnf.xml",
            vec![Fetched::File(b"<device>\n</device>\n".to_vec())],
        )
        .answer("a", "SEPDefault.cnf", vec![Fetched::File(vec![1, 2, 3])]);
    let mut icm = Device::new(mac(MAC), Family::Xml);
    icm.device_name = Some("BOBSOFT".into());
    assert_eq!(
        boot(&mut icm, vec![srv("a")], &fetcher).await.result,
        Some(Ok(()))
    );
    let mut legacy = Device::new(mac(MAC), Family::Legacy);
    assert_eq!(
        boot(&mut legacy, vec![srv("a")], &fetcher).await.result,
        Some(Ok(()))
    );
    let order: Vec<String> = fetcher.calls().into_iter().map(|(_, f)| f).collect();
    assert!(order.contains(&"BOBSOFT.cnf.xml".to_string()));
    assert!(!order.contains(&"SEP001122AABBCC.cnf.xml".to_string()));
    assert_eq!(
        order[order.len() - 2..],
        ["SEP001122AABBCC.cnf", "SEPDefault.cnf"]
    );
}
