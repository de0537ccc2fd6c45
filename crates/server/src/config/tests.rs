//! The configuration's layers, defaults and refusals, each named by the key it is about.

use super::*;

#[test]
fn defaults_are_valid_and_listen_dual_stack_on_69() {
    let c = Config::from_layers(Settings::default(), Settings::default()).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.tftp_listen, ["[::]:69".parse().unwrap()]);
    assert_eq!(c.max_serving_count, 200);
}

#[test]
fn flags_override_the_file() {
    let file: Settings = toml::from_str(
        "root = \"/srv\"\n[tftp]\nmax_serving_count = 50\nlisten = [\"127.0.0.1:6969\"]\n",
    )
    .unwrap();
    let c = Config::from_layers(file, tftp(|t| t.max_serving_count = Some(70))).unwrap();
    assert_eq!(c.max_serving_count, 70);
    assert_eq!(c.root, PathBuf::from("/srv"));
    assert_eq!(c.tftp_listen, ["127.0.0.1:6969".parse().unwrap()]);
    assert_eq!(
        c.tftp_fallback, None,
        "a configured address never falls back"
    );
}

#[test]
fn the_admission_settings_come_from_the_file_and_zero_turns_queue_and_guard_off() {
    let file: Settings = toml::from_str(
        "[tftp]\nqueue_length = 0\nqueue_wait_ms = 300\nunanswered_grace_ms = 20\n\
         max_unanswered = 64\nsource_share_percent = 50\nharvest_burst = 0\n\
         min_timeout_ms = 30\n",
    )
    .unwrap();
    let c = Config::from_layers(file, Settings::default()).unwrap();
    assert_eq!(c.admission.queue_length, 0);
    assert_eq!(c.admission.queue_wait, Duration::from_millis(300));
    assert_eq!(c.admission.unanswered_grace, Duration::from_millis(20));
    assert_eq!(c.admission.max_unanswered, 64);
    assert_eq!(c.admission.source_share_percent, 50);
    assert_eq!(c.harvest.burst, 0);
    assert_eq!(c.retry.min_timeout, Duration::from_millis(30));
}

#[test]
fn the_streaming_threshold_comes_from_the_file_and_a_flag_overrides_it() {
    assert_eq!(Config::default().stream_above_bytes, 1 << 20);
    let file: Settings = toml::from_str("[tftp]\nstream_above_bytes = 0\n").unwrap();
    let c = Config::from_layers(file.clone(), Settings::default()).unwrap();
    assert_eq!(c.stream_above_bytes, 0, "0 streams every file");
    let c = Config::from_layers(file, tftp(|t| t.stream_above_bytes = Some(4096))).unwrap();
    assert_eq!(c.stream_above_bytes, 4096);
}

#[test]
fn single_port_mode_is_off_unless_asked_for() {
    assert!(!Config::default().single_port);
    let file: Settings = toml::from_str("[tftp]\nsingle_port = true\n").unwrap();
    assert!(
        Config::from_layers(file, Settings::default())
            .unwrap()
            .single_port
    );
    let wrong = toml::from_str::<Settings>("[tftp]\nsingle_port = \"yes\"\n").unwrap_err();
    assert!(wrong.message().contains("bool"), "{}", wrong.message());
}

#[test]
fn unknown_keys_in_the_file_are_rejected() {
    let err = toml::from_str::<Settings>("[tftp]\nmax_serving_cnt = 5\n").unwrap_err();
    assert!(
        err.message().contains("max_serving_cnt"),
        "{}",
        err.message()
    );
}

/// A command-line layer with some `[tftp]` values set.
fn tftp(set: impl FnOnce(&mut TftpSection)) -> Settings {
    let mut layer = Settings::default();
    set(&mut layer.tftp);
    layer
}

#[test]
fn wrong_values_name_the_option() {
    let cases: Vec<(Settings, &str)> = vec![
        (
            tftp(|t| t.max_serving_count = Some(0)),
            "tftp.max_serving_count",
        ),
        (tftp(|t| t.max_blksize = Some(65_465)), "tftp.max_blksize"),
        (
            tftp(|t| t.listen = Some(vec!["localhost:69".into()])),
            "tftp.listen",
        ),
        (tftp(|t| t.rollover = Some("2".into())), "tftp.rollover"),
        (tftp(|t| t.retries = Some(0)), "tftp.retries"),
        (tftp(|t| t.timeout_ms = Some(5)), "tftp.timeout_ms"),
        (tftp(|t| t.min_timeout_ms = Some(0)), "tftp.min_timeout_ms"),
        (
            tftp(|t| t.min_timeout_ms = Some(1500)),
            "tftp.min_timeout_ms",
        ),
        (
            tftp(|t| t.queue_length = Some(2_000_000)),
            "tftp.queue_length",
        ),
        (
            tftp(|t| t.queue_wait_ms = Some(60_000)),
            "tftp.queue_wait_ms",
        ),
        (
            tftp(|t| t.unanswered_grace_ms = Some(0)),
            "tftp.unanswered_grace_ms",
        ),
        (tftp(|t| t.max_unanswered = Some(0)), "tftp.max_unanswered"),
        (
            tftp(|t| t.source_share_percent = Some(0)),
            "tftp.source_share_percent",
        ),
        (
            tftp(|t| {
                t.harvest_burst = Some(10);
                t.harvest_per_minute = Some(0);
            }),
            "tftp.harvest_per_minute",
        ),
    ];
    for (flags, option) in cases {
        let err = Config::from_layers(Settings::default(), flags).unwrap_err();
        assert_eq!(err.option, option, "{err}");
    }
}

#[test]
fn a_flag_layer_wins_field_by_field() {
    let file = Settings {
        root: Some("/file".into()),
        case_insensitive: Some(true),
        ..tftp(|t| {
            t.retries = Some(3);
            t.busy_message = Some("file".into());
        })
    };
    let flags = Settings {
        case_insensitive: Some(false),
        ..tftp(|t| t.retries = Some(7))
    };
    let c = Config::from_layers(file, flags).unwrap();
    assert_eq!(c.root, PathBuf::from("/file"));
    assert!(!c.case_insensitive);
    assert_eq!(c.retry.max_retries, 7);
    assert_eq!(c.busy_message, "file");
}

#[test]
fn listen_accepts_the_usual_spellings() {
    assert_eq!(
        parse_listen("127.0.0.1", 69).unwrap(),
        "127.0.0.1:69".parse().unwrap()
    );
    assert_eq!(
        parse_listen("::1", 69).unwrap(),
        "[::1]:69".parse().unwrap()
    );
    assert_eq!(
        parse_listen(":6969", 69).unwrap(),
        "[::]:6969".parse().unwrap()
    );
    assert!(parse_listen("nonsense", 69).is_err());
}

#[test]
fn admin_listener_can_be_turned_off() {
    let mut flags = Settings::default();
    flags.admin.listen = Some("off".into());
    assert_eq!(
        Config::from_layers(Settings::default(), flags)
            .unwrap()
            .admin_listen,
        None
    );
}

#[test]
fn an_admin_listener_off_loopback_is_refused_unless_allowed_behind_tls() {
    let mut flags = Settings::default();
    flags.admin.listen = Some("0.0.0.0:6990".into());
    let e = Config::from_layers(Settings::default(), flags.clone()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("[admin] listen") && text.contains("allow_plain_remote"),
        "{text}"
    );
    flags.admin.allow_plain_remote = Some(true);
    let config = Config::from_layers(Settings::default(), flags).unwrap();
    assert_eq!(config.admin_listen, Some("0.0.0.0:6990".parse().unwrap()));
    let mut flags = Settings::default();
    flags.admin.listen = Some("[::1]:7000".into());
    assert!(Config::from_layers(Settings::default(), flags).is_ok());
    // With a certificate, any address; a certificate without its key is named.
    let mut flags = Settings::default();
    flags.admin.listen = Some("0.0.0.0:6990".into());
    flags.admin.tls_cert = Some("/etc/phoneboot/admin.crt".into());
    let e = Config::from_layers(Settings::default(), flags.clone()).unwrap_err();
    assert!(e.to_string().contains("tls_key"), "{e}");
    flags.admin.tls_key = Some("/etc/phoneboot/admin.key".into());
    assert!(
        Config::from_layers(Settings::default(), flags)
            .unwrap()
            .admin_tls
            .is_some()
    );
}
