//! Value types that are valid by construction: each `parse` returns the value or the reason it is
//! not acceptable, so everything past the edge handles only valid values (SPEC §1).

mod email;
mod locale;
mod person_name;
mod text;
mod username;

pub use email::Email;
pub use locale::Locale;
pub use person_name::PersonName;
pub use text::BoundedText;
pub use username::Username;

/// Why a value was refused: a stable code and words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

impl Invalid {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Attach the field name, for the `errors` list of a 422.
    pub fn at(self, field: &str) -> crate::FieldError {
        crate::FieldError::new(field, self.code, self.message)
    }
}

/// The form in which two texts a person would read as the same word compare equal: compatibility
/// forms mapped to their plain characters (NFKC: fullwidth `ａ`, mathematical `𝐚`, ligature `ﬁ`),
/// lower-cased, composed (NFC). The keys of usernames, emails and names, the list's `q` and the
/// login are all folded so.
pub fn fold(s: &str) -> String {
    // ASCII text (nearly all of it) is its own NFKC and NFC: lower-casing is the whole rule, and
    // the Unicode passes cost a patch ~50 µs of CPU for the dozen keys it computes (`bench/ab`).
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    fold_unicode(s)
}

fn fold_unicode(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let lower = s.nfkc().collect::<String>().to_lowercase();
    lower.nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ascii_takes_the_short_way_to_the_same_result() {
        let ascii: String = (0u8..128).map(char::from).collect();
        assert_eq!(fold(&ascii), fold_unicode(&ascii));
        for s in ["Ana.Lima@Example.ORG", "ADMIN", "x_Y-z", ""] {
            assert_eq!(fold(s), fold_unicode(s), "{s}");
        }
    }
}
