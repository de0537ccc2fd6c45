//! The secret values of the database — SIP passwords and the phones' SSH password — in one
//! place, so that showing, listing and exporting without them cannot miss one.

use crate::objects::Line;
use crate::snapshot::Object;

/// What a shown secret looks like instead of itself.
pub const MASK: &str = "********";

impl Object {
    /// Replaces every secret that is set by `with` (an empty `with` leaves the object as if
    /// it had none).
    pub fn mask_secrets(&mut self, with: &str) {
        let mask = |s: &mut String| {
            if !s.is_empty() {
                with.clone_into(s);
            }
        };
        match self {
            Self::Device(d) => d.lines.iter_mut().for_each(|l| mask(&mut l.auth_password)),
            Self::User(u) => {
                if let Some(p) = &mut u.profile {
                    p.lines.iter_mut().for_each(|l| mask(&mut l.auth_password));
                }
            }
            Self::Params(p) => mask(&mut p.ssh_password),
            _ => {}
        }
    }

    /// True when some secret is set.
    pub fn has_secrets(&self) -> bool {
        let mut masked = self.clone();
        masked.mask_secrets("");
        masked != *self
    }

    /// Takes the secrets `old` holds for the same places — a line's password by its
    /// directory number — where this object has none: what an import of a file exported
    /// without secrets does with the objects it replaces.
    pub fn keep_secrets_of(&mut self, old: &Self) {
        fn lines(new: &mut [Line], old: &[Line]) {
            for line in new.iter_mut().filter(|l| l.auth_password.is_empty()) {
                if let Some(was) = old.iter().find(|o| o.dn == line.dn) {
                    line.auth_password.clone_from(&was.auth_password);
                }
            }
        }
        match (self, old) {
            (Self::Device(d), Self::Device(o)) => lines(&mut d.lines, &o.lines),
            (Self::User(u), Self::User(o)) => {
                if let (Some(p), Some(q)) = (&mut u.profile, &o.profile) {
                    lines(&mut p.lines, &q.lines);
                }
            }
            (Self::Params(p), Self::Params(o)) if p.ssh_password.is_empty() => {
                p.ssh_password.clone_from(&o.ssh_password);
            }
            _ => {}
        }
    }
}

impl Object {
    /// Takes back from `old` every secret this object holds as `mask` (what it was shown
    /// as): a client that sends an object back as it read it keeps its secrets. A line's
    /// password is matched by its directory number; a mask with no secret behind it becomes
    /// empty, never the mask itself.
    pub fn unmask_secrets(&mut self, old: &Self, mask: &str) {
        fn lines(new: &mut [Line], old: &[Line], mask: &str) {
            for line in new.iter_mut().filter(|l| l.auth_password == mask) {
                line.auth_password = old
                    .iter()
                    .find(|o| o.dn == line.dn)
                    .map(|o| o.auth_password.clone())
                    .unwrap_or_default();
            }
        }
        match (self, old) {
            (Self::Device(d), Self::Device(o)) => lines(&mut d.lines, &o.lines, mask),
            (Self::Device(d), _) => lines(&mut d.lines, &[], mask),
            (Self::User(u), old) => {
                let was = match old {
                    Self::User(o) => o.profile.as_ref().map(|p| p.lines.as_slice()),
                    _ => None,
                };
                if let Some(p) = &mut u.profile {
                    lines(&mut p.lines, was.unwrap_or_default(), mask);
                }
            }
            (Self::Params(p), old) if p.ssh_password == mask => {
                p.ssh_password = match old {
                    Self::Params(o) => o.ssh_password.clone(),
                    _ => String::new(),
                };
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::*;

    fn phone() -> Object {
        let mut d = Device::phone("001122334455".parse().unwrap(), "8841", Protocol::Sip, "P");
        let mut line = Line::new("1001");
        line.auth_password = "s3cret".into();
        d.lines = vec![line, Line::new("1002")];
        Object::Device(d)
    }

    #[test]
    fn secrets_are_masked_where_set_and_taken_back_by_directory_number() {
        let original = phone();
        let mut shown = original.clone();
        shown.mask_secrets(MASK);
        let Object::Device(d) = &shown else {
            unreachable!()
        };
        assert_eq!(d.lines[0].auth_password, MASK);
        assert_eq!(d.lines[1].auth_password, "", "no secret, nothing to mask");
        let mut exported = original.clone();
        exported.mask_secrets("");
        assert!(original.has_secrets() && !exported.has_secrets());
        exported.keep_secrets_of(&original);
        assert_eq!(exported, original);
        let mut params = Object::Params(Params {
            ssh_password: "x".into(),
            ..Params::default()
        });
        params.mask_secrets(MASK);
        assert!(params.has_secrets(), "masked, but still set");
    }

    #[test]
    fn a_masked_secret_sent_back_is_the_secret_it_was() {
        let original = phone();
        let mut back = original.clone();
        back.mask_secrets(MASK);
        back.unmask_secrets(&original, MASK);
        assert_eq!(back, original);
        // A new line sent with the mask has no secret behind it: empty, not "********".
        let Object::Device(mut d) = original.clone() else {
            unreachable!()
        };
        let mut line = Line::new("1003");
        line.auth_password = MASK.into();
        d.lines.push(line);
        let mut changed = Object::Device(d);
        changed.unmask_secrets(&original, MASK);
        let Object::Device(d) = changed else {
            unreachable!()
        };
        assert_eq!(d.lines[2].auth_password, "");
        assert_eq!(d.lines[0].auth_password, "s3cret");
    }
}
