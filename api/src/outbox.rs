//! The outbox worker (SPEC §5): takes due messages from the database, renders each with a fresh
//! link, sends it over SMTP (or, with no SMTP server configured, logs it without its link), and
//! records how each attempt ended; failed attempts are retried with exponential back-off
//! (`domain::outbox::RetryPolicy`). Every replica runs one: a message is taken by one worker at a
//! time (`domain::ports::Outbox::take_due_messages`).

use std::{sync::Arc, time::Duration};

use domain::{
    outbox::{Delivery, Message, RetryPolicy},
    services::{Outgoing, Services, Taken},
    settings::TokenLifetimes,
};
use lettre::{
    message::{header::ContentType, Mailbox, MultiPart, SinglePart},
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
};

use crate::{
    config::Config,
    links::Links,
    mail::Templates,
    metrics::{Delivered, Metrics},
};

/// How long one SMTP exchange may take; well within a message's hold (`RetryPolicy::lease`).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages logged at once, taken and marked `logged` by one transaction (cheap beside the
/// writes that caused them: `bench/ab --scenarios create`).
const LOG_BATCH: u32 = 64;

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
    metrics: Arc<Metrics>,
}

impl Worker {
    pub fn new(
        config: &Config,
        services: Services,
        links: Links,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
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
            metrics,
        })
    }

    /// Delivers until `stopping` is set; a message being sent then is finished first (its hold
    /// would otherwise keep it from every other replica until the hold ends).
    pub async fn run(self, stopping: crate::runtime::Stopping) {
        if matches!(self.sender, Sender::Log) {
            tracing::info!("no ROSTER_SMTP_URL: emails are logged (without their links), not sent");
        }
        while !stopping.is_set() {
            let pause = match self.step().await {
                Ok(0) => self.poll,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "the outbox could not be read or written; trying again shortly");
                    self.poll.max(Duration::from_secs(1))
                }
            };
            stopping.wait_at_most(pause).await;
        }
    }

    /// Delivers what is due: one message over SMTP (so that a taken message's hold covers its one
    /// exchange, however slow the server), or a batch to the log. How many were taken.
    async fn step(&self) -> domain::Result<usize> {
        let Sender::Smtp { transport, from } = &self.sender else {
            let logged = self.services.log_messages(LOG_BATCH).await?;
            if tracing::enabled!(tracing::Level::INFO) {
                logged.iter().for_each(|m| self.log(m));
            }
            self.metrics.delivered(Delivered::Logged, logged.len());
            return Ok(logged.len());
        };
        let Outgoing { message, link } = match self
            .services
            .take_message(self.policy, rand::random())
            .await?
        {
            Taken::Nothing => return Ok(0),
            Taken::Cancelled => return Ok(1),
            Taken::Message(outgoing) => *outgoing,
        };
        let url = link.as_ref().and_then(|(token, at)| {
            message
                .kind
                .link()
                .map(|purpose| (self.links.url(purpose, token), *at))
        });
        let rendered = self
            .templates
            .render(&message, url.as_ref().map(|(u, at)| (u.as_str(), *at)));
        let delivery = match build(from, &message.recipient, rendered) {
            Err(why) => Delivery::Failed(why),
            Ok(email) => match transport.send(email).await {
                Ok(_) => Delivery::Sent,
                Err(e) => Delivery::Failed(describe(&e)),
            },
        };
        match &delivery {
            Delivery::Failed(why) => {
                tracing::warn!(message_id = %message.id, attempt = message.attempts, error = %why, "sending an email failed");
                self.metrics.delivered(Delivered::Failed, 1);
            }
            Delivery::Sent => self.metrics.delivered(Delivered::Sent, 1),
        }
        // Not recorded (the database is away): taken again when its hold ends.
        self.services
            .finish_message(message, delivery, self.policy)
            .await?;
        Ok(1)
    }

    /// Writes a message to the log, instead of sending it. Its link is a secret, and none was
    /// sealed: the log shows where the message went and what it said, with the link withheld.
    fn log(&self, message: &Message) {
        let expires = message
            .kind
            .link()
            .map(|purpose| message.created_at + TokenLifetimes::default().of(purpose));
        let rendered = self.templates.render(
            message,
            expires.map(|at| ("[link withheld from the log]", at)),
        );
        tracing::info!(
            message_id = %message.id,
            kind = message.kind.as_str(),
            to = %message.recipient,
            subject = %rendered.subject,
            body = %rendered.text,
            "email not sent (no SMTP server configured)"
        );
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
