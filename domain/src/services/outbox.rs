//! The outbox's use cases (SPEC §5, [`crate::outbox`]): the delivery worker takes due messages
//! (with a fresh token sealed for each link) and records how each attempt ended; admins list
//! messages and retry a failed one.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{Credential, Services};
use crate::{
    audit::{action, Actor, AuditEvent, Origin},
    error::{Error, Result},
    one_time::{OneTimeToken, NONCE_BYTES},
    outbox::{Delivery, Message, MessageState, RetryPolicy},
    ports::Tx,
    roles::Permission,
    settings::TokenLifetimes,
};

/// A link's token, sealed for a message as it is sent, and when it expires.
pub type Link = (OneTimeToken, DateTime<Utc>);

/// A message taken for delivery, with its link's token, if it has a link.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub message: Message,
    pub link: Option<Link>,
}

/// What [`Services::take_message`] found.
#[derive(Debug, Clone)]
pub enum Taken {
    /// No message is due.
    Nothing,
    /// The message due first no longer had a link to send: cancelled.
    Cancelled,
    Message(Box<Outgoing>),
}

/// Messages finished this long ago are deleted by the sweep.
pub const KEEP_FINISHED_DAYS: i64 = 30;

impl Services {
    /// Takes the message due first for delivery, held for `policy.lease`, with its link's token
    /// sealed with `nonce`. A message whose link no longer applies (withdrawn, used, expired, or
    /// its account gone) is `cancelled` instead.
    pub async fn take_message(
        &self,
        policy: RetryPolicy,
        nonce: [u8; NONCE_BYTES],
    ) -> Result<Taken> {
        self.database(move |s| {
            s.store.write(|tx| {
                let now = crate::now();
                let taken =
                    tx.take_due_messages(now, MessageState::Sending, now + policy.lease, 1)?;
                let Some(message) = taken.into_iter().next() else {
                    return Ok(Taken::Nothing);
                };
                let lifetimes = tx.load_settings()?.token_lifetimes;
                match s.link_for(tx, &message, (nonce, &lifetimes), now)? {
                    Ok(link) => Ok(Taken::Message(Box::new(Outgoing { message, link }))),
                    Err(why) => {
                        let mut cancelled = message.clone();
                        cancelled.state = MessageState::Cancelled;
                        cancelled.finished_at = Some(now);
                        cancelled.last_error = Some(why.into());
                        tx.update_message(&cancelled, MessageState::Sending, message.attempts)?;
                        Ok(Taken::Cancelled)
                    }
                }
            })
        })
        .await
    }

    /// Takes up to `limit` messages due now and marks them `logged`, in one transaction, for a
    /// worker with no SMTP server to send to: it logs them without their links, so none is
    /// sealed, and nothing can fail.
    pub async fn log_messages(&self, limit: u32) -> Result<Vec<Message>> {
        self.database(move |s| {
            s.store.write(|tx| {
                let now = crate::now();
                tx.take_due_messages(now, MessageState::Logged, now, limit)
            })
        })
        .await
    }

    /// The token for `message`'s link (none for a notice), sealed now to expire when one issued
    /// with the message would have (`lifetimes` as they are now); `Err(why)` when the link no
    /// longer applies.
    fn link_for(
        &self,
        tx: &mut dyn Tx,
        message: &Message,
        (nonce, lifetimes): ([u8; NONCE_BYTES], &TokenLifetimes),
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<Option<Link>, &'static str>> {
        let Some(purpose) = message.kind.link() else {
            return Ok(Ok(None));
        };
        let Some(account) = tx.find_account(message.account_id)? else {
            return Ok(Err("the account was deleted"));
        };
        if Some(tx.token_generation(account.id, purpose)?) != message.generation {
            return Ok(Err("the link was withdrawn or replaced before it was sent"));
        }
        let generation = message.generation.unwrap_or_default();
        Ok(
            match self.seal_for(
                &account,
                purpose,
                generation,
                (message.created_at, lifetimes),
                nonce,
            ) {
                Some((_, expires_at)) if expires_at <= now => {
                    Err("the link expired before it could be sent")
                }
                Some(link) => Ok(Some(link)),
                None => Err("the link no longer applies: the account has a password now"),
            },
        )
    }

    /// Records how an attempt at `message` (as taken) ended: sent; or failed, and then due again
    /// after the policy's back-off, or `failed` for good after its last attempt. Nothing is
    /// recorded when its hold ended and another worker took it meanwhile.
    pub async fn finish_message(
        &self,
        message: Message,
        delivery: Delivery,
        policy: RetryPolicy,
    ) -> Result<()> {
        self.database(move |s| {
            s.store.write(|tx| {
                let after = finished(&message, &delivery, &policy, crate::now());
                tx.update_message(&after, MessageState::Sending, message.attempts)
                    .map(|_| ())
            })
        })
        .await
    }

    /// Messages newest first (`GET /api/v1/outbox`), `limit` + 1 of them so the caller can tell
    /// whether there are more.
    pub async fn list_messages(
        &self,
        credential: Credential,
        state: Option<MessageState>,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::SettingsWrite)?;
            s.store
                .read(|tx| tx.list_messages(state, after, limit.saturating_add(1)))
        })
        .await
    }

    /// Queues a `failed` message again, due now, with its attempts counted from zero
    /// (`POST /api/v1/outbox/{id}/retry`).
    pub async fn retry_message(
        &self,
        credential: Credential,
        id: Uuid,
        origin: Origin,
    ) -> Result<Message> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::SettingsWrite)?;
            s.store.write(|tx| {
                let before = tx.find_message(id)?.ok_or(Error::MessageNotFound)?;
                if before.state != MessageState::Failed {
                    return Err(Error::MessageNotFailed);
                }
                let mut after = before.clone();
                after.state = MessageState::Pending;
                after.attempts = 0;
                after.next_attempt_at = crate::now();
                after.finished_at = None;
                if !tx.update_message(&after, MessageState::Failed, before.attempts)? {
                    return Err(Error::MessageNotFailed);
                }
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(&caller), action::MESSAGE_RETRIED, &origin)
                        .on("message", Some(id), Some(before.recipient.clone()))
                        .details(json!({
                            "kind": before.kind.as_str(),
                            "attempts": before.attempts,
                            "last_error": before.last_error,
                        })),
                );
                Ok(after)
            })
        })
        .await
    }
}

/// `message` after an attempt that ended in `delivery` at `now`.
fn finished(
    message: &Message,
    delivery: &Delivery,
    policy: &RetryPolicy,
    now: DateTime<Utc>,
) -> Message {
    let mut after = message.clone();
    match delivery {
        Delivery::Sent => {
            after.state = MessageState::Sent;
            after.finished_at = Some(now);
            after.last_error = None;
        }
        Delivery::Failed(why) => {
            after.last_error = Some(why.clone());
            if message.attempts >= policy.max_attempts {
                after.state = MessageState::Failed;
                after.finished_at = Some(now);
            } else {
                after.state = MessageState::Pending;
                after.next_attempt_at = now + policy.delay_after(message.attempts);
            }
        }
    }
    after
}
