use super::{fold, Invalid};

/// An email address: trimmed, at most 254 characters, `local@domain` with a dotted domain
/// (SPEC §1). Unique case-insensitively through [`Email::key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Invalid::new("required", "an email address is required"));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                "too_long",
                format!("at most {} characters", Self::MAX_CHARS),
            ));
        }
        let invalid = || {
            Invalid::new(
                "invalid_email",
                "not a valid email address (expected name@example.com)",
            )
        };
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| !c.is_control() && !c.is_whitespace() && !"@()<>[]\\,;:\"".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        fold(&self.0)
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_ordinary_addresses() {
        assert_eq!(
            Email::parse("  Ana@Example.org ").unwrap().as_str(),
            "Ana@Example.org"
        );
        assert_eq!(
            Email::parse("Ana@Example.org").unwrap().key(),
            "ana@example.org"
        );
        assert!(Email::parse("first.last+tag@sub.example.co.uk").is_ok());
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.org",
            "a@",
            "a@b",
            "a b@example.org",
            "a@exa mple.org",
            "a..b@x.org",
            "a@-x.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_length_to_254() {
        let long = format!(
            "{}@{}.org",
            "a".repeat(64),
            "b".repeat(63) + "." + &"c".repeat(63) + "." + &"d".repeat(57)
        );
        assert_eq!(long.len(), 254);
        assert!(Email::parse(&long).is_ok());
        let longer = format!("{long}x");
        assert_eq!(Email::parse(&longer).unwrap_err().code, "too_long");
    }
}
