use super::Invalid;

/// A BCP 47 language tag such as `en`, `en-CA`, `fr-FR`, `zh-Hant-TW` (SPEC §1), normalised to
/// the conventional case: language lower, script title, region upper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let invalid = || {
            Invalid::new(
                "invalid_locale",
                "expected a BCP 47 language tag such as en, en-CA or fr-FR",
            )
        };
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 35 {
            return Err(invalid());
        }
        let mut parts = raw.split(['-', '_']);
        let language = parts.next().ok_or_else(invalid)?;
        if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic())
        {
            return Err(invalid());
        }
        let mut out = language.to_ascii_lowercase();
        for part in parts {
            let alnum = part.chars().all(|c| c.is_ascii_alphanumeric());
            if !alnum || part.is_empty() || part.len() > 8 {
                return Err(invalid());
            }
            out.push('-');
            match part.len() {
                4 if part.chars().all(|c| c.is_ascii_alphabetic()) => {
                    out.push_str(&part[..1].to_ascii_uppercase());
                    out.push_str(&part[1..].to_ascii_lowercase());
                }
                2 if part.chars().all(|c| c.is_ascii_alphabetic()) => {
                    out.push_str(&part.to_ascii_uppercase())
                }
                _ => out.push_str(&part.to_ascii_lowercase()),
            }
        }
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

impl Default for Locale {
    fn default() -> Self {
        Self("en".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case() {
        assert_eq!(Locale::parse("en").unwrap().as_str(), "en");
        assert_eq!(Locale::parse("EN-ca").unwrap().as_str(), "en-CA");
        assert_eq!(Locale::parse("fr_fr").unwrap().as_str(), "fr-FR");
        assert_eq!(Locale::parse("zh-hant-tw").unwrap().as_str(), "zh-Hant-TW");
    }

    #[test]
    fn refuses_non_tags() {
        for bad in ["", "e", "english", "en-", "en--CA", "12", "en-CA!"] {
            assert!(Locale::parse(bad).is_err(), "{bad}");
        }
    }
}
