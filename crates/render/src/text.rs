//! The text formats: `SIPDefault.cnf` / `SIP<MAC>.cnf` for 7940/7960 SIP firmware (spec
//! §1.5), and the `#txt` profiles of the 7902/7905/7912 (spec §1.6).
//!
//! Both are `name: value` lines; strings are double-quoted and the phone knows no escape, so a
//! value holding `"` cannot be written and is refused.

use std::fmt::Write as _;

use phoneboot_model::{Device, FieldError, Profile, Protocol, Snapshot};

use crate::RenderError;
use crate::device::{Buttons, Context, group_members};

/// Lines a 7940/7960 SIP load configures.
const SIP79_LINES: usize = 6;

fn quoted(field: &str, value: &str) -> Result<String, RenderError> {
    if value.contains('"') {
        return Err(RenderError::Field(FieldError::new(
            field,
            "contains '\"', which the 7940/7960 SIP configuration format cannot carry",
        )));
    }
    Ok(format!("\"{value}\""))
}

/// `SIPDefault.cnf`: the enterprise settings every 7940/7960 on SIP firmware loads first.
pub(crate) fn sip_default(s: &Snapshot) -> Result<String, RenderError> {
    let mut out = String::from("# SIPDefault.cnf, built by phoneboot\n");
    let group = s.cm_groups.iter().find(|g| g.tftp_default);
    if let Some(g) = group {
        for (i, cm) in group_members(s, g)?.iter().enumerate() {
            let n = i + 1;
            let _ = writeln!(out, "proxy{n}_address: {}", quoted("host", &cm.host)?);
            let _ = writeln!(out, "proxy{n}_port: {}", cm.sip_port);
        }
    }
    if let Some(load) = s
        .catalogue
        .get("7960")
        .and_then(|m| m.default_load(Protocol::Sip))
    {
        let _ = writeln!(out, "image_version: {}", quoted("load", load)?);
    }
    out.push_str(concat!(
        "proxy_register: 1\n",
        "timer_register_expires: 3600\n",
        "preferred_codec: g711ulaw\n",
        "dtmf_outofband: avt\n",
        "dtmf_avt_payload: 101\n",
        "tftp_cfg_dir: \"./\"\n",
        "sync: 1\n",
    ));
    if let Some(services) = &s.params.urls.services {
        let _ = writeln!(out, "services_url: {}", quoted("urls.services", services)?);
    }
    if let Some(directory) = &s.params.urls.directory {
        let _ = writeln!(
            out,
            "directory_url: {}",
            quoted("urls.directory", directory)?
        );
    }
    Ok(out)
}

/// `SIP<MAC>.cnf`: one phone's settings, overriding `SIPDefault.cnf`.
pub(crate) fn sip_cnf(s: &Snapshot, d: &Device) -> Result<String, RenderError> {
    let c = Context::of(s, d)?;
    let b = Buttons::of(s, d);
    let mut out = format!("# SIP{}.cnf for {}, built by phoneboot\n", d.mac, d.name);
    if b.lines.len() > SIP79_LINES {
        return Err(RenderError::Field(FieldError::new(
            "lines",
            format!("a 7940/7960 on SIP firmware has at most {SIP79_LINES} lines"),
        )));
    }
    let load = d.load.as_deref().or_else(|| {
        s.catalogue
            .get(&d.model)
            .and_then(|m| m.default_load(d.protocol))
    });
    if let Some(load) = load {
        let _ = writeln!(out, "image_version: {}", quoted("load", load)?);
    }
    for (i, cm) in c.members.iter().enumerate() {
        let n = i + 1;
        let _ = writeln!(out, "proxy{n}_address: {}", quoted("host", &cm.host)?);
        let _ = writeln!(out, "proxy{n}_port: {}", cm.sip_port);
    }
    let _ = writeln!(
        out,
        "phone_label: {}",
        quoted("description", &d.description)?
    );
    for (i, line) in b.lines.iter().enumerate() {
        let n = i + 1;
        let field = |f: &str| format!("lines[{i}].{f}");
        let _ = writeln!(out, "line{n}_name: {}", quoted(&field("dn"), &line.dn)?);
        let _ = writeln!(
            out,
            "line{n}_authname: {}",
            quoted(&field("auth_name"), &line.auth_name)?
        );
        let _ = writeln!(
            out,
            "line{n}_password: {}",
            quoted(&field("auth_password"), &line.auth_password)?
        );
        let _ = writeln!(
            out,
            "line{n}_displayname: {}",
            quoted(&field("display_name"), &line.display_name)?
        );
        let short = if line.label.is_empty() {
            &line.dn
        } else {
            &line.label
        };
        let _ = writeln!(
            out,
            "line{n}_shortname: {}",
            quoted(&field("label"), short)?
        );
    }
    for (i, sd) in b.speed_dials.iter().enumerate() {
        let n = i + 1;
        let _ = writeln!(out, "speed_line{n}: {}", quoted("speed_dials", &sd.number)?);
        let _ = writeln!(out, "speed_label{n}: {}", quoted("speed_dials", &sd.label)?);
    }
    if let Some(plan) = b.dial_plan {
        let _ = writeln!(out, "dial_template: {}", quoted("dial_plan", plan)?);
    }
    if let Some(ntp) = c.date_time.ntp.first() {
        let _ = writeln!(out, "sntp_server: {}", quoted("ntp", ntp)?);
        out.push_str("sntp_mode: unicast\n");
    }
    if let Some(messages) = c.urls.messages.as_deref().filter(|m| !m.is_empty()) {
        let _ = writeln!(out, "messages_uri: {}", quoted("urls.messages", messages)?);
    }
    Ok(out)
}

/// The `#txt` profile (`ff/ld/gk<mac>`), the text form Cisco's `cfgfmt` converts to the
/// binary the phone reads. Served as text unless the operator configures a converter; the
/// parameter names below are the documented ones (spec §1.6); which the phone requires is
/// not verified against a device.
pub(crate) fn profile(s: &Snapshot, d: &Device, p: Profile) -> Result<String, RenderError> {
    let c = Context::of(s, d)?;
    let b = Buttons::of(s, d);
    let mut out = format!(
        "#txt\n# {}{} for {} ({}), built by phoneboot\n",
        p.prefix(),
        d.mac.lower(),
        d.name,
        d.model
    );
    let plain = |field: &str, value: &str| -> Result<(), RenderError> {
        if value.contains([':', '#']) {
            return Err(RenderError::Field(FieldError::new(
                field,
                "contains ':' or '#', which the phone's text profile cannot carry",
            )));
        }
        Ok(())
    };
    out.push_str("UIPassword:0\n");
    let load = d.load.as_deref().or_else(|| {
        s.catalogue
            .get(&d.model)
            .and_then(|m| m.default_load(d.protocol))
    });
    if let Some(load) = load {
        let _ = writeln!(out, "# firmware {load}");
    }
    if d.protocol == Protocol::Sip {
        if let Some(cm) = c.members.first() {
            let _ = writeln!(out, "Proxy:{}", cm.host);
        }
        if let Some(line) = b.lines.first() {
            plain("lines[0].display_name", &line.display_name)?;
            plain("lines[0].auth_name", &line.auth_name)?;
            plain("lines[0].auth_password", &line.auth_password)?;
            let _ = writeln!(out, "UID:{}", line.dn);
            let _ = writeln!(out, "DisplayName:{}", line.display_name);
            let _ = writeln!(out, "LoginID:{}", line.auth_name);
            let _ = writeln!(out, "PWD:{}", line.auth_password);
        }
    }
    Ok(out)
}
