use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{
    api_token::{ApiToken, ApiTokenUse},
    audit::AuditEvent,
    policy::CallerAccount,
    ports::{ApiTokens, AuditLog, SettingsStore, SetupClaim, TokenAndAccount},
    settings::Settings,
    Error, Result,
};
use uuid::Uuid;

use super::{insert_batched, on_backend, Db, Kept, Unit};
use crate::{
    error::is_unique_violation,
    models::{naive, AccountRow, ApiTokenRow, ApiTokenUseRow, AuditRow, CallerRow},
    schema::{api_tokens, audit_events, settings, setup_claim, users},
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

    fn find_api_token(&mut self, hash: &str) -> Result<Option<(ApiTokenUse, CallerAccount)>> {
        let row: Option<(ApiTokenUseRow, CallerRow)> =
            on_backend!(self.conn, c => Kept(api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(hash))
            .select((ApiTokenUseRow::as_select(), CallerRow::as_select())))
            .get_result(c)
            .optional())
            .db()?;
        row.map(|(token, owner)| Ok((token.into_use()?, owner.into_caller()?)))
            .transpose()
    }

    fn find_api_token_and_account(
        &mut self,
        hash: &str,
        target: Uuid,
    ) -> Result<Option<TokenAndAccount>> {
        let target_id = target.to_string();
        let target = diesel::alias!(users as target);
        let row: Option<(ApiTokenUseRow, CallerRow, Option<AccountRow>)> =
            on_backend!(self.conn, c => Kept(api_tokens::table
            .inner_join(users::table)
            .left_join(target.on(target.field(users::id).eq(&target_id)))
            .filter(api_tokens::token_hash.eq(hash))
            .select((
                ApiTokenUseRow::as_select(),
                CallerRow::as_select(),
                target.fields(AccountRow::columns()).nullable(),
            )))
            .get_result(c)
            .optional())
            .db()?;
        row.map(|(token, owner, target)| {
            Ok((
                token.into_use()?,
                owner.into_caller()?,
                target.map(AccountRow::into_account).transpose()?,
            ))
        })
        .transpose()
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
        match doc {
            Some(doc) => serde_json::from_str(&doc)
                .map_err(|e| Error::Internal(format!("stored settings are unreadable: {e}"))),
            None => Ok(Settings::default()),
        }
    }

    fn save_settings(&mut self, value: &Settings) -> Result<()> {
        let doc = serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))?;
        on_backend!(self.conn, c => diesel::update(settings::table.find(1)).set(settings::document.eq(&doc)).execute(c)).db()?;
        Ok(())
    }
}

impl AuditLog for Unit<'_> {
    fn append_audit(&mut self, event: &AuditEvent) -> Result<()> {
        let row = AuditRow::new(event);
        on_backend!(self.conn, c => diesel::insert_into(audit_events::table).values(&row).execute(c)).db()?;
        Ok(())
    }

    fn append_audits(&mut self, events: &[AuditEvent]) -> Result<()> {
        let rows: Vec<AuditRow> = events.iter().map(AuditRow::new).collect();
        insert_batched!(self.conn, audit_events::table, rows, 2500);
        Ok(())
    }
}
