//! Assignments of accounts to instances and "access to all" grants (`domain::assignments`), with
//! the plain Diesel DSL: off the measured paths.

use diesel::prelude::*;
use domain::{
    assignments::{AllInstances, Assignment, InstanceRole},
    ports::Assignments,
    Error, Result,
};
use uuid::Uuid;

use super::{on_backend, Db, Unit};
use crate::{
    conn::DbConn,
    models::{parse_id, parse_roles},
    schema::{all_instance_grants, applications, assignments, instances, users},
    stamp::Stamp,
};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = assignments)]
struct AssignmentRow {
    instance_id: String,
    user_id: String,
    application_id: String,
    enabled: bool,
    instance_role: String,
    created_at: Stamp,
}

impl AssignmentRow {
    fn new(a: &Assignment) -> Self {
        Self {
            instance_id: a.instance_id.to_string(),
            user_id: a.user_id.to_string(),
            application_id: a.application_id.to_string(),
            enabled: a.enabled,
            instance_role: a.role.as_str().to_owned(),
            created_at: a.created_at.into(),
        }
    }

    fn into_assignment(self) -> Result<Assignment> {
        Ok(Assignment {
            user_id: parse_id(&self.user_id)?,
            instance_id: parse_id(&self.instance_id)?,
            application_id: parse_id(&self.application_id)?,
            enabled: self.enabled,
            role: InstanceRole::parse(&self.instance_role).ok_or_else(|| {
                Error::Internal(format!("unknown instance role {:?}", self.instance_role))
            })?,
            created_at: self.created_at.into(),
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = all_instance_grants)]
struct GrantRow {
    application_id: String,
    user_id: String,
    enabled: bool,
    created_at: Stamp,
}

impl GrantRow {
    fn new(g: &AllInstances) -> Self {
        Self {
            application_id: g.application_id.to_string(),
            user_id: g.user_id.to_string(),
            enabled: g.enabled,
            created_at: g.created_at.into(),
        }
    }

    fn into_grant(self) -> Result<AllInstances> {
        Ok(AllInstances {
            user_id: parse_id(&self.user_id)?,
            application_id: parse_id(&self.application_id)?,
            enabled: self.enabled,
            created_at: self.created_at.into(),
        })
    }
}

fn strings(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

fn ids(rows: Vec<String>) -> Result<Vec<Uuid>> {
    rows.iter().map(|s| parse_id(s)).collect()
}

impl Assignments for Unit<'_> {
    fn lock_instance(&mut self, id: Uuid) -> Result<()> {
        match self.conn {
            DbConn::Pg(pg) => {
                instances::table
                    .find(id.to_string())
                    .select(instances::id)
                    .for_update()
                    .first::<String>(pg)
                    .optional()
                    .db()?;
            }
            // SQLite's write transaction already holds its only write lock.
            DbConn::Sqlite(_) => {}
        }
        Ok(())
    }

    fn instance_assignments(&mut self, instance_id: Uuid) -> Result<Vec<Assignment>> {
        let rows: Vec<AssignmentRow> = on_backend!(self.conn, c => assignments::table
            .filter(assignments::instance_id.eq(instance_id.to_string()))
            .order(assignments::created_at)
            .select(AssignmentRow::as_select())
            .load(c))
        .db()?;
        rows.into_iter()
            .map(AssignmentRow::into_assignment)
            .collect()
    }

    fn insert_assignments(&mut self, rows: &[Assignment]) -> Result<()> {
        let rows: Vec<AssignmentRow> = rows.iter().map(AssignmentRow::new).collect();
        for chunk in rows.chunks(500) {
            on_backend!(self.conn, c => diesel::insert_into(assignments::table).values(chunk).execute(c))
                .db()?;
        }
        Ok(())
    }

    fn delete_assignments(&mut self, instance_id: Uuid, users: &[Uuid]) -> Result<Vec<Uuid>> {
        let (instance, users) = (instance_id.to_string(), strings(users));
        let deleted: Vec<String> = on_backend!(self.conn, c => diesel::delete(assignments::table
            .filter(assignments::instance_id.eq(&instance))
            .filter(assignments::user_id.eq_any(&users)))
            .returning(assignments::user_id)
            .get_results(c))
        .db()?;
        ids(deleted)
    }

    fn set_assignments_enabled(
        &mut self,
        instance_id: Uuid,
        users: &[Uuid],
        enabled: bool,
    ) -> Result<Vec<Uuid>> {
        let (instance, users) = (instance_id.to_string(), strings(users));
        let changed: Vec<String> = on_backend!(self.conn, c => diesel::update(assignments::table
            .filter(assignments::instance_id.eq(&instance))
            .filter(assignments::user_id.eq_any(&users))
            .filter(assignments::enabled.ne(enabled)))
            .set(assignments::enabled.eq(enabled))
            .returning(assignments::user_id)
            .get_results(c))
        .db()?;
        ids(changed)
    }

    fn assignments_of(&mut self, user_id: Uuid) -> Result<Vec<(Assignment, String, String)>> {
        let rows: Vec<(AssignmentRow, String, String)> =
            on_backend!(self.conn, c => assignments::table
            .inner_join(instances::table.inner_join(applications::table))
            .filter(assignments::user_id.eq(user_id.to_string()))
            .order((applications::name_key, instances::name_key))
            .select((AssignmentRow::as_select(), applications::name, instances::name))
            .load(c))
            .db()?;
        rows.into_iter()
            .map(|(row, application, instance)| Ok((row.into_assignment()?, application, instance)))
            .collect()
    }

    fn applications_of(&mut self, users: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
        let users = strings(users);
        let mut pairs: Vec<(String, String)> = Vec::new();
        for chunk in users.chunks(500) {
            let assigned: Vec<(String, String)> = on_backend!(self.conn, c => assignments::table
                .inner_join(instances::table.inner_join(applications::table))
                .filter(assignments::user_id.eq_any(chunk))
                .select((assignments::user_id, applications::name))
                .load(c))
            .db()?;
            let granted: Vec<(String, String)> = on_backend!(self.conn, c => all_instance_grants::table
                .inner_join(applications::table.on(applications::id.eq(all_instance_grants::application_id)))
                .filter(all_instance_grants::user_id.eq_any(chunk))
                .select((all_instance_grants::user_id, applications::name))
                .load(c))
            .db()?;
            pairs.extend(assigned);
            pairs.extend(granted);
        }
        pairs.sort();
        pairs.dedup();
        pairs
            .into_iter()
            .map(|(user, name)| Ok((parse_id(&user)?, name)))
            .collect()
    }

    fn all_instance_grants(
        &mut self,
        application_id: Uuid,
        users: &[Uuid],
    ) -> Result<Vec<AllInstances>> {
        let (application, users) = (application_id.to_string(), strings(users));
        let rows: Vec<GrantRow> = on_backend!(self.conn, c => all_instance_grants::table
            .filter(all_instance_grants::application_id.eq(&application))
            .filter(all_instance_grants::user_id.eq_any(&users))
            .select(GrantRow::as_select())
            .load(c))
        .db()?;
        rows.into_iter().map(GrantRow::into_grant).collect()
    }

    fn insert_all_instance_grants(&mut self, grants: &[AllInstances]) -> Result<()> {
        let rows: Vec<GrantRow> = grants.iter().map(GrantRow::new).collect();
        for chunk in rows.chunks(500) {
            on_backend!(self.conn, c => diesel::insert_into(all_instance_grants::table).values(chunk).execute(c))
                .db()?;
        }
        Ok(())
    }

    fn delete_all_instance_grants(
        &mut self,
        application_id: Uuid,
        users: &[Uuid],
    ) -> Result<Vec<Uuid>> {
        let (application, users) = (application_id.to_string(), strings(users));
        let deleted: Vec<String> =
            on_backend!(self.conn, c => diesel::delete(all_instance_grants::table
            .filter(all_instance_grants::application_id.eq(&application))
            .filter(all_instance_grants::user_id.eq_any(&users)))
            .returning(all_instance_grants::user_id)
            .get_results(c))
            .db()?;
        ids(deleted)
    }

    fn set_all_instance_grants_enabled(
        &mut self,
        application_id: Uuid,
        users: &[Uuid],
        enabled: bool,
    ) -> Result<Vec<Uuid>> {
        let (application, users) = (application_id.to_string(), strings(users));
        let changed: Vec<String> =
            on_backend!(self.conn, c => diesel::update(all_instance_grants::table
            .filter(all_instance_grants::application_id.eq(&application))
            .filter(all_instance_grants::user_id.eq_any(&users))
            .filter(all_instance_grants::enabled.ne(enabled)))
            .set(all_instance_grants::enabled.eq(enabled))
            .returning(all_instance_grants::user_id)
            .get_results(c))
            .db()?;
        ids(changed)
    }

    fn clear_all_instance_grants(&mut self, application_id: Uuid) -> Result<Vec<Uuid>> {
        let deleted: Vec<String> =
            on_backend!(self.conn, c => diesel::delete(all_instance_grants::table
            .filter(all_instance_grants::application_id.eq(application_id.to_string())))
            .returning(all_instance_grants::user_id)
            .get_results(c))
            .db()?;
        ids(deleted)
    }

    fn all_instance_grants_of(&mut self, user_id: Uuid) -> Result<Vec<(AllInstances, String)>> {
        let rows: Vec<(GrantRow, String)> = on_backend!(self.conn, c => all_instance_grants::table
            .inner_join(applications::table)
            .filter(all_instance_grants::user_id.eq(user_id.to_string()))
            .order(applications::name_key)
            .select((GrantRow::as_select(), applications::name))
            .load(c))
        .db()?;
        rows.into_iter()
            .map(|(row, application)| Ok((row.into_grant()?, application)))
            .collect()
    }

    fn count_assignments(
        &mut self,
        application_id: Uuid,
        instance_id: Option<Uuid>,
    ) -> Result<i64> {
        let application = application_id.to_string();
        if let Some(instance) = instance_id {
            return on_backend!(self.conn, c => assignments::table
                .filter(assignments::instance_id.eq(instance.to_string()))
                .count()
                .get_result(c))
            .db();
        }
        let assigned: i64 = on_backend!(self.conn, c => assignments::table
            .filter(assignments::application_id.eq(&application))
            .count()
            .get_result(c))
        .db()?;
        let granted: i64 = on_backend!(self.conn, c => all_instance_grants::table
            .filter(all_instance_grants::application_id.eq(&application))
            .count()
            .get_result(c))
        .db()?;
        Ok(assigned + granted)
    }

    fn delete_assignments_of(&mut self, user_id: Uuid) -> Result<(Vec<Assignment>, Vec<Uuid>)> {
        let user = user_id.to_string();
        let deleted: Vec<AssignmentRow> =
            on_backend!(self.conn, c => diesel::delete(assignments::table
            .filter(assignments::user_id.eq(&user)))
            .returning(AssignmentRow::as_returning())
            .get_results(c))
            .db()?;
        let grants: Vec<String> =
            on_backend!(self.conn, c => diesel::delete(all_instance_grants::table
            .filter(all_instance_grants::user_id.eq(&user)))
            .returning(all_instance_grants::application_id)
            .get_results(c))
            .db()?;
        let deleted = deleted
            .into_iter()
            .map(AssignmentRow::into_assignment)
            .collect::<Result<_>>()?;
        Ok((deleted, ids(grants)?))
    }

    fn accounts_roles(&mut self, ids: &[Uuid]) -> Result<Vec<(Uuid, String, Vec<String>)>> {
        let wanted = strings(ids);
        let rows: Vec<(String, String, String)> = on_backend!(self.conn, c => users::table
            .filter(users::id.eq_any(&wanted))
            .select((users::id, users::username, users::roles))
            .load(c))
        .db()?;
        rows.into_iter()
            .map(|(id, username, roles)| Ok((parse_id(&id)?, username, parse_roles(&roles))))
            .collect()
    }
}
