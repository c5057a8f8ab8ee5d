use super::Invalid;

/// Optional free text with a maximum length and no control characters: `origin`, `location`,
/// `erp_id`, `external_key` (SPEC §1). Trimmed; empty after trimming means absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedText;

impl BoundedText {
    pub fn parse(raw: &str, max_chars: usize) -> Result<Option<String>, Invalid> {
        let s = raw.trim();
        if s.chars().count() > max_chars {
            return Err(Invalid::new(
                "too_long",
                format!("at most {max_chars} characters"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid::new(
                "control_characters",
                "must not contain control characters",
            ));
        }
        Ok((!s.is_empty()).then(|| s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_trims() {
        assert_eq!(BoundedText::parse(" x ", 3).unwrap().as_deref(), Some("x"));
        assert_eq!(BoundedText::parse("  ", 3).unwrap(), None);
        assert_eq!(BoundedText::parse("abcd", 3).unwrap_err().code, "too_long");
    }
}
