//! Accounts' TOTP factors and recovery codes (`domain::mfa`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{mfa::TotpFactor, ports::MfaFactors, Result};
use uuid::Uuid;

use super::{on_backend, Db, Unit};
use crate::{
    models::{naive, parse_id},
    schema::{mfa_factors, mfa_one_time_passwords, recovery_codes},
    stamp::Stamp,
};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = mfa_factors)]
#[diesel(treat_none_as_null = true)]
struct FactorRow {
    user_id: String,
    sealed_secret: String,
    confirmed_at: Option<Stamp>,
    last_used_step: Option<i64>,
    created_at: Stamp,
}

impl MfaFactors for Unit<'_> {
    fn find_totp_factor(&mut self, user_id: Uuid) -> Result<Option<TotpFactor>> {
        let row: Option<FactorRow> = on_backend!(self.conn, c => mfa_factors::table
            .find(user_id.to_string())
            .select(FactorRow::as_select())
            .first(c)
            .optional())
        .db()?;
        row.map(|r| {
            Ok(TotpFactor {
                user_id: parse_id(&r.user_id)?,
                sealed_secret: r.sealed_secret,
                confirmed_at: r.confirmed_at.map(DateTime::<Utc>::from),
                last_used_step: r.last_used_step,
                created_at: r.created_at.into(),
            })
        })
        .transpose()
    }

    fn save_totp_factor(&mut self, factor: &TotpFactor) -> Result<()> {
        let row = FactorRow {
            user_id: factor.user_id.to_string(),
            sealed_secret: factor.sealed_secret.clone(),
            confirmed_at: factor.confirmed_at.map(Into::into),
            last_used_step: factor.last_used_step,
            created_at: factor.created_at.into(),
        };
        on_backend!(self.conn, c => diesel::insert_into(mfa_factors::table)
            .values(&row)
            .on_conflict(mfa_factors::user_id)
            .do_update()
            .set(&row)
            .execute(c))
        .db()?;
        Ok(())
    }

    fn delete_totp_factor(&mut self, user_id: Uuid) -> Result<()> {
        let id = user_id.to_string();
        on_backend!(self.conn, c => diesel::delete(mfa_factors::table.find(&id)).execute(c))
            .db()?;
        on_backend!(self.conn, c => diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(&id))).execute(c))
            .db()?;
        on_backend!(self.conn, c => diesel::delete(mfa_one_time_passwords::table.find(&id)).execute(c))
            .db()?;
        Ok(())
    }

    fn replace_recovery_codes(&mut self, user_id: Uuid, hashes: &[String]) -> Result<()> {
        let id = user_id.to_string();
        on_backend!(self.conn, c => diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(&id))).execute(c))
            .db()?;
        let rows: Vec<_> = hashes
            .iter()
            .map(|h| {
                (
                    recovery_codes::user_id.eq(id.clone()),
                    recovery_codes::code_hash.eq(h.clone()),
                )
            })
            .collect();
        on_backend!(self.conn, c => diesel::insert_into(recovery_codes::table).values(&rows).execute(c))
            .db()?;
        Ok(())
    }

    fn use_recovery_code(&mut self, user_id: Uuid, hash: &str) -> Result<bool> {
        let n = on_backend!(self.conn, c => diesel::delete(
            recovery_codes::table.find((user_id.to_string(), hash)),
        )
        .execute(c))
        .db()?;
        Ok(n == 1)
    }

    fn count_recovery_codes(&mut self, user_id: Uuid) -> Result<i64> {
        on_backend!(self.conn, c => recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id.to_string()))
            .count()
            .get_result(c))
        .db()
    }

    fn set_mfa_one_time_password(
        &mut self,
        user_id: Uuid,
        hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let row = (
            mfa_one_time_passwords::user_id.eq(user_id.to_string()),
            mfa_one_time_passwords::code_hash.eq(hash),
            mfa_one_time_passwords::expires_at.eq(naive(expires_at)),
        );
        on_backend!(self.conn, c => diesel::insert_into(mfa_one_time_passwords::table)
            .values(row)
            .on_conflict(mfa_one_time_passwords::user_id)
            .do_update()
            .set((
                mfa_one_time_passwords::code_hash.eq(hash),
                mfa_one_time_passwords::expires_at.eq(naive(expires_at)),
            ))
            .execute(c))
        .db()?;
        Ok(())
    }

    fn use_mfa_one_time_password(
        &mut self,
        user_id: Uuid,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = on_backend!(self.conn, c => diesel::delete(
            mfa_one_time_passwords::table
                .filter(mfa_one_time_passwords::user_id.eq(user_id.to_string()))
                .filter(mfa_one_time_passwords::code_hash.eq(hash))
                .filter(mfa_one_time_passwords::expires_at.gt(naive(now))),
        )
        .execute(c))
        .db()?;
        Ok(n == 1)
    }
}
