//! The one lookup of a request's caller, for every kind of credential: the caller's account as
//! admission reads it (`CallerRow`), the API token or session it used, and the account the request
//! is about or the settings (`AlsoRead`), in one statement each way. Every request makes one of these (`read` in bench/README.md), so
//! each is a `Kept` statement.

use diesel::prelude::*;
use domain::{
    ports::{AlsoRead, CallerLookup, Callers, CredentialKey},
    Result,
};

use super::{on_backend, records::settings_from, statements::Kept, Db, Unit};
use crate::{
    models::{AccountRow, ApiTokenUseRow, CallerRow, SessionUseRow},
    schema::{api_tokens, sessions, settings, users},
};

impl Callers for Unit<'_> {
    fn find_caller(
        &mut self,
        credential: CredentialKey<'_>,
        also: AlsoRead,
    ) -> Result<Option<CallerLookup>> {
        let target = diesel::alias!(users as target);
        let found: Option<Found> = match (credential, also) {
            (CredentialKey::Session { account, session }, AlsoRead::Nothing) => {
                let (id, sid) = (account.to_string(), session.to_string());
                on_backend!(self.conn, c => Kept(sessions::table
                    .inner_join(users::table)
                    .filter(sessions::id.eq(&sid))
                    .filter(sessions::user_id.eq(&id))
                    .select((SessionUseRow::as_select(), CallerRow::as_select())))
                    .get_result::<(SessionUseRow, CallerRow)>(c)
                    .optional())
                .db()?
                .map(|(session, caller)| (caller, Access::Session(session), None, None))
            }
            (CredentialKey::Session { account, session }, AlsoRead::Settings) => {
                let (id, sid) = (account.to_string(), session.to_string());
                on_backend!(self.conn, c => Kept(sessions::table
                    .inner_join(users::table)
                    .filter(sessions::id.eq(&sid))
                    .filter(sessions::user_id.eq(&id))
                    .select((SessionUseRow::as_select(), CallerRow::as_select(), settings_document())))
                    .get_result::<(SessionUseRow, CallerRow, Option<String>)>(c)
                    .optional())
                .db()?
                .map(|(session, caller, doc)| (caller, Access::Session(session), None, Some(doc)))
            }
            (CredentialKey::Session { account, session }, AlsoRead::Account(target_id)) => {
                let (id, sid) = (account.to_string(), session.to_string());
                let target_id = target_id.to_string();
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
                .map(|(session, caller, account)| (caller, Access::Session(session), account, None))
            }
            (CredentialKey::ApiToken(hash), AlsoRead::Nothing) => {
                on_backend!(self.conn, c => Kept(api_tokens::table
                .inner_join(users::table)
                .filter(api_tokens::token_hash.eq(hash))
                .select((ApiTokenUseRow::as_select(), CallerRow::as_select())))
                .get_result::<(ApiTokenUseRow, CallerRow)>(c)
                .optional())
                .db()?
                .map(|(token, caller)| (caller, Access::ApiToken(token), None, None))
            }
            (CredentialKey::ApiToken(hash), AlsoRead::Settings) => {
                on_backend!(self.conn, c => Kept(api_tokens::table
                .inner_join(users::table)
                .filter(api_tokens::token_hash.eq(hash))
                .select((ApiTokenUseRow::as_select(), CallerRow::as_select(), settings_document())))
                .get_result::<(ApiTokenUseRow, CallerRow, Option<String>)>(c)
                .optional())
                .db()?
                .map(|(token, caller, doc)| (caller, Access::ApiToken(token), None, Some(doc)))
            }
            (CredentialKey::ApiToken(hash), AlsoRead::Account(target_id)) => {
                let target_id = target_id.to_string();
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
                .map(|(token, caller, account)| (caller, Access::ApiToken(token), account, None))
            }
        };
        found
            .map(|(caller, access, account, doc)| {
                let (api_token, session) = match access {
                    Access::ApiToken(t) => (Some(t.into_use()?), None),
                    Access::Session(s) => (None, Some(s.into_use()?)),
                };
                let target = account.map(AccountRow::into_account).transpose()?;
                let settings = doc.map(|doc| settings_from(doc.as_deref())).transpose()?;
                Ok(CallerLookup {
                    caller: caller.into_caller()?,
                    api_token,
                    session,
                    target,
                    settings,
                })
            })
            .transpose()
    }
}

/// The settings document, as a column of the caller's lookup (`None`: no settings row).
fn settings_document() -> diesel::dsl::SingleValue<
    diesel::dsl::Select<diesel::dsl::Find<settings::table, i32>, settings::document>,
> {
    settings::table
        .find(1)
        .select(settings::document)
        .single_value()
}

/// A lookup as read: the caller, its credential, the account (if asked for) and the settings
/// document (if asked for: `Some(None)` when there is no settings row).
type Found = (
    CallerRow,
    Access,
    Option<AccountRow>,
    Option<Option<String>>,
);

/// What the credential itself is, as read.
enum Access {
    ApiToken(ApiTokenUseRow),
    Session(SessionUseRow),
}
