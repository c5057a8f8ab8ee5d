//! Setup's claim, API tokens and settings.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{
    api_token::ApiToken,
    ports::{ApiTokens, SettingsStore, SetupClaim},
    settings::Settings,
    Error, Result,
};
use uuid::Uuid;

use super::{on_backend, seats, Db, Unit};
use crate::{
    error::is_unique_violation,
    models::{naive, ApiTokenRow},
    schema::{api_tokens, settings, setup_claim},
};

impl SetupClaim for Unit<'_> {
    fn claim_setup(&mut self) -> Result<bool> {
        let now = naive(Utc::now());
        let inserted = on_backend!(self.conn, c => diesel::insert_into(setup_claim::table)
            .values((setup_claim::id.eq(1), setup_claim::claimed_at.eq(now)))
            .execute(c));
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(crate::error::map(e)),
        }
    }
}

impl ApiTokens for Unit<'_> {
    fn insert_api_token(&mut self, token: &ApiToken, hash: &str) -> Result<()> {
        let row = ApiTokenRow::new(token, hash);
        on_backend!(self.conn, c => diesel::insert_into(api_tokens::table).values(&row).execute(c))
            .db()?;
        Ok(())
    }

    fn list_api_tokens(&mut self, user_id: Uuid) -> Result<Vec<ApiToken>> {
        let owner = user_id.to_string();
        let rows: Vec<ApiTokenRow> = on_backend!(self.conn, c => api_tokens::table
            .filter(api_tokens::user_id.eq(&owner))
            .order(api_tokens::id.asc())
            .select(ApiTokenRow::as_select())
            .load(c))
        .db()?;
        rows.into_iter().map(ApiTokenRow::into_token).collect()
    }

    fn delete_api_token(&mut self, user_id: Uuid, id: Uuid) -> Result<bool> {
        let (owner, id) = (user_id.to_string(), id.to_string());
        let n = on_backend!(self.conn, c => diesel::delete(
            api_tokens::table.filter(api_tokens::id.eq(&id)).filter(api_tokens::user_id.eq(&owner)),
        )
        .execute(c))
        .db()?;
        Ok(n > 0)
    }

    fn delete_api_tokens_of(&mut self, user_id: Uuid) -> Result<u64> {
        let owner = user_id.to_string();
        let n = on_backend!(self.conn, c => diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(&owner))).execute(c)).db()?;
        Ok(n as u64)
    }

    fn touch_api_token(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<()> {
        let id = id.to_string();
        on_backend!(self.conn, c => diesel::update(api_tokens::table.find(&id))
            .set(api_tokens::last_used_at.eq(Some(naive(at))))
            .execute(c))
        .db()?;
        Ok(())
    }
}

impl SettingsStore for Unit<'_> {
    fn load_settings(&mut self) -> Result<Settings> {
        let doc: Option<String> =
            on_backend!(self.conn, c => settings::table.find(1).select(settings::document).first(c).optional()).db()?;
        settings_from(doc.as_deref())
    }

    fn save_settings(&mut self, value: &Settings) -> Result<()> {
        let doc = serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))?;
        on_backend!(self.conn, c => diesel::update(settings::table.find(1)).set(settings::document.eq(&doc)).execute(c)).db()?;
        // The account writer checks limits where it counts seats.
        seats::set_limit(
            self.conn,
            domain::seats::ACTIVE_USERS,
            value.active_user_limit.map(i64::from),
        )
    }
}

/// The settings from their stored document (`None`: no settings row yet, the defaults).
pub(crate) fn settings_from(doc: Option<&str>) -> Result<Settings> {
    match doc {
        Some(doc) => serde_json::from_str(doc)
            .map_err(|e| Error::Internal(format!("stored settings are unreadable: {e}"))),
        None => Ok(Settings::default()),
    }
}
