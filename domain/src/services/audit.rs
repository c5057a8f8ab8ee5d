//! Reading the audit trail (SPEC §9): `audit:read`, a page at a time, newest first.
//!
//! Also the hash chain's upkeep ([`crate::chain`]): linking new events, verifying the chain, and
//! the retention sweep.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::{Credential, Services};
use crate::{
    audit::{action, Actor, AuditEvent, AuditQuery, Origin, RecordedEvent},
    chain::{self, Salt},
    ports::Tx,
    roles::Permission,
    Error, Result,
};

impl Services {
    /// One page of events matching `query`, and whether another follows.
    pub async fn audit_events(
        &self,
        credential: Credential,
        query: AuditQuery,
    ) -> Result<(Vec<RecordedEvent>, bool)> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::AuditRead)?;
            let mut rows = s.store.read(|tx| tx.list_audit_events(&query))?;
            let more = rows.len() > query.limit as usize;
            rows.truncate(query.limit as usize);
            Ok((rows, more))
        })
        .await
    }
}

/// Events linked by one transaction: a few milliseconds of writing, which SQLite's writers wait
/// for (the hashing is done before).
const LINK_BATCH: u32 = 1_000;
/// How long verification waits for events that older transactions still hold back from linking.
const WAIT_FOR_OLDER: Duration = Duration::from_secs(5);
/// Events read at once while verifying or sweeping.
const WALK_BATCH: u32 = 2_000;
/// How long verifying or sweeping may take (a chain of many millions of events).
const LONG_WALK: Duration = Duration::from_secs(3_600);

/// What `GET /audit-events/verify` found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Events linked by this verification (those written since the linker's last pass).
    pub linked_now: u64,
    /// Events checked, from the checkpoint to the head.
    pub checked: u64,
    /// Events written but not linked yet, so not checked: on PostgreSQL, held back by an older
    /// transaction still running after verification waited for it a few seconds.
    pub pending: u64,
    /// The checkpoint retention left (0: the chain starts at its first event) and its hash.
    pub checkpoint_seq: i64,
    pub checkpoint_hash: String,
    /// The chain's head as verified.
    pub head_seq: i64,
    pub head_hash: String,
    /// The first broken link; `None`: the chain is whole.
    pub broken: Option<BrokenLink>,
}

#[derive(Debug, Clone)]
pub struct BrokenLink {
    /// The place in the chain (`None`: an event outside it).
    pub seq: Option<i64>,
    /// The event found at that place (`None` when it is missing).
    pub event: Option<RecordedEvent>,
    pub problem: &'static str,
}

impl Services {
    /// Links every event not linked yet ([`crate::chain`]); how many. The API runs it every
    /// second, and verification runs it first. Safe on every replica at once: one linker holds
    /// the chain's head at a time.
    pub async fn link_audit_events(&self, salt: fn() -> Salt) -> Result<u64> {
        self.long_database(LONG_WALK, move |s| s.link_pending(salt))
            .await
    }

    pub(super) fn link_pending(&self, salt: fn() -> Salt) -> Result<u64> {
        let mut linked = 0;
        loop {
            let (head, events, mark) = self.store.read(|tx| {
                let head = tx.chain_head(false)?;
                let (events, mark) = tx.unlinked_events(&head, LINK_BATCH)?;
                Ok((head, events, mark))
            })?;
            if events.is_empty() {
                return Ok(linked);
            }
            // The hashing before the head is held: writers wait only for the links' writes.
            let sealed = chain::seal_new(&events, salt);
            let written = self.store.write(|tx| {
                // Another linker went on meanwhile: read again.
                if tx.chain_head(true)?.seq != head.seq {
                    return Ok(false);
                }
                tx.write_links(&chain::link(&head, &sealed), &mark)?;
                Ok(true)
            })?;
            if written {
                linked += events.len() as u64;
                if events.len() < LINK_BATCH as usize {
                    return Ok(linked);
                }
            }
        }
    }

    /// Links what is pending, then recomputes the chain from its checkpoint to its head.
    pub async fn verify_audit_chain(
        &self,
        credential: Credential,
        salt: fn() -> Salt,
    ) -> Result<Verification> {
        self.long_database(LONG_WALK, move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::AuditRead)?;
            // On PostgreSQL an event waits for every older transaction to end before it is
            // linked: give those a few seconds (a request's transaction ends within its deadline).
            let waited = std::time::Instant::now();
            let mut linked_now = s.link_pending(salt)?;
            while waited.elapsed() < WAIT_FOR_OLDER
                && s.store.read(|tx| {
                    let head = tx.chain_head(false)?;
                    tx.count_unlinked(&head)
                })? > 0
            {
                std::thread::sleep(Duration::from_millis(50));
                linked_now += s.link_pending(salt)?;
            }
            let mut verification = s.store.read(walk)?;
            verification.linked_now = linked_now;
            Ok(verification)
        })
        .await
    }

    /// A right-to-erasure request: erases the personal values of every audit event naming the
    /// account (as actor or target; [`crate::chain::erased`]), which keeps the chain whole, and
    /// records it as Roster (`audit.personal_values_erased`, the account's id and no name). How
    /// many events changed. Run by an operator: `roster erase-personal-data ID`.
    pub async fn erase_personal_values(&self, account: Uuid) -> Result<u64> {
        self.long_database(LONG_WALK, move |s| {
            s.store.write(|tx| {
                let erased = tx.erase_personal_values(account)?;
                tx.effects().audit(
                    AuditEvent::new(
                        Actor::system(),
                        action::AUDIT_PERSONAL_VALUES_ERASED,
                        &Origin::default(),
                    )
                    .on("user", Some(account), None)
                    .details(json!({"events": erased})),
                );
                Ok(erased)
            })
        })
        .await
    }

    /// Removes the events older than `audit_retention_days`, oldest first, and records the last
    /// one removed as the chain's checkpoint (with an `audit.events_removed` event, itself
    /// chained). A sweep that finds a broken link removes nothing from there on: evidence of
    /// tampering is not swept away. How many were removed.
    pub async fn sweep_audit_trail(&self, salt: fn() -> Salt) -> Result<u64> {
        self.long_database(LONG_WALK, move |s| {
            let Some(days) = s.store.read(|tx| tx.load_settings())?.audit_retention_days else {
                return Ok(0);
            };
            s.link_pending(salt)?;
            let cutoff = crate::now() - chrono::Duration::days(i64::from(days));
            let mut removed = 0;
            loop {
                let n = s.store.write(|tx| {
                    let head = tx.chain_head(true)?;
                    let (mut seq, mut prev) = (head.checkpoint_seq, head.checkpoint_hash.clone());
                    for linked in tx.chained_events(seq + 1, WALK_BATCH)? {
                        if linked.event.as_ref().is_some_and(|e| e.at >= cutoff) {
                            break;
                        }
                        if let Some(problem) = chain::check(seq + 1, &prev, &linked) {
                            return Err(Error::Internal(format!(
                                "the audit chain is broken at place {} ({}): retention removes nothing from there on",
                                seq + 1,
                                problem.as_str()
                            )));
                        }
                        seq = linked.seq;
                        prev = linked.hash;
                    }
                    if seq == head.checkpoint_seq {
                        return Ok(0);
                    }
                    let n = tx.remove_chain_prefix(seq, &prev)?;
                    tx.effects().audit(
                        AuditEvent::new(Actor::system(), action::AUDIT_EVENTS_REMOVED, &Origin::default())
                            .details(json!({
                                "through_seq": seq,
                                "hash": prev,
                                "removed": n,
                                "older_than": cutoff,
                                "audit_retention_days": days,
                            })),
                    );
                    Ok(n)
                })?;
                removed += n;
                if n == 0 {
                    return Ok(removed);
                }
            }
        })
        .await
    }
}

/// Recomputes the chain from its checkpoint to its head, in one read transaction.
fn walk(tx: &mut dyn Tx) -> Result<Verification> {
    let head = tx.chain_head(false)?;
    let mut v = Verification {
        linked_now: 0,
        checked: 0,
        pending: tx.count_unlinked(&head)?,
        checkpoint_seq: head.checkpoint_seq,
        checkpoint_hash: head.checkpoint_hash.clone(),
        head_seq: head.seq,
        head_hash: head.hash.clone(),
        broken: None,
    };
    let (mut seq, mut prev) = (head.checkpoint_seq, head.checkpoint_hash.clone());
    // The newest retention event seen: the checkpoint must be the one it recorded.
    let mut recorded_checkpoint = None;
    'walk: while seq < head.seq {
        let batch = tx.chained_events(seq + 1, WALK_BATCH)?;
        if batch.is_empty() {
            break;
        }
        for linked in batch {
            if linked.seq > head.seq {
                break 'walk;
            }
            if let Some(problem) = chain::check(seq + 1, &prev, &linked) {
                let missing = problem == chain::Break::Missing;
                v.broken = Some(BrokenLink {
                    seq: Some(seq + 1),
                    event: if missing { None } else { linked.event },
                    problem: problem.as_str(),
                });
                return Ok(v);
            }
            if let Some(e) = linked
                .event
                .as_ref()
                .filter(|e| e.action == action::AUDIT_EVENTS_REMOVED)
            {
                let d = &e.details;
                recorded_checkpoint = Some((
                    d["through_seq"].as_i64(),
                    d["hash"].as_str().map(str::to_owned),
                ));
            }
            v.checked += 1;
            seq = linked.seq;
            prev = linked.hash;
        }
    }
    if seq < head.seq || prev != head.hash {
        // The newest events are gone, or the head was moved.
        v.broken = Some(BrokenLink {
            seq: Some(seq + 1),
            event: None,
            problem: chain::Break::Missing.as_str(),
        });
    } else if head.checkpoint_seq > 0
        && recorded_checkpoint
            != Some((
                Some(head.checkpoint_seq),
                Some(head.checkpoint_hash.clone()),
            ))
    {
        v.broken = Some(BrokenLink {
            seq: Some(head.checkpoint_seq),
            event: None,
            problem: chain::Break::CheckpointChanged.as_str(),
        });
    } else if let Some(event) = tx.event_outside_chain()? {
        // Written behind Roster's back (its queue entry gone): in the trail, not in the chain.
        v.broken = Some(BrokenLink {
            seq: None,
            event: Some(event),
            problem: chain::Break::NotInChain.as_str(),
        });
    }
    Ok(v)
}
