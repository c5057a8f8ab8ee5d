//! Assigning accounts to instances (SPEC §8, [`crate::assignments`]): many accounts at once, one
//! application at a time, all or nothing; each account's change audited on its own, for the
//! assignments report.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;
use uuid::Uuid;

use super::{Credential, Services};
use crate::{
    assignments::{new_assignments, AllInstances, Assignment},
    audit::{action, Actor, AuditEvent, Origin},
    error::{Error, Result},
    policy::Caller,
    ports::Tx,
    roles::{Permission, GUEST},
    validate::Checks,
    FieldError,
};

/// The most accounts one request assigns (or unassigns, enables, disables).
pub const MAX_ASSIGNMENT_ACCOUNTS: usize = 1000;
/// The most instances one request names.
pub const MAX_ASSIGNMENT_INSTANCES: usize = 200;

/// What a request does to the assignments it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentChange {
    /// Makes the missing ones (an existing one changes nothing).
    Assign,
    /// Deletes them.
    Unassign,
    Enable,
    Disable,
}

/// `change` for `user_ids` on the named instances of one application, and on its "access to
/// all" grant when `all_instances`.
#[derive(Debug, Clone)]
pub struct AssignmentRequest {
    pub user_ids: Vec<Uuid>,
    pub application_id: Uuid,
    pub instance_ids: Vec<Uuid>,
    pub all_instances: bool,
}

/// An account's assignments as `GET /users/{id}/assignments` shows them.
#[derive(Debug, Clone)]
pub struct AccountAssignments {
    /// Each with its application's and instance's names, by application and instance name.
    pub instances: Vec<(Assignment, String, String)>,
    /// "Access to all" grants, with their application's name.
    pub all_instances: Vec<(AllInstances, String)>,
}

impl Services {
    /// Applies `change` to every named account and instance in one transaction; answers how many
    /// assignments (and grants) it made, deleted or switched. Nothing is written when any account
    /// or instance is unknown, or (assigning) any account is a guest.
    pub async fn change_assignments(
        &self,
        credential: Credential,
        change: AssignmentChange,
        request: AssignmentRequest,
        origin: Origin,
    ) -> Result<usize> {
        let (users, instances) = checked(&request)?;
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::UsersWrite)?;
            s.store.write(|tx| {
                let application = request.application_id;
                check_instances(tx, application, &instances, "instance_ids")?;
                let names = existing_accounts(tx, &users, change == AssignmentChange::Assign)?;
                let record = |tx: &mut dyn Tx, what, user: Uuid, details| {
                    let label = names.get(&user).cloned();
                    tx.effects().audit(
                        AuditEvent::new(Actor::caller(&caller), what, &origin)
                            .on("user", Some(user), label)
                            .details(details),
                    );
                };
                let now = crate::now();
                let mut changed = 0;
                // Instances in one order, so that concurrent requests lock them alike.
                for &instance in &instances {
                    let touched: Vec<(Uuid, serde_json::Value)> = match change {
                        AssignmentChange::Assign => {
                            tx.lock_instance(instance)?;
                            let current = tx.instance_assignments(instance)?;
                            let added =
                                new_assignments(&current, application, instance, &users, now);
                            tx.insert_assignments(&added)?;
                            added
                                .iter()
                                .map(|a| (a.user_id, json!({"instance_role": a.role.as_str()})))
                                .collect()
                        }
                        AssignmentChange::Unassign => tx
                            .delete_assignments(instance, &users)?
                            .into_iter()
                            .map(|u| (u, json!({})))
                            .collect(),
                        AssignmentChange::Enable | AssignmentChange::Disable => {
                            let on = change == AssignmentChange::Enable;
                            tx.set_assignments_enabled(instance, &users, on)?
                                .into_iter()
                                .map(|u| (u, json!({})))
                                .collect()
                        }
                    };
                    changed += touched.len();
                    for (user, mut details) in touched {
                        details["application_id"] = json!(application);
                        details["instance_id"] = json!(instance);
                        record(tx, change.action(), user, details);
                    }
                }
                if request.all_instances {
                    let touched = match change {
                        AssignmentChange::Assign => {
                            let held: BTreeSet<Uuid> = tx
                                .all_instance_grants(application, &users)?
                                .iter()
                                .map(|g| g.user_id)
                                .collect();
                            let grants: Vec<AllInstances> = users
                                .iter()
                                .filter(|u| !held.contains(u))
                                .map(|&user_id| AllInstances {
                                    user_id,
                                    application_id: application,
                                    enabled: true,
                                    created_at: now,
                                })
                                .collect();
                            tx.insert_all_instance_grants(&grants)?;
                            grants.iter().map(|g| g.user_id).collect()
                        }
                        AssignmentChange::Unassign => {
                            tx.delete_all_instance_grants(application, &users)?
                        }
                        AssignmentChange::Enable | AssignmentChange::Disable => tx
                            .set_all_instance_grants_enabled(
                                application,
                                &users,
                                change == AssignmentChange::Enable,
                            )?,
                    };
                    changed += touched.len();
                    for user in touched {
                        let details = json!({"application_id": application, "all_instances": true});
                        record(tx, change.action(), user, details);
                    }
                }
                Ok(changed)
            })
        })
        .await
    }

    /// Account `id`'s assignments: its own, or any with `users:read`.
    pub async fn assignments_of(
        &self,
        credential: Credential,
        id: Uuid,
    ) -> Result<AccountAssignments> {
        self.about_account(credential, id, move |tx| {
            Ok(AccountAssignments {
                instances: tx.assignments_of(id)?,
                all_instances: tx.all_instance_grants_of(id)?,
            })
        })
        .await
    }

    /// What `read` reads about account `id`, for the account itself or a caller with
    /// `users:read`; `UserNotFound` when there is no such account.
    pub(super) async fn about_account<T: Send + 'static>(
        &self,
        credential: Credential,
        id: Uuid,
        mut read: impl FnMut(&mut dyn Tx) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.database(move |s| {
            let caller = s.authenticate(&credential)?;
            if !caller.is(id) {
                caller.require(&s.catalog, Permission::UsersRead)?;
            }
            s.store.read(|tx| {
                tx.find_account(id)?.ok_or(Error::UserNotFound)?;
                read(tx)
            })
        })
        .await
    }

    /// Deletes account `id`'s assignment to `instance_id`.
    pub async fn remove_assignment(
        &self,
        credential: Credential,
        id: Uuid,
        instance_id: Uuid,
        origin: Origin,
    ) -> Result<()> {
        self.database(move |s| {
            let caller: Caller = s.authenticate(&credential)?;
            caller.require(&s.catalog, Permission::UsersWrite)?;
            s.store.write(|tx| {
                let account = tx.find_account(id)?.ok_or(Error::UserNotFound)?;
                let application = tx
                    .assignments_of(id)?
                    .into_iter()
                    .find(|(a, _, _)| a.instance_id == instance_id)
                    .map(|(a, _, _)| a.application_id)
                    .ok_or(Error::AssignmentNotFound)?;
                if tx.delete_assignments(instance_id, &[id])?.is_empty() {
                    return Err(Error::AssignmentNotFound);
                }
                tx.effects().audit(
                    AuditEvent::new(
                        Actor::caller(&caller),
                        action::ASSIGNMENT_UNASSIGNED,
                        &origin,
                    )
                    .on_account(&account)
                    .details(json!({"application_id": application, "instance_id": instance_id})),
                );
                Ok(())
            })
        })
        .await
    }
}

impl AssignmentChange {
    fn action(self) -> &'static str {
        match self {
            AssignmentChange::Assign => action::ASSIGNMENT_ASSIGNED,
            AssignmentChange::Unassign => action::ASSIGNMENT_UNASSIGNED,
            AssignmentChange::Enable => action::ASSIGNMENT_ENABLED,
            AssignmentChange::Disable => action::ASSIGNMENT_DISABLED,
        }
    }
}

/// Deletes every assignment to `instances` of `application` (and its "access to all" grants
/// when `whole_application`) ahead of their deletion, each audited as unassigned with `reason`:
/// the assignments report sees every assignment end.
pub(super) fn unassign_everyone(
    tx: &mut dyn Tx,
    caller: &Caller,
    origin: &Origin,
    (application, instances, whole_application): (Uuid, &[Uuid], bool),
    reason: &str,
) -> Result<()> {
    let mut removed: Vec<(Uuid, serde_json::Value)> = Vec::new();
    for &instance in instances {
        let users: Vec<Uuid> = tx
            .instance_assignments(instance)?
            .iter()
            .map(|a| a.user_id)
            .collect();
        for user in tx.delete_assignments(instance, &users)? {
            removed.push((user, json!({"instance_id": instance})));
        }
    }
    if whole_application {
        for user in tx.clear_all_instance_grants(application)? {
            removed.push((user, json!({"all_instances": true})));
        }
    }
    let users: Vec<Uuid> = removed.iter().map(|(u, _)| *u).collect();
    let names: HashMap<Uuid, String> = tx
        .accounts_roles(&users)?
        .into_iter()
        .map(|(id, name, _)| (id, name))
        .collect();
    for (user, mut details) in removed {
        details["application_id"] = json!(application);
        details["reason"] = json!(reason);
        tx.effects().audit(
            AuditEvent::new(Actor::caller(caller), action::ASSIGNMENT_UNASSIGNED, origin)
                .on("user", Some(user), names.get(&user).cloned())
                .details(details),
        );
    }
    Ok(())
}

/// The request's accounts (each once, in the order given) and instances (each once, in id
/// order), or the 422 that says what is wrong with them.
fn checked(request: &AssignmentRequest) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
    let mut checks = Checks::default();
    let mut seen = BTreeSet::new();
    let users: Vec<Uuid> = request
        .user_ids
        .iter()
        .copied()
        .filter(|u| seen.insert(*u))
        .collect();
    if users.is_empty() || users.len() > MAX_ASSIGNMENT_ACCOUNTS {
        checks.push(FieldError::new(
            "user_ids",
            "out_of_range",
            format!("between 1 and {MAX_ASSIGNMENT_ACCOUNTS} accounts"),
        ));
    }
    let instances: Vec<Uuid> = request
        .instance_ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if instances.len() > MAX_ASSIGNMENT_INSTANCES {
        checks.push(FieldError::new(
            "instance_ids",
            "out_of_range",
            format!("at most {MAX_ASSIGNMENT_INSTANCES} instances"),
        ));
    }
    if instances.is_empty() && !request.all_instances {
        checks.push(FieldError::new(
            "instance_ids",
            "required",
            "name instances, or set all_instances",
        ));
    }
    checks.finish()?;
    Ok((users, instances))
}

/// The application exists (else `ApplicationNotFound`), and each of `instances` is one of its
/// instances (else 422 `unknown_instance`, under `field`).
pub(super) fn check_instances(
    tx: &mut dyn Tx,
    application: Uuid,
    instances: &[Uuid],
    field: &str,
) -> Result<()> {
    tx.find_application(application)?
        .ok_or(Error::ApplicationNotFound)?;
    let known: BTreeSet<Uuid> = tx
        .list_instances(application)?
        .iter()
        .map(|i| i.id)
        .collect();
    if instances.iter().any(|i| !known.contains(i)) {
        return Err(Error::invalid(
            field,
            "unknown_instance",
            "every instance must be one of the application's",
        ));
    }
    Ok(())
}

/// The usernames of `users`, each of which must exist (and, when `adding` them to instances or a
/// group, not be a guest).
pub(super) fn existing_accounts(
    tx: &mut dyn Tx,
    users: &[Uuid],
    adding: bool,
) -> Result<HashMap<Uuid, String>> {
    let found = tx.accounts_roles(users)?;
    if found.len() < users.len() {
        return Err(Error::Validation(vec![FieldError::new(
            "user_ids",
            "unknown_account",
            "every id must be an existing account's",
        )]));
    }
    if adding
        && found
            .iter()
            .any(|(_, _, roles)| roles.iter().any(|r| r == GUEST))
    {
        return Err(Error::Validation(vec![FieldError::new(
            "user_ids",
            "guest_account",
            "guests are not assigned to applications or put in groups",
        )]));
    }
    Ok(found.into_iter().map(|(id, name, _)| (id, name)).collect())
}
