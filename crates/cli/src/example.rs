//! `phoneboot init [--example]`: a new database, and optionally a small example cluster so a
//! newcomer sees real files at once.

use std::collections::BTreeMap;

use anyhow::bail;
use clap::Args;
use phoneboot_model::*;
use phoneboot_server::db::Database;
use phoneboot_store::{Create, Mode, Write};

use crate::database::DbArgs;

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Fill the database with an example cluster: two call managers, a group, a pool, a dial
    /// plan, a softkey template, users, and phones of several families.
    #[arg(long)]
    example: bool,
    #[command(flatten)]
    db: DbArgs,
}

pub(crate) async fn run(args: InitArgs) -> anyhow::Result<()> {
    let location = args.db.config()?.location;
    let existed = location.sqlite_path().is_none_or(std::path::Path::exists);
    let db = args.db.open(Create::IfMissing).await?;
    let result = fill(&db, &args, existed).await;
    db.close().await?;
    result
}

async fn fill(db: &Database, args: &InitArgs, existed: bool) -> anyhow::Result<()> {
    let location = db.location().clone();
    if !args.example {
        if existed {
            outln!("device database ready: {location} (it existed already)");
        } else {
            outln!("created the device database {location}");
        }
        return Ok(());
    }
    if db.store().head().await? != 0 {
        bail!(
            "{location} already holds data; the example goes into a new database \
             (--database NEW.db)"
        );
    }
    let objects = example();
    let count = objects.len();
    db.apply(
        objects.into_iter().map(Write::Insert).collect(),
        Mode::Commit,
    )
    .await
    .map_err(|refused| {
        let reasons: Vec<String> = refused.0.iter().map(|(_, e)| e.to_string()).collect();
        anyhow::anyhow!("the example cluster was refused: {}", reasons.join("; "))
    })?;
    outln!("example cluster written to {location} ({count} objects)");
    // The default database needs no flag; another one is named in every hint.
    let flag = if args.db.named() {
        format!(" --database {location}")
    } else {
        String::new()
    };
    outln!("try: phoneboot device list{flag}");
    outln!("     phoneboot render SEP001122334401.cnf.xml{flag}");
    outln!("     phoneboot serve{flag}");
    Ok(())
}

fn line(dn: &str, name: &str, auth: &str) -> Line {
    Line {
        dn: dn.into(),
        label: dn.into(),
        display_name: name.into(),
        auth_name: auth.into(),
        auth_password: format!("{auth}-secret"),
        voicemail: "8000".into(),
    }
}

fn mac(text: &str) -> Mac {
    text.parse().unwrap_or(Mac::new([0; 6]))
}

/// The example cluster.
pub(crate) fn example() -> Vec<Object> {
    let base = "http://192.0.2.11:8080/ccmcip";
    let params = Params {
        urls: Urls {
            authentication: Some(format!("{base}/authenticate.jsp")),
            directory: Some(format!("{base}/xmldirectory.jsp")),
            information: Some(format!("{base}/GetTelecasterHelpText.jsp")),
            services: Some(format!("{base}/getservicesmenu.jsp")),
            ..Urls::default()
        },
        ..Params::default()
    };
    let mut cm1 = CallManager::new("cm1", "192.0.2.11");
    cm1.description = "primary".into();
    let mut cm2 = CallManager::new("cm2", "192.0.2.12");
    cm2.description = "secondary".into();
    let plan = DialPlan {
        name: "Standard".into(),
        rules: vec![
            DialRule {
                timeout: Some(0),
                user: Some(RuleUser::Phone),
                ..DialRule::new("1...")
            },
            DialRule {
                timeout: Some(0),
                user: Some(RuleUser::Phone),
                tones: vec!["Bellcore-Outside".into()],
                ..DialRule::new("9,1..........")
            },
            DialRule {
                timeout: Some(0),
                user: Some(RuleUser::Phone),
                route: Some(Route::Emergency),
                ..DialRule::new("911")
            },
            DialRule {
                timeout: Some(10),
                ..DialRule::new("*")
            },
        ],
    };
    let set = |id: &str, keys: &[&str]| SoftkeySet {
        id: id.into(),
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
    };
    let softkeys = SoftkeyTemplate {
        name: "Standard".into(),
        sets: vec![
            set("On Hook", &["Redial", "NewCall", "CFwdAll"]),
            set("Off Hook", &["Redial", "EndCall"]),
            set("Ring In", &["Answer", "iDivert"]),
            set("Connected", &["Hold", "EndCall", "Transfer", "Confrn"]),
            set("On Hold", &["Resume", "NewCall", "EndCall"]),
        ],
    };
    let policy = FeaturePolicy {
        name: "Default".into(),
        features: (1..=9)
            .map(|id| (id, id != 8))
            .collect::<BTreeMap<u8, bool>>(),
    };
    let alice = User {
        id: "alice".into(),
        name: "Alice Example".into(),
        profile: Some(MobilityProfile {
            lines: vec![line("2001", "Alice (mobile)", "alice")],
            speed_dials: vec![SpeedDial {
                number: "1002".into(),
                label: "Bob".into(),
            }],
            dial_plan: Some("Standard".into()),
        }),
    };
    let bob = User {
        id: "bob".into(),
        name: "Bob Example".into(),
        profile: None,
    };

    let mut p8841 = Device::phone(mac("001122334401"), "8841", Protocol::Sip, "Default");
    p8841.description = "Alice's desk".into();
    p8841.owner = Some("alice".into());
    p8841.lines = vec![line("1001", "Alice", "alice")];
    p8841.speed_dials = vec![SpeedDial {
        number: "1002".into(),
        label: "Bob".into(),
    }];
    p8841.dial_plan = Some("Standard".into());
    p8841.softkeys = Some("Standard".into());
    p8841.feature_policy = Some("Default".into());
    p8841.vendor_config = [("pcPort", "0"), ("webAccess", "0"), ("sshAccess", "1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut p7941 = Device::phone(mac("001122334402"), "7941", Protocol::Sccp, "Default");
    p7941.description = "Bob's desk".into();
    p7941.owner = Some("bob".into());
    p7941.lines = vec![line("1002", "Bob", "bob")];
    let mut p7960 = Device::phone(mac("001122334403"), "7960", Protocol::Sip, "Default");
    p7960.description = "Lobby".into();
    p7960.lines = vec![line("1003", "Lobby", "lobby")];
    p7960.dial_plan = Some("Standard".into());
    let mut p7912 = Device::phone(mac("001122334404"), "7912", Protocol::Sccp, "Default");
    p7912.description = "Warehouse".into();
    p7912.lines = vec![line("1004", "Warehouse", "warehouse")];
    let mut icm = Device::phone(
        mac("001122334405"),
        "IPCommunicator",
        Protocol::Sccp,
        "Default",
    );
    icm.name = "BOBSOFTPHONE".into();
    icm.owner = Some("bob".into());
    icm.lines = vec![line("1005", "Bob (soft)", "bob")];
    let mut tablet = Device::phone(
        mac("001122334406"),
        "JabberTablet",
        Protocol::Sip,
        "Default",
    );
    tablet.name = "TABALICE".into();
    tablet.owner = Some("alice".into());
    tablet.lines = vec![line("1006", "Alice (tablet)", "alice")];
    tablet.softkeys = Some("Standard".into());
    let mut conference = Device::phone(mac("001122334407"), "7935", Protocol::Sccp, "Default");
    conference.description = "Board room".into();

    vec![
        Object::Params(params),
        Object::CallManager(cm1),
        Object::CallManager(cm2),
        Object::CmGroup(CmGroup {
            name: "G1".into(),
            members: vec!["cm1".into(), "cm2".into()],
            tftp_default: true,
        }),
        Object::DateTimeGroup(DateTimeGroup {
            name: "CMLocal".into(),
            date_template: "D/M/Y".into(),
            time_zone: "W. Europe Standard/Daylight Time".into(),
            ntp: vec!["192.0.2.10".into()],
        }),
        Object::DevicePool(DevicePool::new("Default", "G1", "CMLocal")),
        Object::DialPlan(plan),
        Object::Softkeys(softkeys),
        Object::FeaturePolicy(policy),
        Object::User(alice),
        Object::User(bob),
        Object::Device(p8841),
        Object::Device(p7941),
        Object::Device(p7960),
        Object::Device(p7912),
        Object::Device(icm),
        Object::Device(tablet),
        Object::Device(conference),
    ]
}
