//! Applications and their instances (SPEC §8, [`crate::assignments`]): read with `users:read`
//! (consoles filter accounts by them), created, renamed and deleted with `applications:write`,
//! every change audited.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{assignments::unassign_everyone, Credential, Services};
use crate::{
    assignments::{Application, Instance, ResourceName},
    audit::{action, Actor, AuditEvent, Origin},
    error::{Error, Result},
    policy::Caller,
    ports::Tx,
    roles::Permission,
};

/// `raw` as a name, or the 422 that says why not (field `name`).
pub(super) fn name(raw: &str) -> Result<ResourceName> {
    ResourceName::parse(raw).map_err(|e| Error::Validation(vec![e.at("name")]))
}

impl Services {
    /// Every application, by name.
    pub async fn list_applications(&self, credential: Credential) -> Result<Vec<Application>> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::UsersRead)?;
            s.store.read(|tx| tx.list_applications())
        })
        .await
    }

    pub async fn application(&self, credential: Credential, id: Uuid) -> Result<Application> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::UsersRead)?;
            s.store
                .read(|tx| tx.find_application(id))?
                .ok_or(Error::ApplicationNotFound)
        })
        .await
    }

    pub async fn create_application(
        &self,
        credential: Credential,
        raw_name: String,
        origin: Origin,
    ) -> Result<Application> {
        let name = name(&raw_name)?;
        self.database(move |s| {
            let caller = s.application_writer(&credential)?;
            s.store.write(|tx| {
                let now = crate::now();
                let application = Application {
                    id: Uuid::now_v7(),
                    name: name.as_str().to_owned(),
                    created_at: now,
                    updated_at: now,
                };
                tx.insert_application(&application, &name.key())?;
                record(
                    tx,
                    &caller,
                    action::APPLICATION_CREATED,
                    &origin,
                    ("application", application.id, &application.name),
                    Value::Null,
                );
                Ok(application.clone())
            })
        })
        .await
    }

    pub async fn rename_application(
        &self,
        credential: Credential,
        id: Uuid,
        raw_name: String,
        origin: Origin,
    ) -> Result<Application> {
        let name = name(&raw_name)?;
        self.database(move |s| {
            let caller = s.application_writer(&credential)?;
            s.store.write(|tx| {
                let before = tx.find_application(id)?.ok_or(Error::ApplicationNotFound)?;
                if before.name == name.as_str() {
                    return Ok(before);
                }
                let after = Application {
                    name: name.as_str().to_owned(),
                    updated_at: crate::now(),
                    ..before.clone()
                };
                if !tx.rename_application(&after, &name.key())? {
                    return Err(Error::ApplicationNotFound);
                }
                record(
                    tx,
                    &caller,
                    action::APPLICATION_RENAMED,
                    &origin,
                    ("application", id, &after.name),
                    json!({"name": {"before": before.name, "after": after.name}}),
                );
                Ok(after.clone())
            })
        })
        .await
    }

    /// Deletes the application and its instances; refused while accounts are assigned to it
    /// unless `force`, which deletes their assignments too.
    pub async fn delete_application(
        &self,
        credential: Credential,
        id: Uuid,
        force: bool,
        origin: Origin,
    ) -> Result<()> {
        self.database(move |s| {
            let caller = s.application_writer(&credential)?;
            s.store.write(|tx| {
                let application = tx.find_application(id)?.ok_or(Error::ApplicationNotFound)?;
                refuse_assigned(tx.count_assignments(id, None)?, force)?;
                let instances = tx.list_instances(id)?;
                let ids: Vec<Uuid> = instances.iter().map(|i| i.id).collect();
                let scope = (id, ids.as_slice(), true);
                unassign_everyone(tx, &caller, &origin, scope, "application_deleted")?;
                if !tx.delete_application(id)? {
                    return Err(Error::ApplicationNotFound);
                }
                let names: Vec<&str> = instances.iter().map(|i| i.name.as_str()).collect();
                record(
                    tx,
                    &caller,
                    action::APPLICATION_DELETED,
                    &origin,
                    ("application", id, &application.name),
                    json!({"instances_deleted": names}),
                );
                Ok(())
            })
        })
        .await
    }

    /// The application's instances, by name.
    pub async fn list_instances(
        &self,
        credential: Credential,
        application_id: Uuid,
    ) -> Result<Vec<Instance>> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::UsersRead)?;
            s.store.read(|tx| {
                tx.find_application(application_id)?
                    .ok_or(Error::ApplicationNotFound)?;
                tx.list_instances(application_id)
            })
        })
        .await
    }

    pub async fn instance(
        &self,
        credential: Credential,
        application_id: Uuid,
        id: Uuid,
    ) -> Result<Instance> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::UsersRead)?;
            s.store.read(|tx| find_instance(tx, application_id, id))
        })
        .await
    }

    pub async fn create_instance(
        &self,
        credential: Credential,
        application_id: Uuid,
        raw_name: String,
        origin: Origin,
    ) -> Result<Instance> {
        let name = name(&raw_name)?;
        self.database(move |s| {
            let caller = s.application_writer(&credential)?;
            s.store.write(|tx| {
                let application = tx
                    .find_application(application_id)?
                    .ok_or(Error::ApplicationNotFound)?;
                let now = crate::now();
                let instance = Instance {
                    id: Uuid::now_v7(),
                    application_id,
                    name: name.as_str().to_owned(),
                    created_at: now,
                    updated_at: now,
                };
                tx.insert_instance(&instance, &name.key())?;
                record(
                    tx,
                    &caller,
                    action::INSTANCE_CREATED,
                    &origin,
                    ("instance", instance.id, &instance.name),
                    json!({"application_id": application_id, "application": application.name}),
                );
                Ok(instance.clone())
            })
        })
        .await
    }

    pub async fn rename_instance(
        &self,
        credential: Credential,
        application_id: Uuid,
        id: Uuid,
        raw_name: String,
        origin: Origin,
    ) -> Result<Instance> {
        let name = name(&raw_name)?;
        self.database(move |s| {
            let caller = s.application_writer(&credential)?;
            s.store.write(|tx| {
                let before = find_instance(tx, application_id, id)?;
                if before.name == name.as_str() {
                    return Ok(before);
                }
                let after = Instance {
                    name: name.as_str().to_owned(),
                    updated_at: crate::now(),
                    ..before.clone()
                };
                if !tx.rename_instance(&after, &name.key())? {
                    return Err(Error::InstanceNotFound);
                }
                record(
                    tx,
                    &caller,
                    action::INSTANCE_RENAMED,
                    &origin,
                    ("instance", id, &after.name),
                    json!({
                        "application_id": application_id,
                        "name": {"before": before.name, "after": after.name},
                    }),
                );
                Ok(after.clone())
            })
        })
        .await
    }

    /// Deletes the instance; refused while accounts are assigned to it unless `force`.
    pub async fn delete_instance(
        &self,
        credential: Credential,
        application_id: Uuid,
        id: Uuid,
        force: bool,
        origin: Origin,
    ) -> Result<()> {
        self.database(move |s| {
            let caller = s.application_writer(&credential)?;
            s.store.write(|tx| {
                let instance = find_instance(tx, application_id, id)?;
                refuse_assigned(tx.count_assignments(application_id, Some(id))?, force)?;
                let scope = (application_id, std::slice::from_ref(&id), false);
                unassign_everyone(tx, &caller, &origin, scope, "instance_deleted")?;
                if !tx.delete_instance(application_id, id)? {
                    return Err(Error::InstanceNotFound);
                }
                record(
                    tx,
                    &caller,
                    action::INSTANCE_DELETED,
                    &origin,
                    ("instance", id, &instance.name),
                    json!({"application_id": application_id}),
                );
                Ok(())
            })
        })
        .await
    }

    /// The caller behind `credential`, if it may change applications.
    fn application_writer(&self, credential: &Credential) -> Result<Caller> {
        let caller = self.authenticate(credential)?;
        caller.require(&self.catalog, Permission::ApplicationsWrite)?;
        Ok(caller)
    }
}

/// `AssignmentsExist` when `assigned` accounts would lose an assignment and the caller did not
/// say `force`.
fn refuse_assigned(assigned: i64, force: bool) -> Result<()> {
    if assigned > 0 && !force {
        return Err(Error::AssignmentsExist(assigned));
    }
    Ok(())
}

/// Records `what` the caller did to `target` (its type, id and name), with `details`.
fn record(
    tx: &mut dyn Tx,
    caller: &Caller,
    what: &'static str,
    origin: &Origin,
    (kind, id, name): (&'static str, Uuid, &str),
    details: Value,
) {
    let mut event = AuditEvent::new(Actor::caller(caller), what, origin).on(
        kind,
        Some(id),
        Some(name.to_owned()),
    );
    if !details.is_null() {
        event = event.details(details);
    }
    tx.effects().audit(event);
}

/// Instance `id` of application `application_id`: `ApplicationNotFound` when the application is
/// gone, `InstanceNotFound` when it has no such instance.
fn find_instance(tx: &mut dyn Tx, application_id: Uuid, id: Uuid) -> Result<Instance> {
    if let Some(instance) = tx.find_instance(application_id, id)? {
        return Ok(instance);
    }
    match tx.find_application(application_id)? {
        Some(_) => Err(Error::InstanceNotFound),
        None => Err(Error::ApplicationNotFound),
    }
}
