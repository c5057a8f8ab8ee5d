use unicode_normalization::UnicodeNormalization;

use super::{fold, Invalid};

/// An email address (SPEC §1): trimmed, at most 254 characters, `local@domain`, normalised before
/// its key is taken: the whole address NFC, the domain mapped by UTS #46 (IDNA: lower-cased,
/// compatibility forms mapped, `xn--` labels shown in Unicode), so `RENÉ@Example.COM`,
/// `rene\u{301}@example.com` and `rené@EXAMPLE.com` are one address. Unique case-insensitively
/// through [`Email::key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let s: String = if trimmed.is_ascii() {
            trimmed.to_owned()
        } else {
            trimmed.nfc().collect()
        };
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
        if !local_ok || domain.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        // An ASCII domain without `xn--` labels is its own UTS #46 mapping once lower-cased; the
        // IDNA passes are for the rest.
        let plain = domain.is_ascii() && !domain.to_ascii_lowercase().contains("xn--");
        let ascii = if plain {
            domain.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(domain).map_err(|_| invalid())?
        };
        let labels: Vec<&str> = ascii.split('.').collect();
        let domain_ok = labels.len() >= 2
            && ascii.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err(invalid());
        }
        let shown = if plain {
            ascii
        } else {
            let (shown, mapped) = idna::domain_to_unicode(&ascii);
            mapped.map_err(|_| invalid())?;
            // What is stored must read back as itself. A label whose Unicode form starts with
            // `xn--` again (`xn--xn--…`, found by fuzzing) would not: it is refused.
            if idna::domain_to_ascii(&shown).ok().as_deref() != Some(ascii.as_str()) {
                return Err(invalid());
            }
            shown
        };
        let address = format!("{local}@{shown}");
        if address.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                "too_long",
                format!("at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(address))
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
    fn trims_normalises_and_accepts_ordinary_addresses() {
        assert_eq!(
            Email::parse("  Ana@Example.org ").unwrap().as_str(),
            "Ana@example.org",
            "the domain is lower-cased, the local part kept"
        );
        assert_eq!(
            Email::parse("Ana@Example.org").unwrap().key(),
            "ana@example.org"
        );
        assert!(Email::parse("first.last+tag@sub.example.co.uk").is_ok());
    }

    #[test]
    fn one_address_however_it_is_spelled() {
        let key = |s: &str| Email::parse(s).unwrap().key();
        let rene = key("ren\u{e9}@example.com");
        assert_eq!(key("rene\u{301}@example.com"), rene, "NFD");
        assert_eq!(key("RENÉ@EXAMPLE.COM"), rene);
        assert_eq!(key("rené@ＥＸＡＭＰＬＥ.com"), rene, "fullwidth domain");
        assert_eq!(
            Email::parse("ana@xn--bcher-kva.de").unwrap().as_str(),
            "ana@bücher.de"
        );
        assert_eq!(key("ana@BÜCHER.de"), key("ana@xn--bcher-kva.de"));
    }

    #[test]
    fn a_plain_ascii_domain_takes_the_short_way_to_the_idna_result() {
        for domain in ["Example.ORG", "a-b.example.co.uk", "x1.io", "EXAMPLE.com"] {
            let address = format!("ana@{domain}");
            let (idna, _) = idna::domain_to_unicode(&idna::domain_to_ascii(domain).unwrap());
            assert_eq!(
                Email::parse(&address).unwrap().as_str(),
                format!("ana@{idna}")
            );
        }
        for bad in ["ana@ex_ample.org", "ana@-x.org", "ana@x..org", "ana@.org"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
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
            "a@x_y.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_domain_whose_unicode_form_would_not_read_back_is_refused() {
        // Found by `cargo fuzz` (target `email`): `xn--xn--Bchev-kGVa` decodes to a label that
        // starts with `xn--` again, so the address as stored did not parse.
        let found = "x@xn--xn--Bchev-kGVa.mp.ma.eBchev-kGVa.mp.ma.e";
        assert!(Email::parse(found).is_err());
        // Punycode labels that do round-trip still do.
        let ok = Email::parse("x@xn--bcher-kva.example").expect("valid");
        assert_eq!(ok.as_str(), "x@bücher.example");
        assert_eq!(Email::parse(ok.as_str()), Ok(ok));
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
