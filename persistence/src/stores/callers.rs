//! The one lookup of a request's caller, for every kind of credential: the caller's account as
//! admission reads it (`CallerRow`), the API token or session it used, and the account the request
//! is about,
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
    models::{AccountRow, ApiTokenUseRow, CallerRow, SessionUseRow},
    schema::{api_tokens, sessions, users},
};

impl Callers for Unit<'_> {
    fn find_caller(
        &mut self,
        credential: CredentialKey<'_>,
        target: Option<Uuid>,
    ) -> Result<Option<CallerLookup>> {
        let target_id = target.map(|t| t.to_string());
        let found = match (credential, target_id.as_deref()) {
            (CredentialKey::Session { account, session }, None) => {
                let (id, sid) = (account.to_string(), session.to_string());
                on_backend!(self.conn, c => Kept(sessions::table
                    .inner_join(users::table)
                    .filter(sessions::id.eq(&sid))
                    .filter(sessions::user_id.eq(&id))
                    .select((SessionUseRow::as_select(), CallerRow::as_select())))
                    .get_result::<(SessionUseRow, CallerRow)>(c)
                    .optional())
                .db()?
                .map(|(session, caller)| (caller, Access::Session(session), None))
            }
            (CredentialKey::Session { account, session }, Some(target_id)) => {
                let (id, sid) = (account.to_string(), session.to_string());
                let target = diesel::alias!(users as target);
                on_backend!(self.conn, c => Kept(sessions::table
                    .inner_join(users::table)
                    .left_join(target.on(target.field(users::id).eq(target_id)))
                    .filter(sessions::id.eq(&sid))
                    .filter(sessions::user_id.eq(&id))
                    .select((
                        SessionUseRow::as_select(),
                        CallerRow::as_select(),
                        target.fields(AccountRow::columns()).nullable(),
                    )))
                    .get_result::<(SessionUseRow, CallerRow, Option<AccountRow>)>(c)
                    .optional())
                .db()?
                .map(|(session, caller, account)| (caller, Access::Session(session), account))
            }
            (CredentialKey::ApiToken(hash), None) => {
                on_backend!(self.conn, c => Kept(api_tokens::table
                .inner_join(users::table)
                .filter(api_tokens::token_hash.eq(hash))
                .select((ApiTokenUseRow::as_select(), CallerRow::as_select())))
                .get_result::<(ApiTokenUseRow, CallerRow)>(c)
                .optional())
                .db()?
                .map(|(token, caller)| (caller, Access::ApiToken(token), None))
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
                .map(|(token, caller, account)| (caller, Access::ApiToken(token), account))
            }
        };
        found
            .map(|(caller, access, account)| {
                let (api_token, session) = match access {
                    Access::ApiToken(t) => (Some(t.into_use()?), None),
                    Access::Session(s) => (None, Some(s.into_use()?)),
                };
                Ok(CallerLookup {
                    caller: caller.into_caller()?,
                    api_token,
                    session,
                    target: account.map(AccountRow::into_account).transpose()?,
                })
            })
            .transpose()
    }
}

/// What the credential itself is, as read.
enum Access {
    ApiToken(ApiTokenUseRow),
    Session(SessionUseRow),
}
