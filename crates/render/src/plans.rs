//! Dial plans (`DR<name>.xml`, `<name>.xml`), softkey templates (`SK<name>.xml`) and feature
//! policies (`FP<name>.xml`): spec cisco-tftp.md §1.7, §1.8 and the parser rules of §9.

use phoneboot_model::{
    DialPlan, FEATURES, FeaturePolicy, FieldError, Route, RuleUser, SOFTKEYS, SoftkeyTemplate,
};

use crate::RenderError;
use crate::xml::Xml;

/// Cisco's parser refuses a dial plan of this size or more, and then runs with none.
pub const MAX_DIAL_PLAN_BYTES: usize = 8192;

pub(crate) fn dial_plan(plan: &DialPlan) -> Result<String, RenderError> {
    let mut x = Xml::bare();
    x.open("DIALTEMPLATE", &[]);
    x.stamp();
    for rule in &plan.rules {
        // Only the attributes the phone knows, in double quotes: one unknown attribute makes
        // it discard the whole plan.
        let timeout = rule.timeout.map(|t| t.to_string());
        let line = rule.line.map(|l| l.to_string());
        let tones = rule.tones.join(",");
        let mut attrs: Vec<(&str, &str)> = vec![("MATCH", &rule.pattern)];
        if let Some(t) = &timeout {
            attrs.push(("Timeout", t));
        }
        if let Some(user) = rule.user {
            attrs.push((
                "User",
                match user {
                    RuleUser::Phone => "Phone",
                    RuleUser::Ip => "IP",
                },
            ));
        }
        if let Some(rewrite) = &rule.rewrite {
            attrs.push(("Rewrite", rewrite));
        }
        if let Some(l) = &line {
            attrs.push(("Line", l));
        }
        if let Some(route) = rule.route {
            attrs.push((
                "Route",
                match route {
                    Route::Default => "Default",
                    Route::Emergency => "Emergency",
                    Route::Fqdn => "FQDN",
                },
            ));
        }
        if !tones.is_empty() {
            attrs.push(("Tone", &tones));
        }
        x.empty("TEMPLATE", &attrs);
    }
    x.close("DIALTEMPLATE");
    let text = x.finish();
    // The stamp mark is shorter than any stamp by less than 64 bytes; leave room for it.
    if text.len() + 64 >= MAX_DIAL_PLAN_BYTES {
        return Err(RenderError::Field(FieldError::new(
            "rules",
            format!(
                "the dial plan {:?} would be {} bytes; phones refuse a dial plan of {} bytes \
                 or more and then run with none: split it or shorten rules",
                plan.name,
                text.len() + 47,
                MAX_DIAL_PLAN_BYTES
            ),
        )));
    }
    Ok(text)
}

pub(crate) fn softkeys(t: &SoftkeyTemplate) -> String {
    let mut x = Xml::bare();
    x.open("softKeyCfg", &[]);
    x.stamp();
    x.open("typeSoftKey", &[]);
    // Define every key the template uses, in the catalogue's order.
    for (id, tag, event, help) in SOFTKEYS {
        if t.sets.iter().any(|s| s.keys.iter().any(|k| k == id)) {
            x.open("softKeyDef", &[("keyID", id)])
                .num("tag", tag)
                .num("eventID", event)
                .num("helpID", help)
                .close("softKeyDef");
        }
    }
    x.close("typeSoftKey");
    x.open("softKeySets", &[]);
    for set in &t.sets {
        x.open("softKeySet", &[("id", &set.id)]);
        for key in &set.keys {
            x.empty("softKey", &[("keyID", key)]);
        }
        x.close("softKeySet");
    }
    x.close("softKeySets").close("softKeyCfg");
    x.finish()
}

pub(crate) fn feature_policy(p: &FeaturePolicy) -> String {
    let mut x = Xml::bare();
    x.open("featurePolicy", &[("name", &p.name)]);
    x.stamp();
    for (id, enable) in &p.features {
        let name = FEATURES
            .iter()
            .find(|(f, _)| f == id)
            .map_or("", |(_, n)| n);
        x.open("featureDef", &[("name", name)])
            .num("id", id)
            .bool("enable", *enable)
            .close("featureDef");
    }
    x.close("featurePolicy");
    x.finish()
}
