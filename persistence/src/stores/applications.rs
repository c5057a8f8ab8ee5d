//! Applications and their instances (`domain::assignments`), with the plain Diesel DSL: they are
//! few, and off the measured paths.

use diesel::prelude::*;
use domain::{
    assignments::{Application, Instance},
    ports::Applications,
    Result,
};
use uuid::Uuid;

use super::{on_backend, Db, Unit};
use crate::{
    models::parse_id,
    schema::{applications, instances},
    stamp::Stamp,
};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = applications)]
struct ApplicationRow {
    id: String,
    name: String,
    name_key: String,
    created_at: Stamp,
    updated_at: Stamp,
}

impl ApplicationRow {
    fn new(a: &Application, name_key: &str) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name.clone(),
            name_key: name_key.to_owned(),
            created_at: a.created_at.into(),
            updated_at: a.updated_at.into(),
        }
    }

    fn into_application(self) -> Result<Application> {
        Ok(Application {
            id: parse_id(&self.id)?,
            name: self.name,
            created_at: self.created_at.into(),
            updated_at: self.updated_at.into(),
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = instances)]
struct InstanceRow {
    id: String,
    application_id: String,
    name: String,
    name_key: String,
    created_at: Stamp,
    updated_at: Stamp,
}

impl InstanceRow {
    fn new(i: &Instance, name_key: &str) -> Self {
        Self {
            id: i.id.to_string(),
            application_id: i.application_id.to_string(),
            name: i.name.clone(),
            name_key: name_key.to_owned(),
            created_at: i.created_at.into(),
            updated_at: i.updated_at.into(),
        }
    }

    fn into_instance(self) -> Result<Instance> {
        Ok(Instance {
            id: parse_id(&self.id)?,
            application_id: parse_id(&self.application_id)?,
            name: self.name,
            created_at: self.created_at.into(),
            updated_at: self.updated_at.into(),
        })
    }
}

impl Applications for Unit<'_> {
    fn list_applications(&mut self) -> Result<Vec<Application>> {
        let rows: Vec<ApplicationRow> = on_backend!(self.conn, c => applications::table
            .order(applications::name_key)
            .select(ApplicationRow::as_select())
            .load(c))
        .db()?;
        rows.into_iter()
            .map(ApplicationRow::into_application)
            .collect()
    }

    fn find_application(&mut self, id: Uuid) -> Result<Option<Application>> {
        let row: Option<ApplicationRow> = on_backend!(self.conn, c => applications::table
            .find(id.to_string())
            .select(ApplicationRow::as_select())
            .first(c)
            .optional())
        .db()?;
        row.map(ApplicationRow::into_application).transpose()
    }

    fn insert_application(&mut self, application: &Application, name_key: &str) -> Result<()> {
        let row = ApplicationRow::new(application, name_key);
        on_backend!(self.conn, c => diesel::insert_into(applications::table).values(&row).execute(c))
            .db()?;
        Ok(())
    }

    fn rename_application(&mut self, application: &Application, name_key: &str) -> Result<bool> {
        let updated: Stamp = application.updated_at.into();
        let n = on_backend!(self.conn, c => diesel::update(applications::table.find(application.id.to_string()))
            .set((
                applications::name.eq(&application.name),
                applications::name_key.eq(name_key),
                applications::updated_at.eq(updated),
            ))
            .execute(c))
        .db()?;
        Ok(n > 0)
    }

    fn delete_application(&mut self, id: Uuid) -> Result<bool> {
        // Its instances go with it (`ON DELETE CASCADE`).
        let n = on_backend!(self.conn, c => diesel::delete(applications::table.find(id.to_string())).execute(c))
            .db()?;
        Ok(n > 0)
    }

    fn list_instances(&mut self, application_id: Uuid) -> Result<Vec<Instance>> {
        let rows: Vec<InstanceRow> = on_backend!(self.conn, c => instances::table
            .filter(instances::application_id.eq(application_id.to_string()))
            .order(instances::name_key)
            .select(InstanceRow::as_select())
            .load(c))
        .db()?;
        rows.into_iter().map(InstanceRow::into_instance).collect()
    }

    fn find_instance(&mut self, application_id: Uuid, id: Uuid) -> Result<Option<Instance>> {
        let row: Option<InstanceRow> = on_backend!(self.conn, c => instances::table
            .find(id.to_string())
            .filter(instances::application_id.eq(application_id.to_string()))
            .select(InstanceRow::as_select())
            .first(c)
            .optional())
        .db()?;
        row.map(InstanceRow::into_instance).transpose()
    }

    fn insert_instance(&mut self, instance: &Instance, name_key: &str) -> Result<()> {
        let row = InstanceRow::new(instance, name_key);
        on_backend!(self.conn, c => diesel::insert_into(instances::table).values(&row).execute(c))
            .db()?;
        Ok(())
    }

    fn rename_instance(&mut self, instance: &Instance, name_key: &str) -> Result<bool> {
        let updated: Stamp = instance.updated_at.into();
        let n = on_backend!(self.conn, c => diesel::update(instances::table.find(instance.id.to_string()))
            .filter(instances::application_id.eq(instance.application_id.to_string()))
            .set((
                instances::name.eq(&instance.name),
                instances::name_key.eq(name_key),
                instances::updated_at.eq(updated),
            ))
            .execute(c))
        .db()?;
        Ok(n > 0)
    }

    fn delete_instance(&mut self, application_id: Uuid, id: Uuid) -> Result<bool> {
        let n = on_backend!(self.conn, c => diesel::delete(instances::table
            .find(id.to_string())
            .filter(instances::application_id.eq(application_id.to_string())))
            .execute(c))
        .db()?;
        Ok(n > 0)
    }
}
