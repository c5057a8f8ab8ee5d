//! Email texts (SPEC §5): each outbox message rendered as plain text and HTML from the templates
//! in `api/templates/mail` — one file of texts per language (English, German) and one layout per
//! format — in the account's locale where a translation exists, else English.
//!
//! Placeholders are filled in one pass, so a value (a username with `{link}` in it) is never read
//! as a placeholder, and every value is escaped in the HTML.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::outbox::{Message, MessageKind};
use serde::Deserialize;

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Texts {
    common: Common,
    activation: KindText,
    invitation: KindText,
    reset_link: KindText,
    password_changed: KindText,
    password_reset: KindText,
    email_changed: KindText,
    mfa_removed: KindText,
    mfa_one_time_password_used: KindText,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    greeting: String,
    signature: String,
    link_label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KindText {
    subject: String,
    intro: String,
    /// The link's button, for a message with a link.
    action: Option<String>,
    outro: String,
}

impl Texts {
    fn of(&self, kind: MessageKind) -> &KindText {
        match kind {
            MessageKind::Activation => &self.activation,
            MessageKind::Invitation => &self.invitation,
            MessageKind::ResetLink => &self.reset_link,
            MessageKind::PasswordChanged => &self.password_changed,
            MessageKind::PasswordReset => &self.password_reset,
            MessageKind::EmailChanged => &self.email_changed,
            MessageKind::MfaRemoved => &self.mfa_removed,
            MessageKind::MfaOneTimePasswordUsed => &self.mfa_one_time_password_used,
        }
    }
}

/// The languages with texts, English first (the fallback).
const LANGUAGES: [(&str, &str); 2] = [
    ("en", include_str!("../templates/mail/en.toml")),
    ("de", include_str!("../templates/mail/de.toml")),
];
const LAYOUT_TEXT: &str = include_str!("../templates/mail/layout.txt");
const LAYOUT_HTML: &str = include_str!("../templates/mail/layout.html");

/// Every language's texts, read once at start-up.
#[derive(Debug)]
pub struct Templates {
    languages: Vec<(&'static str, Texts)>,
}

impl Templates {
    pub fn load() -> Result<Self, String> {
        let languages = LANGUAGES
            .iter()
            .map(|(lang, source)| {
                toml::from_str(source)
                    .map(|texts| (*lang, texts))
                    .map_err(|e| format!("email texts {lang}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { languages })
    }

    /// The language for `locale`: itself, else its primary subtag (`de` for `de-AT`), else English.
    fn language(&self, locale: &str) -> (&'static str, &Texts) {
        let locale = locale.to_ascii_lowercase();
        let primary = locale.split(['-', '_']).next().unwrap_or_default();
        let found = self
            .languages
            .iter()
            .find(|(lang, _)| *lang == locale)
            .or_else(|| self.languages.iter().find(|(lang, _)| *lang == primary))
            .unwrap_or(&self.languages[0]);
        (found.0, &found.1)
    }

    /// `message` in its account's language; `link` is its link's address and end, if it has one.
    pub fn render(&self, message: &Message, link: Option<(&str, DateTime<Utc>)>) -> Rendered {
        let (lang, texts) = self.language(&message.locale);
        let text = texts.of(message.kind);
        let detail = |key: &str| message.details[key].as_str().unwrap_or_default().to_owned();
        let username = detail("username");
        let first_name = detail("first_name");
        let name = if first_name.trim().is_empty() {
            username.clone()
        } else {
            first_name
        };
        let expires = link
            .map(|(_, at)| at.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let values: HashMap<&str, &str> = [
            ("name", name.as_str()),
            ("username", username.as_str()),
            ("expires", expires.as_str()),
        ]
        .into();
        let subject = fill(&text.subject, &values);
        let greeting = fill(&texts.common.greeting, &values);
        let intro = fill(&text.intro, &values);
        let outro = fill(&text.outro, &values);
        let signature = texts.common.signature.clone();
        let action = text.action.as_deref().map(|a| fill(a, &values));
        let (action_text, action_html) = match (link, action) {
            (Some((url, _)), Some(action)) => (
                format!("\n{action}:\n{url}\n"),
                format!(
                    "<p><a href=\"{url}\" style=\"display: inline-block; padding: 0.6em 1.2em; background: #2257a8; color: #fff; text-decoration: none; border-radius: 4px;\">{action}</a></p>\n<p style=\"color: #666; font-size: 0.9em;\">{label}<br>{url}</p>",
                    url = escape(url),
                    action = escape(&action),
                    label = escape(&texts.common.link_label),
                ),
            ),
            _ => (String::new(), String::new()),
        };
        let text_body = fill(
            LAYOUT_TEXT,
            &[
                ("greeting", greeting.as_str()),
                ("intro", intro.as_str()),
                ("action_block", action_text.as_str()),
                ("outro", outro.as_str()),
                ("signature", signature.as_str()),
            ]
            .into(),
        );
        let escaped = |s: &str| escape(s);
        let html_body = fill(
            LAYOUT_HTML,
            &[
                ("lang", lang),
                ("subject", escaped(&subject).as_str()),
                ("greeting", escaped(&greeting).as_str()),
                ("intro", escaped(&intro).as_str()),
                ("action_block", action_html.as_str()),
                ("outro", escaped(&outro).as_str()),
                ("signature", escaped(&signature).as_str()),
            ]
            .into(),
        );
        Rendered {
            subject,
            text: text_body,
            html: html_body,
        }
    }
}

/// `template` with each `{key}` of `values` replaced, in one pass; other braces stay.
fn fill(template: &str, values: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find('}')
            .and_then(|close| values.get(&after[..close]).map(|value| (value, close)))
        {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text made safe inside HTML elements and quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::outbox::MessageState;
    use serde_json::json;
    use uuid::Uuid;

    fn message(kind: MessageKind, locale: &str, username: &str) -> Message {
        Message {
            id: Uuid::nil(),
            account_id: Uuid::nil(),
            kind,
            recipient: "ada@example.org".into(),
            locale: locale.into(),
            generation: kind.link().map(|_| 0),
            details: json!({"username": username, "first_name": "Ada", "last_name": "L"}),
            state: MessageState::Sending,
            attempts: 1,
            next_attempt_at: Utc::now(),
            last_error: None,
            created_at: Utc::now(),
            finished_at: None,
        }
    }

    #[test]
    fn every_language_has_every_text_and_links_only_where_due() {
        let templates = Templates::load().expect("templates parse");
        for (lang, texts) in &templates.languages {
            for kind in MessageKind::ALL {
                assert_eq!(
                    texts.of(kind).action.is_some(),
                    kind.link().is_some(),
                    "{lang} {kind:?}"
                );
            }
        }
    }

    #[test]
    fn renders_in_the_locale_with_the_link() {
        let templates = Templates::load().expect("templates parse");
        let at = Utc::now();
        let link = Some(("https://console.example.org/activation#token=rot_x", at));
        let de = templates.render(&message(MessageKind::Activation, "de-AT", "ada"), link);
        assert_eq!(de.subject, "Aktivieren Sie Ihr Konto");
        assert!(de.text.starts_with("Hallo Ada,"));
        assert!(de
            .text
            .contains("https://console.example.org/activation#token=rot_x"));
        assert!(de
            .html
            .contains("href=\"https://console.example.org/activation#token=rot_x\""));
        let fallback = templates.render(&message(MessageKind::PasswordChanged, "fr", "ada"), None);
        assert_eq!(fallback.subject, "Your password was changed");
        assert!(!fallback.text.contains("{"));
    }

    #[test]
    fn values_are_escaped_and_never_read_as_placeholders() {
        let templates = Templates::load().expect("templates parse");
        let m = message(MessageKind::PasswordReset, "en", "<b>{name}</b>");
        let r = templates.render(&m, None);
        assert!(r.text.contains("<b>{name}</b>"));
        assert!(r.html.contains("&lt;b&gt;{name}&lt;/b&gt;"));
        assert!(!r.html.contains("<b>"));
    }
}
