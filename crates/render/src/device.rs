//! `SEP<MAC>.cnf.xml` (and the same tree as `<Device Name>.cnf.xml` and `TAB<USER>.cnf.xml`):
//! the element tree of spec cisco-tftp.md §1.2, in the order CUCM writes it.

use phoneboot_model::{
    CallManager, CmGroup, DateTimeGroup, Device, DevicePool, Kind, Line, Protocol, Snapshot,
    SpeedDial, Urls,
};

use crate::RenderError;
use crate::xml::Xml;

/// What a device's file is made of, resolved from its references.
pub(crate) struct Context<'a> {
    pub(crate) pool: &'a DevicePool,
    pub(crate) group: &'a CmGroup,
    pub(crate) members: Vec<&'a CallManager>,
    pub(crate) date_time: &'a DateTimeGroup,
    pub(crate) urls: Urls,
}

fn missing(kind: Kind, key: &str) -> RenderError {
    RenderError::Missing {
        kind,
        key: key.to_owned(),
    }
}

pub(crate) fn group_members<'a>(
    s: &'a Snapshot,
    group: &'a CmGroup,
) -> Result<Vec<&'a CallManager>, RenderError> {
    group
        .members
        .iter()
        .map(|m| {
            s.call_managers
                .get(m)
                .ok_or_else(|| missing(Kind::CallManager, m))
        })
        .collect()
}

impl<'a> Context<'a> {
    pub(crate) fn of(s: &'a Snapshot, d: &Device) -> Result<Self, RenderError> {
        let pool = s
            .pools
            .get(&d.pool)
            .ok_or_else(|| missing(Kind::DevicePool, &d.pool))?;
        let group = s
            .cm_groups
            .get(&pool.cm_group)
            .ok_or_else(|| missing(Kind::CmGroup, &pool.cm_group))?;
        let date_time = s
            .date_time_groups
            .get(&pool.date_time)
            .ok_or_else(|| missing(Kind::DateTimeGroup, &pool.date_time))?;
        Ok(Self {
            pool,
            group,
            members: group_members(s, group)?,
            date_time,
            // Device over pool over enterprise.
            urls: d.urls.or(&pool.urls).or(&s.params.urls),
        })
    }
}

/// The lines, speed dials and dial plan a device has now: a logged-in Extension Mobility
/// user's profile if there is one, else the device's own.
pub(crate) struct Buttons<'a> {
    pub(crate) lines: &'a [Line],
    pub(crate) speed_dials: &'a [SpeedDial],
    pub(crate) dial_plan: Option<&'a str>,
}

impl<'a> Buttons<'a> {
    pub(crate) fn of(s: &'a Snapshot, d: &'a Device) -> Self {
        let profile = d
            .em_user
            .as_deref()
            .and_then(|u| s.users.get(u))
            .and_then(|u| u.profile.as_ref());
        match profile {
            Some(p) => Self {
                lines: &p.lines,
                speed_dials: &p.speed_dials,
                dial_plan: p.dial_plan.as_deref().or(d.dial_plan.as_deref()),
            },
            None => Self {
                lines: &d.lines,
                speed_dials: &d.speed_dials,
                dial_plan: d.dial_plan.as_deref(),
            },
        }
    }
}

/// `<callManagerGroup>` as in a device pool and in `XMLDefault.cnf.xml`.
pub(crate) fn call_manager_group(
    x: &mut Xml,
    group: Option<&CmGroup>,
    members: &[&CallManager],
    full: bool,
) {
    x.open("callManagerGroup", &[]);
    if let (Some(group), true) = (group, full) {
        x.leaf("name", &group.name)
            .bool("tftpDefault", group.tftp_default);
    }
    x.open("members", &[]);
    for (priority, cm) in members.iter().enumerate() {
        x.open("member", &[("priority", &priority.to_string())]);
        x.open("callManager", &[]);
        if full {
            x.leaf("name", &cm.name)
                .leaf("description", &cm.description);
        }
        x.open("ports", &[])
            .num("ethernetPhonePort", cm.sccp_port)
            .num("sipPort", cm.sip_port)
            .num("securedSipPort", cm.secure_sip_port)
            .close("ports");
        x.leaf("processNodeName", &cm.host);
        x.close("callManager").close("member");
    }
    x.close("members").close("callManagerGroup");
}

fn device_pool(x: &mut Xml, c: &Context<'_>) {
    x.open("devicePool", &[]);
    x.num("revertPriority", 0).leaf("name", &c.pool.name);
    x.open("dateTimeSetting", &[])
        .leaf("name", &c.date_time.name)
        .leaf("dateTemplate", &c.date_time.date_template)
        .leaf("timeZone", &c.date_time.time_zone);
    x.open("ntps", &[]);
    for ntp in &c.date_time.ntp {
        x.open("ntp", &[])
            .leaf("name", ntp)
            .leaf("ntpMode", "Unicast")
            .close("ntp");
    }
    x.close("ntps").close("dateTimeSetting");
    call_manager_group(x, Some(c.group), &c.members, true);
    let srst_enabled = !c.pool.srst.eq_ignore_ascii_case("Disable");
    x.open("srstInfo", &[])
        .leaf("name", &c.pool.srst)
        .leaf(
            "srstOption",
            if srst_enabled { "Enable" } else { "Disable" },
        )
        .bool("userModifiable", false)
        .leaf("ipAddr1", "")
        .num("port1", 2000)
        .leaf("sipIpAddr1", "")
        .num("sipPort1", 5060)
        .bool("isSecure", false)
        .close("srstInfo");
    x.num("connectionMonitorDuration", c.pool.connection_monitor);
    x.close("devicePool");
}

fn sip_profile(x: &mut Xml, d: &Device, b: &Buttons<'_>, c: &Context<'_>) {
    let sip_port = c.members.first().map_or(5060, |cm| cm.sip_port);
    x.open("sipProfile", &[]);
    x.open("sipProxies", &[])
        .leaf("backupProxy", "")
        .num("backupProxyPort", 5060)
        .leaf("emergencyProxy", "")
        .leaf("emergencyProxyPort", "")
        .leaf("outboundProxy", "")
        .leaf("outboundProxyPort", "")
        .bool("registerWithProxy", true)
        .close("sipProxies");
    x.open("sipCallFeatures", &[])
        .bool("cnfJoinEnabled", true)
        .leaf("callForwardURI", "x-cisco-serviceuri-cfwdall")
        .leaf("callPickupURI", "x-cisco-serviceuri-pickup")
        .leaf("callPickupListURI", "x-cisco-serviceuri-opickup")
        .leaf("callPickupGroupURI", "x-cisco-serviceuri-gpickup")
        .leaf("meetMeServiceURI", "x-cisco-serviceuri-meetme")
        .leaf("abbreviatedDialURI", "x-cisco-serviceuri-abbrdial")
        .bool("rfc2543Hold", false)
        .num("callHoldRingback", 2)
        .bool("localCfwdEnable", true)
        .bool("semiAttendedTransfer", true)
        .num("anonymousCallBlock", 2)
        .num("callerIdBlocking", 2)
        .num("dndControl", 0)
        .bool("remoteCcEnable", true)
        .close("sipCallFeatures");
    x.open("sipStack", &[])
        .num("sipInviteRetx", 6)
        .num("sipRetx", 10)
        .num("timerInviteExpires", 180)
        .num("timerRegisterExpires", 3600)
        .num("timerRegisterDelta", 5)
        .num("timerKeepAliveExpires", 120)
        .num("timerSubscribeExpires", 120)
        .num("timerSubscribeDelta", 5)
        .num("timerT1", 500)
        .num("timerT2", 4000)
        .num("maxRedirects", 70)
        .bool("remotePartyID", true)
        .leaf("userInfo", "none")
        .close("sipStack");
    x.num("autoAnswerTimer", 1)
        .bool("autoAnswerAltBehavior", false)
        .bool("autoAnswerOverride", true)
        .bool("transferOnhookEnabled", false)
        .bool("enableVad", false)
        .leaf("preferredCodec", "none")
        .num("dtmfAvtPayload", 101)
        .num("dtmfDbLevel", 3)
        .leaf("dtmfOutofBand", "avt")
        .num("kpml", 3)
        .leaf("phoneLabel", &d.description)
        .num("stutterMsgWaiting", 2)
        .bool("callStats", false)
        .num("offhookToFirstDigitTimer", 15000)
        .num("silentPeriodBetweenCallWaitingBursts", 10)
        .num("startMediaPort", 16384)
        .num("stopMediaPort", 32766)
        .bool("natEnabled", false)
        .bool("natReceivedProcessing", false)
        .leaf("natAddress", "");
    x.open("sipLines", &[]);
    for (i, line) in b.lines.iter().enumerate() {
        let button = (i + 1).to_string();
        let label = if line.label.is_empty() {
            &line.dn
        } else {
            &line.label
        };
        x.open("line", &[("button", &button), ("lineIndex", &button)])
            .num("featureID", 9)
            .leaf("featureLabel", label)
            .leaf("proxy", "USECALLMANAGER")
            .num("port", sip_port)
            .leaf("name", &line.dn)
            .leaf("displayName", &line.display_name);
        x.open("autoAnswer", &[])
            .num("autoAnswerEnabled", 0)
            .close("autoAnswer");
        x.num("callWaiting", 3)
            .leaf("authName", &line.auth_name)
            .leaf("authPassword", &line.auth_password)
            .bool("sharedLine", false)
            .num("messageWaitingLampPolicy", 3)
            .num("messageWaitingAMWI", 1)
            .leaf("messagesNumber", &line.voicemail)
            .num("ringSettingIdle", 4)
            .num("ringSettingActive", 5)
            .leaf("contact", &line.dn);
        x.open("forwardCallInfoDisplay", &[])
            .bool("callerName", true)
            .bool("callerNumber", false)
            .bool("redirectedNumber", false)
            .bool("dialedNumber", true)
            .close("forwardCallInfoDisplay");
        x.num("maxNumCalls", 4).num("busyTrigger", 2).close("line");
    }
    for (i, sd) in b.speed_dials.iter().enumerate() {
        let button = (b.lines.len() + i + 1).to_string();
        let label = if sd.label.is_empty() {
            &sd.number
        } else {
            &sd.label
        };
        x.open("line", &[("button", &button)])
            .num("featureID", 2)
            .leaf("featureLabel", label)
            .leaf("speedDialNumber", &sd.number)
            .num("featureOptionMask", 0)
            .close("line");
    }
    x.close("sipLines");
    x.leaf("externalNumberMask", "")
        .num("voipControlPort", sip_port)
        .num("dscpForAudio", 184)
        .num("dscpVideo", 136)
        .num("ringSettingBusyStationPolicy", 0);
    x.leaf(
        "dialTemplate",
        &b.dial_plan
            .map(|p| format!("DR{p}.xml"))
            .unwrap_or_default(),
    );
    x.leaf(
        "softKeyFile",
        &d.softkeys
            .as_deref()
            .map(|t| format!("SK{t}.xml"))
            .unwrap_or_default(),
    );
    x.close("sipProfile");
}

fn urls(x: &mut Xml, u: &Urls) {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    x.leaf("authenticationURL", &v(&u.authentication))
        .leaf("directoryURL", &v(&u.directory))
        .leaf("idleURL", &v(&u.idle))
        .leaf("informationURL", &v(&u.information))
        .leaf("messagesURL", &v(&u.messages))
        .leaf("proxyServerURL", &v(&u.proxy_server))
        .leaf("servicesURL", &v(&u.services))
        .num("idleTimeout", u.idle_timeout.unwrap_or(0));
}

/// The firmware load a device's file names: its own, else its model's default.
pub fn load_of<'s>(s: &'s Snapshot, d: &'s Device) -> Option<&'s str> {
    d.load.as_deref().or_else(|| {
        s.catalogue
            .get(&d.model)
            .and_then(|m| m.default_load(d.protocol))
    })
}

/// The whole file, with the stamp mark in place.
pub(crate) fn cnf_xml(s: &Snapshot, d: &Device) -> Result<String, RenderError> {
    let c = Context::of(s, d)?;
    let b = Buttons::of(s, d);
    let load = load_of(s, d).unwrap_or("");
    let mut x = Xml::document();
    x.open("device", &[]);
    x.bool("fullConfig", true)
        .leaf("deviceProtocol", &d.protocol.to_string())
        .leaf("sshUserId", &s.params.ssh_user)
        .leaf("sshPassword", &s.params.ssh_password)
        .num("ipAddressMode", 0)
        .bool("allowAutoConfig", true)
        .bool("dadEnable", true)
        .num("ipPreferenceModeControl", 0);
    device_pool(&mut x, &c);
    if d.protocol == Protocol::Sip {
        sip_profile(&mut x, d, &b, &c);
        x.leaf(
            "featurePolicyFile",
            &d.feature_policy
                .as_deref()
                .map(|p| format!("FP{p}.xml"))
                .unwrap_or_default(),
        );
        x.num("MissedCallLoggingOption", 10);
    }
    x.open("commonProfile", &[])
        .leaf("phonePassword", "")
        .bool("backgroundImageAccess", true)
        .num("callLogBlfEnabled", 2)
        .close("commonProfile");
    x.leaf("loadInformation", load);
    if !d.vendor_config.is_empty() {
        x.open("vendorConfig", &[]);
        for (key, value) in &d.vendor_config {
            x.leaf(key, value);
        }
        x.close("vendorConfig");
    }
    x.stamp();
    x.open("userLocale", &[])
        .leaf("name", &c.pool.user_locale)
        .num("uid", 1)
        .leaf("langCode", &c.pool.lang_code)
        .leaf("version", "")
        .leaf("winCharSet", "utf-8")
        .close("userLocale");
    x.leaf("networkLocale", &c.pool.network_locale);
    x.open("networkLocaleInfo", &[])
        .leaf("name", &c.pool.network_locale)
        .num("uid", 64)
        .leaf("version", "")
        .close("networkLocaleInfo");
    x.num("deviceSecurityMode", d.security_mode.code());
    urls(&mut x, &c.urls);
    x.num("dscpForSCCPPhoneConfig", 96)
        .num("dscpForSCCPPhoneServices", 0)
        .num("dscpForCm2Dvce", 96)
        .num(
            "transportLayerProtocol",
            if d.protocol == Protocol::Sip { 2 } else { 4 },
        )
        .num("capfAuthMode", 0)
        .leaf("certHash", "")
        .bool("encrConfig", false)
        .leaf(
            "userId",
            d.em_user.as_deref().or(d.owner.as_deref()).unwrap_or(""),
        )
        .leaf("ownerId", d.owner.as_deref().unwrap_or(""));
    x.close("device");
    Ok(x.finish())
}

/// The `SEP<MAC>.cnf.xml.sgn` of a phone in an encrypted security profile (spec §1.10): only
/// what it needs to fetch and open its `.enc.sgn` — the load, how to reach CAPF, the hash of
/// its own certificate and `encrConfig`. phoneboot runs no CAPF, so `capfList` is empty.
pub(crate) fn encrypted_stub(s: &Snapshot, d: &Device, cert_hash: &str) -> String {
    let mut x = Xml::document();
    x.open("device", &[]);
    x.bool("fullConfig", false)
        .num("ipAddressMode", 0)
        .leaf("loadInformation", load_of(s, d).unwrap_or(""))
        .num("capfAuthMode", 0)
        .open("capfList", &[])
        .close("capfList")
        .leaf("certHash", cert_hash)
        .bool("encrConfig", true);
    x.close("device");
    x.finish()
}

/// `XMLDefault.cnf.xml`: the default call manager group and every model's default load.
pub(crate) fn xml_default(s: &Snapshot) -> Result<String, RenderError> {
    let group = s.cm_groups.iter().find(|g| g.tftp_default);
    let members = match group {
        Some(g) => group_members(s, g)?,
        None => Vec::new(),
    };
    let protocol = s.params.auto_registration_protocol;
    let mut x = Xml::bare();
    x.open("Default", &[]);
    call_manager_group(&mut x, group, &members, false);
    for model in s.catalogue.iter().filter(|m| m.xml) {
        let load = model
            .default_load(protocol)
            .or_else(|| model.loads.values().next().map(String::as_str))
            .unwrap_or("");
        x.leaf_with(
            &format!("loadInformation{}", model.code),
            &[("model", &model.product)],
            load,
        );
    }
    urls(&mut x, &s.params.urls);
    x.close("Default");
    Ok(x.finish())
}
