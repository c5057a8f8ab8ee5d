//! Groups and their members (`domain::assignments::Group`), with the plain Diesel DSL: off the
//! measured paths.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use domain::{account::Account, assignments::Group, ports::Groups, Result};
use uuid::Uuid;

use super::{on_backend, Db, Unit};
use crate::{
    models::{parse_id, AccountRow},
    schema::{group_members, groups, users},
    stamp::Stamp,
};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = groups)]
struct GroupRow {
    id: String,
    name: String,
    name_key: String,
    created_at: Stamp,
    updated_at: Stamp,
}

impl GroupRow {
    fn into_group(self) -> Result<Group> {
        Ok(Group {
            id: parse_id(&self.id)?,
            name: self.name,
            created_at: self.created_at.into(),
            updated_at: self.updated_at.into(),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = group_members)]
struct MemberRow {
    group_id: String,
    user_id: String,
    added_at: Stamp,
}

fn ids(rows: Vec<String>) -> Result<Vec<Uuid>> {
    rows.iter().map(|s| parse_id(s)).collect()
}

impl Groups for Unit<'_> {
    fn list_groups(&mut self) -> Result<Vec<Group>> {
        let rows: Vec<GroupRow> = on_backend!(self.conn, c => groups::table
            .order(groups::name_key)
            .select(GroupRow::as_select())
            .load(c))
        .db()?;
        rows.into_iter().map(GroupRow::into_group).collect()
    }

    fn find_group(&mut self, id: Uuid) -> Result<Option<Group>> {
        let row: Option<GroupRow> = on_backend!(self.conn, c => groups::table
            .find(id.to_string())
            .select(GroupRow::as_select())
            .first(c)
            .optional())
        .db()?;
        row.map(GroupRow::into_group).transpose()
    }

    fn insert_group(&mut self, group: &Group, name_key: &str) -> Result<()> {
        let row = GroupRow {
            id: group.id.to_string(),
            name: group.name.clone(),
            name_key: name_key.to_owned(),
            created_at: group.created_at.into(),
            updated_at: group.updated_at.into(),
        };
        on_backend!(self.conn, c => diesel::insert_into(groups::table).values(&row).execute(c))
            .db()?;
        Ok(())
    }

    fn rename_group(&mut self, group: &Group, name_key: &str) -> Result<bool> {
        let updated: Stamp = group.updated_at.into();
        let n =
            on_backend!(self.conn, c => diesel::update(groups::table.find(group.id.to_string()))
            .set((
                groups::name.eq(&group.name),
                groups::name_key.eq(name_key),
                groups::updated_at.eq(updated),
            ))
            .execute(c))
            .db()?;
        Ok(n > 0)
    }

    fn delete_group(&mut self, id: Uuid) -> Result<bool> {
        // Its memberships go with it (`ON DELETE CASCADE`).
        let n = on_backend!(self.conn, c => diesel::delete(groups::table.find(id.to_string())).execute(c))
            .db()?;
        Ok(n > 0)
    }

    fn add_members(
        &mut self,
        group_id: Uuid,
        users: &[Uuid],
        at: DateTime<Utc>,
    ) -> Result<Vec<Uuid>> {
        let group = group_id.to_string();
        let wanted: Vec<String> = users.iter().map(Uuid::to_string).collect();
        let present: Vec<String> = on_backend!(self.conn, c => group_members::table
            .filter(group_members::group_id.eq(&group))
            .filter(group_members::user_id.eq_any(&wanted))
            .select(group_members::user_id)
            .load(c))
        .db()?;
        let added: Vec<String> = wanted
            .into_iter()
            .filter(|u| !present.contains(u))
            .collect();
        let rows: Vec<MemberRow> = added
            .iter()
            .map(|u| MemberRow {
                group_id: group.clone(),
                user_id: u.clone(),
                added_at: at.into(),
            })
            .collect();
        for chunk in rows.chunks(500) {
            on_backend!(self.conn, c => diesel::insert_into(group_members::table).values(chunk).execute(c))
                .db()?;
        }
        ids(added)
    }

    fn remove_members(&mut self, group_id: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>> {
        let group = group_id.to_string();
        let wanted: Vec<String> = users.iter().map(Uuid::to_string).collect();
        let removed: Vec<String> = on_backend!(self.conn, c => diesel::delete(group_members::table
            .filter(group_members::group_id.eq(&group))
            .filter(group_members::user_id.eq_any(&wanted)))
            .returning(group_members::user_id)
            .get_results(c))
        .db()?;
        ids(removed)
    }

    fn list_members(
        &mut self,
        group_id: Uuid,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Account>> {
        let group = group_id.to_string();
        let after = after.unwrap_or("").to_owned();
        let rows: Vec<AccountRow> = on_backend!(self.conn, c => group_members::table
            .inner_join(users::table)
            .filter(group_members::group_id.eq(&group))
            .filter(users::username_key.gt(&after))
            .order(users::username_key)
            .limit(i64::from(limit))
            .select(AccountRow::as_select())
            .load(c))
        .db()?;
        rows.into_iter().map(AccountRow::into_account).collect()
    }

    fn clear_members(&mut self, group_id: Uuid) -> Result<Vec<Uuid>> {
        let removed: Vec<String> = on_backend!(self.conn, c => diesel::delete(group_members::table
            .filter(group_members::group_id.eq(group_id.to_string())))
            .returning(group_members::user_id)
            .get_results(c))
        .db()?;
        ids(removed)
    }

    fn groups_of(&mut self, user_id: Uuid) -> Result<Vec<Group>> {
        let rows: Vec<GroupRow> = on_backend!(self.conn, c => group_members::table
            .inner_join(groups::table)
            .filter(group_members::user_id.eq(user_id.to_string()))
            .order(groups::name_key)
            .select(GroupRow::as_select())
            .load(c))
        .db()?;
        rows.into_iter().map(GroupRow::into_group).collect()
    }

    fn leave_groups(&mut self, user_id: Uuid) -> Result<Vec<Uuid>> {
        let left: Vec<String> = on_backend!(self.conn, c => diesel::delete(group_members::table
            .filter(group_members::user_id.eq(user_id.to_string())))
            .returning(group_members::group_id)
            .get_results(c))
        .db()?;
        ids(left)
    }
}
