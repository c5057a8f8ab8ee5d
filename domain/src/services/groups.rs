//! Groups of accounts (SPEC §8): read with `users:read`; created, renamed, deleted and their
//! members added and removed (in bulk) with `users:write`; every change audited, each account's
//! membership change on its own.

use serde_json::json;
use uuid::Uuid;

use super::{applications::name, assignments::existing_accounts, Credential, Services};
use crate::{
    account::Account,
    assignments::Group,
    audit::{action, Actor, AuditEvent, Origin},
    error::{Error, Result},
    policy::Caller,
    roles::Permission,
};

/// The most accounts one request adds to or removes from a group.
pub const MAX_GROUP_CHANGE: usize = 1000;

impl Services {
    pub async fn list_groups(&self, credential: Credential) -> Result<Vec<Group>> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::UsersRead)?;
            s.store.read(|tx| tx.list_groups())
        })
        .await
    }

    pub async fn group(&self, credential: Credential, id: Uuid) -> Result<Group> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::UsersRead)?;
            s.store
                .read(|tx| tx.find_group(id))?
                .ok_or(Error::GroupNotFound)
        })
        .await
    }

    pub async fn create_group(
        &self,
        credential: Credential,
        raw_name: String,
        origin: Origin,
    ) -> Result<Group> {
        let name = name(&raw_name)?;
        self.database(move |s| {
            let caller = s.group_writer(&credential)?;
            s.store.write(|tx| {
                let now = crate::now();
                let group = Group {
                    id: Uuid::now_v7(),
                    name: name.as_str().to_owned(),
                    created_at: now,
                    updated_at: now,
                };
                tx.insert_group(&group, &name.key())?;
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(&caller), action::GROUP_CREATED, &origin).on(
                        "group",
                        Some(group.id),
                        Some(group.name.clone()),
                    ),
                );
                Ok(group.clone())
            })
        })
        .await
    }

    pub async fn rename_group(
        &self,
        credential: Credential,
        id: Uuid,
        raw_name: String,
        origin: Origin,
    ) -> Result<Group> {
        let name = name(&raw_name)?;
        self.database(move |s| {
            let caller = s.group_writer(&credential)?;
            s.store.write(|tx| {
                let before = tx.find_group(id)?.ok_or(Error::GroupNotFound)?;
                if before.name == name.as_str() {
                    return Ok(before);
                }
                let after = Group {
                    name: name.as_str().to_owned(),
                    updated_at: crate::now(),
                    ..before.clone()
                };
                if !tx.rename_group(&after, &name.key())? {
                    return Err(Error::GroupNotFound);
                }
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(&caller), action::GROUP_RENAMED, &origin)
                        .on("group", Some(id), Some(after.name.clone()))
                        .details(json!({"name": {"before": before.name, "after": after.name}})),
                );
                Ok(after.clone())
            })
        })
        .await
    }

    /// Deletes the group; its members stay, without it (each audited as removed from it).
    pub async fn delete_group(
        &self,
        credential: Credential,
        id: Uuid,
        origin: Origin,
    ) -> Result<()> {
        self.database(move |s| {
            let caller = s.group_writer(&credential)?;
            s.store.write(|tx| {
                let group = tx.find_group(id)?.ok_or(Error::GroupNotFound)?;
                let members = tx.clear_members(id)?;
                let names = existing_accounts(tx, &members, false)?;
                for user in &members {
                    let details =
                        json!({"group_id": id, "group": group.name, "reason": "group_deleted"});
                    tx.effects().audit(
                        AuditEvent::new(
                            Actor::caller(&caller),
                            action::GROUP_MEMBER_REMOVED,
                            &origin,
                        )
                        .on("user", Some(*user), names.get(user).cloned())
                        .details(details),
                    );
                }
                if !tx.delete_group(id)? {
                    return Err(Error::GroupNotFound);
                }
                tx.effects().audit(
                    AuditEvent::new(Actor::caller(&caller), action::GROUP_DELETED, &origin).on(
                        "group",
                        Some(id),
                        Some(group.name.clone()),
                    ),
                );
                Ok(())
            })
        })
        .await
    }

    /// Adds (`add`) or removes the accounts `user_ids` to or from the group, all or nothing
    /// (every account must exist; guests are not added); answers how many changed.
    pub async fn change_members(
        &self,
        credential: Credential,
        id: Uuid,
        user_ids: Vec<Uuid>,
        add: bool,
        origin: Origin,
    ) -> Result<usize> {
        let mut seen = std::collections::BTreeSet::new();
        let users: Vec<Uuid> = user_ids.into_iter().filter(|u| seen.insert(*u)).collect();
        if users.is_empty() || users.len() > MAX_GROUP_CHANGE {
            return Err(Error::Validation(vec![crate::FieldError::new(
                "user_ids",
                "out_of_range",
                format!("between 1 and {MAX_GROUP_CHANGE} accounts"),
            )]));
        }
        self.database(move |s| {
            let caller = s.group_writer(&credential)?;
            s.store.write(|tx| {
                let group = tx.find_group(id)?.ok_or(Error::GroupNotFound)?;
                let names = existing_accounts(tx, &users, add)?;
                let (changed, what) = if add {
                    let added = tx.add_members(id, &users, crate::now())?;
                    (added, action::GROUP_MEMBER_ADDED)
                } else {
                    (tx.remove_members(id, &users)?, action::GROUP_MEMBER_REMOVED)
                };
                for user in &changed {
                    tx.effects().audit(
                        AuditEvent::new(Actor::caller(&caller), what, &origin)
                            .on("user", Some(*user), names.get(user).cloned())
                            .details(json!({"group_id": id, "group": group.name})),
                    );
                }
                Ok(changed.len())
            })
        })
        .await
    }

    /// Up to `limit` members of the group, by username, after the username key `after`.
    pub async fn group_members(
        &self,
        credential: Credential,
        id: Uuid,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<Account>> {
        self.database(move |s| {
            s.authenticate(&credential)?
                .require(&s.catalog, Permission::UsersRead)?;
            s.store.read(|tx| {
                tx.find_group(id)?.ok_or(Error::GroupNotFound)?;
                tx.list_members(id, after.as_deref(), limit)
            })
        })
        .await
    }

    /// Account `id`'s groups: its own, or any with `users:read`.
    pub async fn groups_of(&self, credential: Credential, id: Uuid) -> Result<Vec<Group>> {
        self.about_account(credential, id, move |tx| tx.groups_of(id))
            .await
    }

    /// The caller behind `credential`, if it may change groups.
    fn group_writer(&self, credential: &Credential) -> Result<Caller> {
        let caller = self.authenticate(credential)?;
        caller.require(&self.catalog, Permission::UsersWrite)?;
        Ok(caller)
    }
}
