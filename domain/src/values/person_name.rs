use super::Invalid;

/// A first or last name: 1–75 characters after trimming, no control characters (SPEC §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX_CHARS: usize = 75;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Invalid::new("required", "must not be empty"));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                "too_long",
                format!("at most {} characters", Self::MAX_CHARS),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid::new(
                "control_characters",
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        super::fold(&self.0)
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds_names() {
        assert_eq!(PersonName::parse("  Zoë ").unwrap().as_str(), "Zoë");
        assert_eq!(PersonName::parse("   ").unwrap_err().code, "required");
        assert!(PersonName::parse(&"é".repeat(75)).is_ok());
        assert_eq!(
            PersonName::parse(&"é".repeat(76)).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            PersonName::parse("a\u{7}b").unwrap_err().code,
            "control_characters"
        );
    }
}
