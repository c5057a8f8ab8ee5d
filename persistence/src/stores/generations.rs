//! The generations of accounts' one-time tokens (`domain::one_time`): one row per account and
//! purpose (invitations share the activation's: `Purpose::generation_purpose`), only once raised.

use diesel::{prelude::*, upsert::excluded};
use domain::{one_time::Purpose, ports::TokenGenerations, Result};
use uuid::Uuid;

use super::{on_backend, Db, Unit};
use crate::schema::token_generations;

impl TokenGenerations for Unit<'_> {
    fn token_generation(&mut self, user_id: Uuid, purpose: Purpose) -> Result<i64> {
        let found: Option<i64> = on_backend!(self.conn, c => token_generations::table
            .find((user_id.to_string(), purpose.generation_purpose().as_str()))
            .select(token_generations::generation)
            .first(c)
            .optional())
        .db()?;
        Ok(found.unwrap_or(0))
    }

    fn raise_token_generation(&mut self, user_id: Uuid, purpose: Purpose) -> Result<i64> {
        let row = (
            token_generations::user_id.eq(user_id.to_string()),
            token_generations::purpose.eq(purpose.generation_purpose().as_str()),
            token_generations::generation.eq(1i64),
        );
        on_backend!(self.conn, c => diesel::insert_into(token_generations::table)
            .values(row.clone())
            .on_conflict((token_generations::user_id, token_generations::purpose))
            .do_update()
            .set(token_generations::generation.eq(token_generations::generation + excluded(token_generations::generation)))
            .returning(token_generations::generation)
            .get_result(c))
        .db()
    }
}
