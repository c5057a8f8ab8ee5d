use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{
    account::Account,
    api_token::ApiToken,
    audit::AuditEvent,
    ports::{ApiTokens, AuditLog, SettingsStore, SetupClaim},
    settings::Settings,
    Error, Result,
};
use uuid::Uuid;

use super::{accounts::with_roles, Db, Unit};
use crate::{
    error::is_unique_violation,
    models::{naive, ApiTokenRow, AuditRow, UserRow},
    schema::{api_tokens, audit_events, settings, setup_claim, users},
};

impl SetupClaim for Unit<'_> {
    fn claim_setup(&mut self) -> Result<bool> {
        let inserted = diesel::insert_into(setup_claim::table)
            .values((
                setup_claim::id.eq(1),
                setup_claim::claimed_at.eq(naive(Utc::now())),
            ))
            .execute(self.conn);
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(crate::error::map(e)),
        }
    }
}

impl ApiTokens for Unit<'_> {
    fn insert_api_token(&mut self, token: &ApiToken, hash: &str) -> Result<()> {
        diesel::insert_into(api_tokens::table)
            .values(ApiTokenRow::new(token, hash))
            .execute(self.conn)
            .db()?;
        Ok(())
    }

    fn list_api_tokens(&mut self, user_id: Uuid) -> Result<Vec<ApiToken>> {
        api_tokens::table
            .filter(api_tokens::user_id.eq(user_id.to_string()))
            .order(api_tokens::id.asc())
            .select(ApiTokenRow::as_select())
            .load(self.conn)
            .db()?
            .into_iter()
            .map(ApiTokenRow::into_token)
            .collect()
    }

    fn delete_api_token(&mut self, user_id: Uuid, id: Uuid) -> Result<bool> {
        let n = diesel::delete(
            api_tokens::table
                .filter(api_tokens::id.eq(id.to_string()))
                .filter(api_tokens::user_id.eq(user_id.to_string())),
        )
        .execute(self.conn)
        .db()?;
        Ok(n > 0)
    }

    fn delete_api_tokens_of(&mut self, user_id: Uuid) -> Result<u64> {
        let n =
            diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(user_id.to_string())))
                .execute(self.conn)
                .db()?;
        Ok(n as u64)
    }

    fn find_api_token(&mut self, hash: &str) -> Result<Option<(ApiToken, Account)>> {
        let found: Option<(ApiTokenRow, UserRow)> = api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(hash))
            .select((ApiTokenRow::as_select(), UserRow::as_select()))
            .first(self.conn)
            .optional()
            .db()?;
        let Some((token, user)) = found else {
            return Ok(None);
        };
        let account = with_roles(self.conn, vec![user])?
            .pop()
            .ok_or_else(|| Error::Internal("token owner vanished".into()))?;
        Ok(Some((token.into_token()?, account)))
    }

    fn touch_api_token(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        diesel::update(api_tokens::table.find(id.to_string()))
            .set(api_tokens::last_used_at.eq(Some(naive(at))))
            .execute(self.conn)
            .db()?;
        Ok(())
    }
}

impl SettingsStore for Unit<'_> {
    fn load_settings(&mut self) -> Result<Settings> {
        let doc: Option<String> = settings::table
            .find(1)
            .select(settings::document)
            .first(self.conn)
            .optional()
            .db()?;
        match doc {
            Some(doc) => serde_json::from_str(&doc)
                .map_err(|e| Error::Internal(format!("stored settings are unreadable: {e}"))),
            None => Ok(Settings::default()),
        }
    }

    fn save_settings(&mut self, value: &Settings) -> Result<()> {
        let doc = serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))?;
        diesel::update(settings::table.find(1))
            .set(settings::document.eq(doc))
            .execute(self.conn)
            .db()?;
        Ok(())
    }
}

impl AuditLog for Unit<'_> {
    fn append_audit(&mut self, event: &AuditEvent) -> Result<()> {
        diesel::insert_into(audit_events::table)
            .values(AuditRow::new(event))
            .execute(self.conn)
            .db()?;
        Ok(())
    }

    fn append_audits(&mut self, events: &[AuditEvent]) -> Result<()> {
        let rows: Vec<AuditRow> = events.iter().map(AuditRow::new).collect();
        super::insert_batched!(self.conn, audit_events::table, rows, 2500);
        Ok(())
    }
}
