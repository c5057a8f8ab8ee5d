//! Background work: ended sessions and challenges deleted, and dormant accounts (SPEC §2): with `deactivate_after_days_inactive` set, accounts unused for
//! that long are deactivated, freeing their seats. Admins and the primary contact are exempt.
//! The API runs the sweep on a timer; it is safe to run on every replica at once (each account is
//! re-read and held before it is changed, and one already deactivated is skipped).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{accounts::end_access, Services};
use crate::{
    account::Account,
    audit::{action, Actor, AuditEvent, Origin},
    filter::{Compare, Filter, FlagField, Memberships, OptionalField, TimeField},
    paging::{Position, Sort, UserQuery, MAX_LIMIT},
    roles::ADMIN,
    Result,
};

/// Accounts that count as dormant at `cutoff`: active, not admins, and last used (or else
/// activated, or else created) before it.
pub fn dormant(cutoff: DateTime<Utc>) -> Filter {
    let unset = |field| Filter::Not(Box::new(Filter::IsSet(OptionalField::Time(field))));
    Filter::And(vec![
        Filter::Flag(FlagField::Active, true),
        Filter::Not(Box::new(Filter::Role(ADMIN.into()))),
        Filter::Or(vec![
            Filter::Time(TimeField::LastActiveAt, Compare::Before, cutoff),
            Filter::And(vec![
                unset(TimeField::LastActiveAt),
                Filter::Time(TimeField::ActivatedAt, Compare::Before, cutoff),
            ]),
            Filter::And(vec![
                unset(TimeField::LastActiveAt),
                unset(TimeField::ActivatedAt),
                Filter::Time(TimeField::CreatedAt, Compare::Before, cutoff),
            ]),
        ]),
    ])
}

impl Services {
    /// Deletes what has ended by itself: sessions past their idle or absolute end (with their
    /// refresh tokens), expired sign-in challenges, and outbox messages finished more than
    /// [`super::KEEP_FINISHED_DAYS`] ago, and idempotency keys past their 24 hours. How many of
    /// each.
    pub async fn clean_up(&self) -> Result<(u64, u64, u64, u64)> {
        self.database(|s| {
            let now = crate::now();
            s.store.write(|tx| {
                Ok((
                    tx.delete_ended_sessions(now)?,
                    tx.delete_expired_challenges(now)?,
                    tx.delete_finished_messages(now - Duration::days(super::KEEP_FINISHED_DAYS))?,
                    tx.delete_expired_idempotency_keys(crate::idempotency::expired_before(now))?,
                ))
            })
        })
        .await
    }

    /// Deactivates the dormant accounts, if the setting is on; how many.
    pub async fn sweep_dormant(&self) -> Result<u64> {
        self.database(|s| s.sweep()).await
    }

    fn sweep(&self) -> Result<u64> {
        let settings = self.store.read(|tx| tx.load_settings())?;
        let Some(days) = settings.deactivate_after_days_inactive else {
            return Ok(0);
        };
        let now = crate::now();
        let filter = dormant(now - Duration::days(i64::from(days)));
        let mut after = None;
        let mut swept = 0;
        loop {
            let query = UserQuery {
                filter: filter.clone(),
                sort: Sort::default(),
                after: after.clone(),
                limit: MAX_LIMIT,
            };
            let page = self.store.read(|tx| tx.list_accounts(&query, now))?;
            for account in page.iter().take(MAX_LIMIT as usize) {
                if Some(account.id) != settings.primary_contact
                    && self.deactivate_dormant(account, &filter, days, now)?
                {
                    swept += 1;
                }
            }
            match page.get(MAX_LIMIT as usize - 1) {
                Some(last) if page.len() > MAX_LIMIT as usize => {
                    after = Some(Position {
                        key: last.username.key(),
                        id: last.id,
                    });
                }
                _ => return Ok(swept),
            }
        }
    }

    /// Deactivates one account, if it is still dormant once held.
    fn deactivate_dormant(
        &self,
        listed: &Account,
        filter: &Filter,
        days: u32,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.store.write(|tx| {
            let Some(before) = tx.find_account_for_update(listed.id)? else {
                return Ok(false);
            };
            // The sweep's filter names no membership.
            if !filter.matches(&before, &Memberships::default(), now) {
                return Ok(false);
            }
            let mut after = before.clone();
            after.active = false;
            after.version += 1;
            after.updated_at = now;
            after.updated_by = None;
            tx.update_account(&before, &after)?;
            end_access(tx, after.id)?;
            tx.effects().audit(
                AuditEvent::new(
                    Actor::system(),
                    action::USER_DEACTIVATED,
                    &Origin::default(),
                )
                .on_account(&after)
                .details(json!({
                    "reason": "dormant",
                    "deactivate_after_days_inactive": days,
                    "last_active_at": before.last_active_at,
                    "active": {"before": true, "after": false},
                })),
            );
            Ok(true)
        })
    }
}
