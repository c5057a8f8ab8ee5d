//! Applications, their instances, and who is assigned to them (SPEC §8): the rules over plain
//! values, for the assignment service to apply inside the transaction that holds the instance.
//!
//! - An account is assigned to instances of one application at a time (one request names one
//!   application); an assignment is `enabled` or `disabled` (a temporary suspension) and has an
//!   instance role, `member` or `admin`.
//! - Assigning an existing assignment changes nothing: not its role, not its state.
//! - An instance with no admin makes the next account assigned to it its admin. A disabled admin
//!   is still the instance's admin (suspended, not removed): the rule looks for none at all.
//! - "Access to all" (`all_instances`) covers every instance of the application, those created
//!   later included, until it is cleared; it is a grant of its own, beside the per-instance
//!   assignments, and gives no instance role.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{fold, BoundedText, Invalid};

/// An application accounts are assigned to (through its instances).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One instance of an application: an environment, a customer's project, a library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: Uuid,
    pub application_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A group of accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The most characters of an application's, an instance's or a group's name.
pub const MAX_NAME_CHARS: usize = 100;

/// The name of an application, an instance or a group: trimmed, 1–100 characters, no control
/// characters. Names are unique within their parent (applications and groups among themselves,
/// instances within their application) by [`ResourceName::key`], so `Production` and
/// `PRODUCTION` are one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceName(String);

impl ResourceName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        use unicode_normalization::UnicodeNormalization;
        let composed: String = raw.nfc().collect();
        BoundedText::parse(&composed, MAX_NAME_CHARS)?
            .map(Self)
            .ok_or_else(|| Invalid::new("required", "must not be empty"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form two names compare in for uniqueness: folded as usernames are
    /// ([`crate::values::fold`]).
    pub fn key(&self) -> String {
        fold(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceRole {
    Member,
    Admin,
}

impl InstanceRole {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceRole::Member => "member",
            InstanceRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(InstanceRole::Member),
            "admin" => Some(InstanceRole::Admin),
            _ => None,
        }
    }
}

/// One account's assignment to one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub user_id: Uuid,
    pub instance_id: Uuid,
    pub application_id: Uuid,
    pub enabled: bool,
    pub role: InstanceRole,
    pub created_at: DateTime<Utc>,
}

/// The assignments to add when `users` are assigned to `instance` of `application`, given the
/// instance's `current` assignments: none for an account assigned already (that changes
/// nothing), each new one enabled, and — when the instance has no admin — the first new one (in
/// the order of `users`) its admin. An account named twice is assigned once.
pub fn new_assignments(
    current: &[Assignment],
    application: Uuid,
    instance: Uuid,
    users: &[Uuid],
    now: DateTime<Utc>,
) -> Vec<Assignment> {
    let assigned: HashSet<Uuid> = current.iter().map(|a| a.user_id).collect();
    let mut has_admin = current.iter().any(|a| a.role == InstanceRole::Admin);
    let mut seen = HashSet::new();
    let mut added = Vec::new();
    for &user in users {
        if assigned.contains(&user) || !seen.insert(user) {
            continue;
        }
        let role = if has_admin {
            InstanceRole::Member
        } else {
            has_admin = true;
            InstanceRole::Admin
        };
        added.push(Assignment {
            user_id: user,
            instance_id: instance,
            application_id: application,
            enabled: true,
            role,
            created_at: now,
        });
    }
    added
}

/// Whether an account may use `instance` of `application`: an enabled assignment to it, or an
/// enabled "access to all" of the application (`all_instances`), which covers instances created
/// after it too.
pub fn has_access(
    assignment: Option<&Assignment>,
    all_instances: Option<&AllInstances>,
    application: Uuid,
) -> bool {
    assignment.is_some_and(|a| a.enabled)
        || all_instances.is_some_and(|g| g.enabled && g.application_id == application)
}

/// "Access to all": an account's grant of every instance of one application, present and future.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllInstances {
    pub user_id: Uuid,
    pub application_id: Uuid,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::now_v7()).collect()
    }

    #[test]
    fn names_are_trimmed_bounded_and_compared_folded() {
        let name = ResourceName::parse("  Production ").expect("a name");
        assert_eq!(name.as_str(), "Production");
        assert_eq!(
            name.key(),
            ResourceName::parse("PRODUCTION").expect("a name").key()
        );
        assert_eq!(ResourceName::parse("   ").unwrap_err().code, "required");
        assert_eq!(
            ResourceName::parse(&"x".repeat(101)).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            ResourceName::parse("a\u{7}b").unwrap_err().code,
            "control_characters"
        );
        assert!(ResourceName::parse(&"é".repeat(100)).is_ok());
    }

    #[test]
    fn the_first_account_assigned_to_an_instance_without_an_admin_becomes_its_admin() {
        let (app, instance, now) = (Uuid::now_v7(), Uuid::now_v7(), Utc::now());
        let users = ids(3);
        let first = new_assignments(&[], app, instance, &users, now);
        let roles: Vec<_> = first.iter().map(|a| a.role).collect();
        assert_eq!(
            roles,
            [
                InstanceRole::Admin,
                InstanceRole::Member,
                InstanceRole::Member
            ]
        );
        assert!(first.iter().all(|a| a.enabled));
        // Its admin removed, the next account assigned becomes admin; the members stay members.
        let members: Vec<Assignment> = first.into_iter().skip(1).collect();
        let next = Uuid::now_v7();
        let added = new_assignments(&members, app, instance, &[users[1], next], now);
        assert_eq!(added.len(), 1, "an existing assignment changes nothing");
        assert_eq!(
            (added[0].user_id, added[0].role),
            (next, InstanceRole::Admin)
        );
    }

    #[test]
    fn a_disabled_admin_is_still_the_instances_admin() {
        let (app, instance, now) = (Uuid::now_v7(), Uuid::now_v7(), Utc::now());
        let mut current = new_assignments(&[], app, instance, &ids(1), now);
        current[0].enabled = false;
        let added = new_assignments(&current, app, instance, &ids(1), now);
        assert_eq!(added[0].role, InstanceRole::Member);
    }

    #[test]
    fn access_to_all_covers_every_instance_of_its_application_while_enabled() {
        let (app, other, now) = (Uuid::now_v7(), Uuid::now_v7(), Utc::now());
        let mut all = AllInstances {
            user_id: Uuid::now_v7(),
            application_id: app,
            enabled: true,
            created_at: now,
        };
        assert!(has_access(None, Some(&all), app));
        assert!(!has_access(None, Some(&all), other));
        all.enabled = false;
        assert!(!has_access(None, Some(&all), app));
        let mut one = new_assignments(&[], app, Uuid::now_v7(), &[all.user_id], now).remove(0);
        assert!(has_access(Some(&one), None, app));
        one.enabled = false;
        assert!(!has_access(Some(&one), None, app));
    }

    proptest! {
        /// Whatever batches are assigned, in whatever order and with repeats, an instance ends
        /// with each account assigned once and exactly one admin, the first account assigned.
        #[test]
        fn batches_leave_each_account_once_and_one_admin(
            batches in prop::collection::vec(prop::collection::vec(0usize..8, 0..6), 1..6)
        ) {
            let (app, instance, now) = (Uuid::now_v7(), Uuid::now_v7(), Utc::now());
            let people = ids(8);
            let mut current: Vec<Assignment> = Vec::new();
            for batch in &batches {
                let users: Vec<Uuid> = batch.iter().map(|&i| people[i]).collect();
                let before = current.clone();
                let added = new_assignments(&current, app, instance, &users, now);
                current.extend(added);
                prop_assert_eq!(&current[..before.len()], &before[..], "existing ones unchanged");
                // Assigning the same batch again changes nothing.
                prop_assert!(new_assignments(&current, app, instance, &users, now).is_empty());
            }
            let distinct: HashSet<Uuid> = current.iter().map(|a| a.user_id).collect();
            prop_assert_eq!(distinct.len(), current.len());
            let admins: Vec<&Assignment> = current.iter().filter(|a| a.role == InstanceRole::Admin).collect();
            prop_assert_eq!(admins.len(), usize::from(!current.is_empty()));
            if let Some(first) = current.first() {
                prop_assert_eq!(first.role, InstanceRole::Admin);
            }
        }
    }
}
