//! The outbox worker (SPEC §5): takes due messages from the database, renders each with a fresh
//! link, sends it over SMTP (or, with no SMTP server configured, logs it without its link), and
//! records how each attempt ended; failed attempts are retried with exponential back-off
//! (`domain::outbox::RetryPolicy`). Every replica runs one: a message is taken by one worker at a
//! time (`domain::ports::Outbox::take_due_messages`).

use std::{sync::Arc, time::Duration};

use domain::{
    outbox::{Delivery, RetryPolicy},
    services::{Outgoing, Services},
};
use lettre::{
    message::{header::ContentType, Mailbox, MultiPart, SinglePart},
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
};

use crate::{config::Config, links::Links, mail::Templates};

/// Messages taken at once.
const BATCH: usize = 16;
/// How long one SMTP exchange may take; well within a message's hold (`RetryPolicy::lease`).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where messages go.
enum Sender {
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
    /// No SMTP server configured.
    Log,
}

pub struct Worker {
    services: Services,
    links: Links,
    templates: Arc<Templates>,
    sender: Sender,
    policy: RetryPolicy,
    poll: Duration,
}

impl Worker {
    pub fn new(config: &Config, services: Services, links: Links) -> Result<Self, String> {
        let sender = match &config.smtp_url {
            None => Sender::Log,
            Some(url) => Sender::Smtp {
                transport: Box::new(
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                        .map_err(|e| format!("ROSTER_SMTP_URL: {e}"))?
                        .timeout(Some(SMTP_TIMEOUT))
                        .build(),
                ),
                from: config
                    .email_from
                    .parse()
                    .map_err(|e| format!("ROSTER_EMAIL_FROM: {e}"))?,
            },
        };
        Ok(Self {
            services,
            links,
            templates: Arc::new(Templates::load()?),
            sender,
            policy: config.outbox_retry,
            poll: config.outbox_poll,
        })
    }

    /// Delivers messages for as long as the process runs.
    pub async fn run(self) {
        if matches!(self.sender, Sender::Log) {
            tracing::info!("no ROSTER_SMTP_URL: emails are logged (without their links), not sent");
        }
        loop {
            let nonces = (0..BATCH).map(|_| rand::random()).collect();
            match self.services.take_messages(self.policy, nonces).await {
                Ok(batch) if batch.is_empty() => actix_web::rt::time::sleep(self.poll).await,
                Ok(batch) => {
                    for outgoing in batch {
                        self.deliver(outgoing).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the outbox could not be read; trying again shortly");
                    actix_web::rt::time::sleep(self.poll.max(Duration::from_secs(1))).await;
                }
            }
        }
    }

    async fn deliver(&self, outgoing: Outgoing) {
        let Outgoing { message, link } = outgoing;
        let url = link.as_ref().and_then(|(token, at)| {
            message
                .kind
                .link()
                .map(|purpose| (self.links.url(purpose, token), *at))
        });
        let delivery = match &self.sender {
            Sender::Log => {
                // The link is a secret: the log shows where it went and what it said, not it.
                let rendered = self.templates.render(
                    &message,
                    url.as_ref()
                        .map(|(_, at)| ("[link withheld from the log]", *at)),
                );
                tracing::info!(
                    message_id = %message.id,
                    kind = message.kind.as_str(),
                    to = %message.recipient,
                    subject = %rendered.subject,
                    body = %rendered.text,
                    "email not sent (no SMTP server configured)"
                );
                Delivery::Logged
            }
            Sender::Smtp { transport, from } => {
                let rendered = self
                    .templates
                    .render(&message, url.as_ref().map(|(u, at)| (u.as_str(), *at)));
                match build(from, &message.recipient, rendered) {
                    Err(why) => Delivery::Failed(why),
                    Ok(email) => match transport.send(email).await {
                        Ok(_) => Delivery::Sent,
                        Err(e) => Delivery::Failed(describe(&e)),
                    },
                }
            }
        };
        if let Delivery::Failed(why) = &delivery {
            tracing::warn!(message_id = %message.id, attempt = message.attempts, error = %why, "sending an email failed");
        }
        let id = message.id;
        if let Err(e) = self
            .services
            .finish_message(message, delivery, self.policy)
            .await
        {
            // The message is taken again when its hold ends.
            tracing::warn!(message_id = %id, error = %e, "an email's outcome could not be recorded");
        }
    }
}

fn build(
    from: &Mailbox,
    to: &str,
    rendered: crate::mail::Rendered,
) -> Result<lettre::Message, String> {
    let to: Mailbox = to
        .parse()
        .map_err(|e| format!("the recipient address cannot be used: {e}"))?;
    lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(rendered.subject)
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(rendered.text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(rendered.html),
                ),
        )
        .map_err(|e| format!("the message cannot be built: {e}"))
}

/// An SMTP failure, for the message's `last_error` (lettre's text names the server's answer,
/// never the message).
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let text = e.to_string();
    let mut short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}
