use precis_core::{profile::PrecisFastInvocation, CodepointInfo, Error as PrecisError};
use precis_profiles::UsernameCasePreserved;
use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

use super::{fold, Invalid};

/// A username (SPEC §1), by this profile:
/// 1. compatibility forms are mapped to their plain characters (NFKC: fullwidth `ａｄｍｉｎ`,
///    mathematical `𝐚𝐝𝐦𝐢𝐧`, the roman numeral `ⅰ` become `admin`'s letters);
/// 2. RFC 8265 PRECIS `UsernameCasePreserved`: the IdentifierClass (letters, marks, digits and
///    ASCII symbols; no spaces, controls or unassigned code points), NFC, and the bidi rule — the
///    display form, kept as given otherwise;
/// 3. narrowed to letters, combining marks, digits, `.`, `_`, `-` and `@`, 1–64 characters.
///
/// [`Username::key`] is the case-folded form (as RFC 8265 `UsernameCaseMapped` compares): the key
/// that sign-in, search and order use. [`Username::skeleton`] is the UTS #39 confusable skeleton
/// of the key: two usernames with the same skeleton (`admin`, Cyrillic `аdmin`, `ADMİN`, `adrnin`)
/// are the same username, which the database keeps unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err(Invalid::new("required", "a username is required"));
        }
        let display = if raw.is_ascii() {
            // NFKC and the profile leave ASCII as it is, and every ASCII character they refuse
            // (space, controls) is outside Roster's narrower alphabet, checked below anyway.
            raw.to_owned()
        } else {
            let mapped: String = raw.nfkc().collect();
            UsernameCasePreserved::enforce(mapped.as_str())
                .map_err(|e| refused(&mapped, e))?
                .into_owned()
        };
        let count = display.chars().count();
        if count > Self::MAX_CHARS {
            return Err(Invalid::new(
                "too_long",
                format!("at most {} characters", Self::MAX_CHARS),
            ));
        }
        if let Some(bad) = display.chars().find(|c| !allowed(*c)) {
            return Err(invalid_character(bad));
        }
        Ok(Self(display))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded key: two usernames with equal keys are the same username.
    pub fn key(&self) -> String {
        fold(&self.0)
    }

    /// The UTS #39 confusable skeleton of the key, with a dot above dropped after a letter that
    /// already has one (`i̇`, from `İ`, looks like `i`): usernames a person would confuse have
    /// equal skeletons. Taken of the case-folded key, since case does not tell usernames apart; so
    /// a capital `I` shown where an `l` is expected (`paypaI`) is not caught, being `i` once folded.
    pub fn skeleton(&self) -> String {
        let key = self.key();
        if key.is_ascii() {
            // Each ASCII character's own skeleton, from a table made once by the same function:
            // the two NFD passes and table searches per character cost a create several µs.
            let table = ascii_prototypes();
            return key
                .bytes()
                .map(|b| table[usize::from(b)].as_str())
                .collect();
        }
        let mut out = String::new();
        for c in unicode_security::skeleton(&key) {
            let soft_dotted = matches!(out.chars().last(), Some('i' | 'j' | 'і' | 'ј'));
            if !(c == '\u{307}' && soft_dotted) {
                out.push(c);
            }
        }
        out
    }

    /// Rebuild from storage, where the value was validated on the way in.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
}

/// The UTS #39 skeleton of each ASCII character (ASCII text is its own NFD, so a string's skeleton
/// is its characters' skeletons in turn).
fn ascii_prototypes() -> &'static [String; 128] {
    static TABLE: std::sync::OnceLock<[String; 128]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|b| {
            unicode_security::skeleton(&char::from(b as u8).to_string()).collect()
        })
    })
}

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c) || matches!(c, '.' | '_' | '-' | '@')
}

fn invalid_character(bad: char) -> Invalid {
    Invalid::new(
        "invalid_characters",
        format!("only letters, digits, '.', '_', '-' and '@' are allowed (found {bad:?})"),
    )
}

/// Why the RFC 8265 profile refused `mapped`.
fn refused(mapped: &str, e: PrecisError) -> Invalid {
    match e {
        PrecisError::BadCodepoint(CodepointInfo { cp, .. }) => {
            invalid_character(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER))
        }
        PrecisError::Invalid if mapped.trim().is_empty() => {
            Invalid::new("required", "a username is required")
        }
        _ => Invalid::new(
            "invalid_characters",
            "not a username by RFC 8265: mixes right-to-left and left-to-right text in a way it refuses",
        ),
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
        for ok in ["élodie", "李小龙", "ΑΘΗΝΑ", "नमस्ते", "josé-maría"] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_empty_too_long_and_other_characters() {
        assert_eq!(Username::parse("").unwrap_err().code, "required");
        assert_eq!(
            Username::parse(&"a".repeat(65)).unwrap_err().code,
            "too_long"
        );
        assert!(Username::parse(&"a".repeat(64)).is_ok());
        for bad in [
            "a b",
            "a+b",
            "a/b",
            "tab\t",
            "ü\u{0}",
            "a\u{200B}b",
            "\u{FFFF}",
        ] {
            assert_eq!(
                Username::parse(bad).unwrap_err().code,
                "invalid_characters",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ascii_takes_the_short_way_to_the_profiles_result() {
        let ascii: Vec<String> = (0u8..128)
            .map(|b| format!("a{}b", char::from(b)))
            .chain(["Ana.Lima", "x@y", "-_.@"].map(String::from))
            .collect();
        for raw in ascii {
            let profile = UsernameCasePreserved::enforce(raw.as_str())
                .ok()
                .filter(|d| d.chars().all(allowed))
                .map(|d| d.into_owned());
            assert_eq!(Username::parse(&raw).ok().map(|u| u.0), profile, "{raw:?}");
        }
    }

    #[test]
    fn ascii_skeletons_come_from_the_table_as_the_full_rule_makes_them() {
        let full = |u: &Username| -> String { unicode_security::skeleton(&u.key()).collect() };
        let alphabet = "abcdefghijklmnopqrstuvwxyz0123456789._-@";
        for a in alphabet.chars() {
            for b in alphabet.chars() {
                let u = Username::parse(&format!("{a}{b}x{a}")).unwrap();
                assert_eq!(u.skeleton(), full(&u), "{u:?}");
            }
        }
        for name in ["admin", "rn.m", "l1I", "paypal", "Ana.Lima_2-x@corp"] {
            let u = Username::parse(name).unwrap();
            assert_eq!(u.skeleton(), full(&u), "{name}");
        }
    }

    #[test]
    fn keys_are_case_insensitive() {
        assert_eq!(
            Username::parse("ÉLODIE").unwrap().key(),
            Username::parse("élodie").unwrap().key()
        );
    }

    #[test]
    fn compatibility_forms_become_plain_letters() {
        for twin in ["ａｄｍｉｎ", "𝐚𝐝𝐦𝐢𝐧", "admⅰn"] {
            let u = Username::parse(twin).unwrap();
            assert_eq!((u.as_str(), u.key().as_str()), ("admin", "admin"), "{twin}");
        }
    }

    #[test]
    fn names_a_person_would_confuse_have_one_skeleton() {
        let admin = Username::parse("admin").unwrap().skeleton();
        for twin in [
            "аdmin",
            "ADMİN",
            "ａｄｍｉｎ",
            "𝐚𝐝𝐦𝐢𝐧",
            "admⅰn",
            "AdMiN",
            "adrnin",
        ] {
            assert_eq!(Username::parse(twin).unwrap().skeleton(), admin, "{twin}");
        }
        let nfc = Username::parse("ren\u{e9}").unwrap();
        let nfd = Username::parse("rene\u{301}").unwrap();
        assert_eq!(
            (nfc.as_str(), nfc.key()),
            (nfd.as_str(), nfd.key()),
            "NFC and NFD are one"
        );
        assert_ne!(
            Username::parse("ana").unwrap().skeleton(),
            Username::parse("anna").unwrap().skeleton()
        );
    }
}
