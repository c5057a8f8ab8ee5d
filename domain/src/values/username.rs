use super::{fold, Invalid};

/// A username: 1–64 letters, digits, `.`, `_`, `-` or `@` (SPEC §1). Keeps the display form as
/// given; [`Username::key`] is the case-folded form the database keeps unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let count = raw.chars().count();
        if count == 0 {
            return Err(Invalid::new("required", "a username is required"));
        }
        if count > Self::MAX_CHARS {
            return Err(Invalid::new(
                "too_long",
                format!("at most {} characters", Self::MAX_CHARS),
            ));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
        {
            return Err(Invalid::new(
                "invalid_characters",
                format!("only letters, digits, '.', '_', '-' and '@' are allowed (found {bad:?})"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded key: two usernames with equal keys are the same username.
    pub fn key(&self) -> String {
        fold(&self.0)
    }

    /// Rebuild from storage, where the value was validated on the way in.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet_and_keeps_the_display_form() {
        let u = Username::parse("Ana.Lima_2-x@corp").unwrap();
        assert_eq!(u.as_str(), "Ana.Lima_2-x@corp");
        assert_eq!(u.key(), "ana.lima_2-x@corp");
    }

    #[test]
    fn refuses_empty_too_long_and_other_characters() {
        assert_eq!(Username::parse("").unwrap_err().code, "required");
        assert_eq!(
            Username::parse(&"a".repeat(65)).unwrap_err().code,
            "too_long"
        );
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        for bad in ["a b", "a+b", "a/b", "tab\t", "ü\u{0}"] {
            assert_eq!(
                Username::parse(bad).unwrap_err().code,
                "invalid_characters",
                "{bad}"
            );
        }
    }

    #[test]
    fn keys_are_case_insensitive() {
        assert_eq!(
            Username::parse("ÉLODIE").unwrap().key(),
            Username::parse("élodie").unwrap().key()
        );
    }
}
