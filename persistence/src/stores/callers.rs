//! The one lookup of a request's caller, for every kind of credential: the caller's account as
//! admission reads it (`CallerRow`), the API token it used, and the account the request is about,
//! in one statement each way. Every request makes one of these (`read` in bench/README.md), so
//! each is a `Kept` statement.

use diesel::prelude::*;
use domain::{
    ports::{CallerLookup, Callers, CredentialKey},
    Result,
};
use uuid::Uuid;

use super::{on_backend, statements::Kept, Db, Unit};
use crate::{
    models::{AccountRow, ApiTokenUseRow, CallerRow},
    schema::{api_tokens, users},
};

impl Callers for Unit<'_> {
    fn find_caller(
        &mut self,
        credential: CredentialKey<'_>,
        target: Option<Uuid>,
    ) -> Result<Option<CallerLookup>> {
        let target_id = target.map(|t| t.to_string());
        let found = match (credential, target_id.as_deref()) {
            (CredentialKey::Account(id), None) => {
                let id = id.to_string();
                on_backend!(self.conn, c => Kept(users::table
                    .filter(users::id.eq(&id))
                    .select(CallerRow::as_select()))
                    .get_result::<CallerRow>(c)
                    .optional())
                .db()?
                .map(|caller| (caller, None, None))
            }
            (CredentialKey::Account(id), Some(target_id)) => {
                let id = id.to_string();
                let target = diesel::alias!(users as target);
                on_backend!(self.conn, c => Kept(users::table
                    .left_join(target.on(target.field(users::id).eq(target_id)))
                    .filter(users::id.eq(&id))
                    .select((
                        CallerRow::as_select(),
                        target.fields(AccountRow::columns()).nullable(),
                    )))
                    .get_result::<(CallerRow, Option<AccountRow>)>(c)
                    .optional())
                .db()?
                .map(|(caller, account)| (caller, None, account))
            }
            (CredentialKey::ApiToken(hash), None) => {
                on_backend!(self.conn, c => Kept(api_tokens::table
                .inner_join(users::table)
                .filter(api_tokens::token_hash.eq(hash))
                .select((ApiTokenUseRow::as_select(), CallerRow::as_select())))
                .get_result::<(ApiTokenUseRow, CallerRow)>(c)
                .optional())
                .db()?
                .map(|(token, caller)| (caller, Some(token), None))
            }
            (CredentialKey::ApiToken(hash), Some(target_id)) => {
                let target = diesel::alias!(users as target);
                on_backend!(self.conn, c => Kept(api_tokens::table
                    .inner_join(users::table)
                    .left_join(target.on(target.field(users::id).eq(target_id)))
                    .filter(api_tokens::token_hash.eq(hash))
                    .select((
                        ApiTokenUseRow::as_select(),
                        CallerRow::as_select(),
                        target.fields(AccountRow::columns()).nullable(),
                    )))
                    .get_result::<(ApiTokenUseRow, CallerRow, Option<AccountRow>)>(c)
                    .optional())
                .db()?
                .map(|(token, caller, account)| (caller, Some(token), account))
            }
        };
        found
            .map(|(caller, token, account)| {
                Ok(CallerLookup {
                    caller: caller.into_caller()?,
                    api_token: token.map(ApiTokenUseRow::into_use).transpose()?,
                    target: account.map(AccountRow::into_account).transpose()?,
                })
            })
            .transpose()
    }
}
