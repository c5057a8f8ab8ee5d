//! Sessions, their refresh tokens, and sign-ins waiting for a challenge (SPEC §4). Plain diesel:
//! none of this is on a measured hot path (an access token's session is read by `callers`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{
    ports::{Challenges, Sessions},
    session::{Challenge, RefreshTokenUse, RequiredAction, Session},
    Error, Result,
};
use uuid::Uuid;

use super::{on_backend, Db, Unit};
use crate::{
    models::{naive, ChallengeRow, SessionRow},
    schema::{refresh_tokens, required_actions, sessions, sign_in_challenges},
    stamp::Stamp,
};

impl Sessions for Unit<'_> {
    fn insert_session(&mut self, session: &Session) -> Result<()> {
        let row = SessionRow::new(session);
        on_backend!(self.conn, c => diesel::insert_into(sessions::table).values(&row).execute(c))
            .db()?;
        Ok(())
    }

    fn insert_refresh_token(&mut self, session: Uuid, hash: &str, at: DateTime<Utc>) -> Result<()> {
        let values = (
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::session_id.eq(session.to_string()),
            refresh_tokens::issued_at.eq(naive(at)),
            refresh_tokens::used_at.eq(None::<Stamp>),
        );
        on_backend!(self.conn, c => diesel::insert_into(refresh_tokens::table).values(values.clone()).execute(c))
            .db()?;
        Ok(())
    }

    fn find_refresh_token(&mut self, hash: &str) -> Result<Option<RefreshTokenUse>> {
        let found: Option<(Option<Stamp>, SessionRow)> =
            on_backend!(self.conn, c => refresh_tokens::table
            .inner_join(sessions::table)
            .filter(refresh_tokens::token_hash.eq(hash))
            .select((refresh_tokens::used_at, SessionRow::as_select()))
            .first(c)
            .optional())
            .db()?;
        found
            .map(|(used_at, session)| {
                Ok(RefreshTokenUse {
                    session: session.into_session()?,
                    used_at: used_at.map(Into::into),
                })
            })
            .transpose()
    }

    fn use_refresh_token(&mut self, hash: &str, at: DateTime<Utc>) -> Result<bool> {
        // Only an unused token is marked: of two concurrent exchanges, the second finds it used
        // (PostgreSQL re-reads the row once the first commits).
        let n = on_backend!(self.conn, c => diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(hash))
                .filter(refresh_tokens::used_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(Some(naive(at))))
        .execute(c))
        .db()?;
        Ok(n == 1)
    }

    fn touch_session(
        &mut self,
        id: Uuid,
        at: DateTime<Utc>,
        idle_end: DateTime<Utc>,
    ) -> Result<()> {
        let id = id.to_string();
        on_backend!(self.conn, c => diesel::update(sessions::table.find(&id))
            .set((
                sessions::last_used_at.eq(naive(at)),
                sessions::idle_expires_at.eq(naive(idle_end)),
            ))
            .execute(c))
        .db()?;
        Ok(())
    }

    fn list_sessions(&mut self, user_id: Uuid) -> Result<Vec<Session>> {
        let owner = user_id.to_string();
        let rows: Vec<SessionRow> = on_backend!(self.conn, c => sessions::table
            .filter(sessions::user_id.eq(&owner))
            .order(sessions::id.desc())
            .select(SessionRow::as_select())
            .load(c))
        .db()?;
        rows.into_iter().map(SessionRow::into_session).collect()
    }

    fn delete_session(&mut self, user_id: Uuid, id: Uuid) -> Result<bool> {
        let (owner, id) = (user_id.to_string(), id.to_string());
        let n = on_backend!(self.conn, c => diesel::delete(
            sessions::table.filter(sessions::id.eq(&id)).filter(sessions::user_id.eq(&owner)),
        )
        .execute(c))
        .db()?;
        Ok(n > 0)
    }

    fn delete_ended_sessions(&mut self, now: DateTime<Utc>) -> Result<u64> {
        let now = naive(now);
        let n = on_backend!(self.conn, c => diesel::delete(
            sessions::table.filter(sessions::expires_at.le(now).or(sessions::idle_expires_at.le(now))),
        )
        .execute(c))
        .db()?;
        Ok(n as u64)
    }

    fn delete_sessions_of(&mut self, user_id: Uuid, except: Option<Uuid>) -> Result<u64> {
        let owner = user_id.to_string();
        let keep = except.map(|id| id.to_string()).unwrap_or_default();
        let n = on_backend!(self.conn, c => diesel::delete(
            sessions::table.filter(sessions::user_id.eq(&owner)).filter(sessions::id.ne(&keep)),
        )
        .execute(c))
        .db()?;
        Ok(n as u64)
    }
}

impl Challenges for Unit<'_> {
    fn insert_challenge(&mut self, challenge: &Challenge, hash: &str) -> Result<()> {
        let row = ChallengeRow::new(challenge, hash);
        on_backend!(self.conn, c => diesel::insert_into(sign_in_challenges::table).values(&row).execute(c))
            .db()?;
        Ok(())
    }

    fn find_challenge(&mut self, hash: &str) -> Result<Option<Challenge>> {
        let row: Option<ChallengeRow> = on_backend!(self.conn, c => sign_in_challenges::table
            .find(hash)
            .select(ChallengeRow::as_select())
            .first(c)
            .optional())
        .db()?;
        row.map(ChallengeRow::into_challenge).transpose()
    }

    fn take_challenge(&mut self, hash: &str) -> Result<Option<Challenge>> {
        let Some(challenge) = self.find_challenge(hash)? else {
            return Ok(None);
        };
        // Whoever deletes the row used the challenge; a concurrent taker deletes nothing.
        let n = on_backend!(self.conn, c => diesel::delete(sign_in_challenges::table.find(hash)).execute(c))
            .db()?;
        Ok((n == 1).then_some(challenge))
    }

    fn required_actions(&mut self, user_id: Uuid) -> Result<Vec<(RequiredAction, DateTime<Utc>)>> {
        let owner = user_id.to_string();
        let rows: Vec<(String, Stamp)> = on_backend!(self.conn, c => required_actions::table
            .filter(required_actions::user_id.eq(&owner))
            .order((required_actions::created_at.asc(), required_actions::action.asc()))
            .select((required_actions::action, required_actions::created_at))
            .load(c))
        .db()?;
        rows.into_iter()
            .map(|(name, at)| {
                RequiredAction::parse(&name)
                    .map(|action| (action, at.into()))
                    .ok_or_else(|| {
                        Error::Internal(format!("stored required action {name:?} is unknown"))
                    })
            })
            .collect()
    }

    fn require_action(
        &mut self,
        user_id: Uuid,
        action: RequiredAction,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let values = (
            required_actions::user_id.eq(user_id.to_string()),
            required_actions::action.eq(action.as_str()),
            required_actions::created_at.eq(naive(at)),
        );
        on_backend!(self.conn, c => diesel::insert_into(required_actions::table)
            .values(values.clone())
            .on_conflict_do_nothing()
            .execute(c))
        .db()?;
        Ok(())
    }

    fn clear_required_actions(&mut self, user_id: Uuid, actions: &[RequiredAction]) -> Result<()> {
        let owner = user_id.to_string();
        let names: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
        on_backend!(self.conn, c => diesel::delete(
            required_actions::table
                .filter(required_actions::user_id.eq(&owner))
                .filter(required_actions::action.eq_any(&names)),
        )
        .execute(c))
        .db()?;
        Ok(())
    }

    fn delete_expired_challenges(&mut self, now: DateTime<Utc>) -> Result<u64> {
        let now = naive(now);
        let n = on_backend!(self.conn, c => diesel::delete(
            sign_in_challenges::table.filter(sign_in_challenges::expires_at.le(now)),
        )
        .execute(c))
        .db()?;
        Ok(n as u64)
    }

    fn delete_challenges_of(&mut self, user_id: Uuid) -> Result<u64> {
        let owner = user_id.to_string();
        let n = on_backend!(self.conn, c => diesel::delete(
            sign_in_challenges::table.filter(sign_in_challenges::user_id.eq(&owner)),
        )
        .execute(c))
        .db()?;
        Ok(n as u64)
    }
}
