//! The links Roster hands out for one-time tokens (SPEC §5): built from `ROSTER_PUBLIC_URL` and
//! `ROSTER_LINK_TEMPLATE` when Roster starts, never from a request (a forged `Host` header must
//! not point a link elsewhere).

use domain::one_time::{OneTimeToken, Purpose};

#[derive(Debug, Clone)]
pub struct Links {
    /// The template with `{public_url}` filled in.
    template: String,
}

impl Links {
    pub fn new(public_url: &str, template: &str) -> Self {
        Self {
            template: template.replace("{public_url}", public_url.trim_end_matches('/')),
        }
    }

    /// The link for `token` (its text is URL-safe as it is).
    pub fn url(&self, purpose: Purpose, token: &OneTimeToken) -> String {
        self.template
            .replace("{purpose}", purpose.as_str())
            .replace("{token}", token.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_in_the_template() {
        let links = Links::new(
            "https://console.example.org/",
            crate::config::DEFAULT_LINK_TEMPLATE,
        );
        let token = OneTimeToken::from_client("rot_abc");
        assert_eq!(
            links.url(Purpose::Activation, &token),
            "https://console.example.org/activation#token=rot_abc"
        );
    }
}
