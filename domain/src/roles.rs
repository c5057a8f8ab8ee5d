//! The role catalog (SPEC §3): built-in `admin`, `user` and `guest`, plus roles from
//! configuration. Fixed at start-up; the API only reads it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// What a route may require of its caller. `admin` holds every permission; `user` and `guest`
/// hold none (they reach only their own account); configured roles list theirs by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "api_tokens:manage")]
    ApiTokensManage,
    #[serde(rename = "settings:read")]
    SettingsRead,
    #[serde(rename = "settings:write")]
    SettingsWrite,
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Create, rename and delete applications and their instances (reading them needs
    /// `users:read`).
    #[serde(rename = "applications:write")]
    ApplicationsWrite,
    /// Scrape `GET /metrics`: counts of requests, sign-ins, seats and queues, no account's data.
    #[serde(rename = "metrics:read")]
    MetricsRead,
}

impl Permission {
    pub const ALL: [Permission; 8] = [
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::ApiTokensManage,
        Permission::SettingsRead,
        Permission::SettingsWrite,
        Permission::AuditRead,
        Permission::ApplicationsWrite,
        Permission::MetricsRead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Permission::UsersRead => "users:read",
            Permission::UsersWrite => "users:write",
            Permission::ApiTokensManage => "api_tokens:manage",
            Permission::SettingsRead => "settings:read",
            Permission::SettingsWrite => "settings:write",
            Permission::AuditRead => "audit:read",
            Permission::ApplicationsWrite => "applications:write",
            Permission::MetricsRead => "metrics:read",
        }
    }
}

pub const ADMIN: &str = "admin";
pub const USER: &str = "user";
pub const GUEST: &str = "guest";

/// One role of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub permissions: BTreeSet<Permission>,
    /// How many active accounts may hold this role at once (SPEC §2); `None` is unlimited.
    #[serde(default)]
    pub seats: Option<u32>,
    /// Built-in roles come with Roster; the rest come from configuration.
    #[serde(default)]
    pub builtin: bool,
    /// An exclusive role cannot be combined with any other (`guest`, SPEC §3).
    #[serde(default)]
    pub exclusive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("role name {0:?} must be 1–64 characters of a–z, 0–9 and '_'")]
    BadName(String),
    #[error("role {0:?} is built in and cannot be redefined")]
    Builtin(String),
    #[error("role {0:?} is defined twice")]
    Duplicate(String),
}

/// The roles Roster knows, in a stable order: built-ins first, then configured roles.
#[derive(Debug, Clone)]
pub struct RoleCatalog {
    roles: Vec<Role>,
}

impl RoleCatalog {
    /// The built-ins plus `extra` from configuration, which may not redefine a built-in.
    pub fn new(extra: Vec<Role>) -> Result<Self, CatalogError> {
        let mut roles = vec![
            Role {
                name: ADMIN.into(),
                description: "Every permission, including granting and removing admin.".into(),
                permissions: Permission::ALL.into_iter().collect(),
                seats: None,
                builtin: true,
                exclusive: false,
            },
            Role {
                name: USER.into(),
                description: "Signs in and manages their own account only.".into(),
                permissions: BTreeSet::new(),
                seats: None,
                builtin: true,
                exclusive: false,
            },
            Role {
                name: GUEST.into(),
                description: "Read-only access to their own account; exclusive and time-limited."
                    .into(),
                permissions: BTreeSet::new(),
                seats: None,
                builtin: true,
                exclusive: true,
            },
        ];
        for mut role in extra {
            let valid = !role.name.is_empty()
                && role.name.len() <= 64
                && role
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(CatalogError::BadName(role.name));
            }
            // A built-in role's seats may be configured (licensed "User" or "Guest" seats);
            // nothing else of it.
            if let Some(builtin) = roles.iter_mut().find(|r| r.builtin && r.name == role.name) {
                if role.seats.is_some()
                    && role.permissions.is_empty()
                    && role.description.is_empty()
                {
                    builtin.seats = role.seats;
                    continue;
                }
            }
            if roles.iter().any(|r| r.name == role.name) {
                return Err(
                    if role.name == ADMIN || role.name == USER || role.name == GUEST {
                        CatalogError::Builtin(role.name)
                    } else {
                        CatalogError::Duplicate(role.name)
                    },
                );
            }
            role.builtin = false;
            role.exclusive = false;
            roles.push(role);
        }
        Ok(Self { roles })
    }

    /// The limits the account writer checks (`role:<name>` for each role with `seats`, and
    /// `guest_seats` for the guest role's), by seat key (SPEC §2).
    pub fn seat_limits(&self) -> Vec<(String, Option<i64>)> {
        self.roles
            .iter()
            .filter_map(|r| {
                let limit = i64::from(r.seats?);
                let key = if r.name == GUEST {
                    crate::seats::GUEST_SEATS.to_owned()
                } else {
                    crate::seats::role_seat(&r.name)
                };
                Some((key, Some(limit)))
            })
            .collect()
    }

    pub fn builtin() -> Self {
        Self {
            roles: Self::new(Vec::new()).map(|c| c.roles).unwrap_or_default(),
        }
    }

    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    /// The role named `name` in any case (an imported file's `Billing` for `billing`): the one
    /// of that exact name first.
    pub fn get_ignoring_case(&self, name: &str) -> Option<&Role> {
        self.get(name).or_else(|| {
            self.roles
                .iter()
                .find(|r| r.name.to_lowercase() == name.to_lowercase())
        })
    }

    /// Whether any of `held` grants `permission`.
    pub fn permits<'a>(
        &self,
        held: impl IntoIterator<Item = &'a String>,
        permission: Permission,
    ) -> bool {
        held.into_iter()
            .filter_map(|name| self.get(name))
            .any(|role| role.permissions.contains(&permission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> Role {
        Role {
            name: "production_manager".into(),
            description: "Runs the line".into(),
            permissions: [Permission::UsersRead].into_iter().collect(),
            seats: Some(5),
            builtin: false,
            exclusive: false,
        }
    }

    #[test]
    fn admin_holds_every_permission_and_user_none() {
        let c = RoleCatalog::builtin();
        for p in Permission::ALL {
            assert!(c.permits(&["admin".to_string()], p));
            assert!(!c.permits(&["user".to_string()], p));
            assert!(!c.permits(&["guest".to_string()], p));
        }
    }

    #[test]
    fn configured_roles_extend_the_catalog() {
        let c = RoleCatalog::new(vec![manager()]).unwrap();
        assert_eq!(c.roles().len(), 4);
        assert!(c.permits(&["production_manager".to_string()], Permission::UsersRead));
        assert!(!c.permits(&["production_manager".to_string()], Permission::UsersWrite));
        assert_eq!(c.get("production_manager").unwrap().seats, Some(5));
    }

    #[test]
    fn configuration_may_license_a_builtin_roles_seats_and_nothing_else() {
        let seats_only = Role {
            name: GUEST.into(),
            description: String::new(),
            permissions: BTreeSet::new(),
            seats: Some(10),
            builtin: false,
            exclusive: false,
        };
        let c = RoleCatalog::new(vec![seats_only.clone()]).unwrap();
        let guest = c.get(GUEST).unwrap();
        assert_eq!(
            (guest.seats, guest.builtin, guest.exclusive),
            (Some(10), true, true)
        );
        assert_eq!(c.seat_limits(), vec![("guest_seats".to_owned(), Some(10))]);
        let more = Role {
            permissions: [Permission::UsersRead].into_iter().collect(),
            ..seats_only
        };
        assert!(
            RoleCatalog::new(vec![more]).is_err(),
            "a permission of a built-in role"
        );
    }

    #[test]
    fn configuration_cannot_redefine_builtins_or_use_bad_names() {
        let mut admin = manager();
        admin.name = "admin".into();
        assert_eq!(
            RoleCatalog::new(vec![admin]).unwrap_err(),
            CatalogError::Builtin("admin".into())
        );
        let mut bad = manager();
        bad.name = "Bad Name".into();
        assert!(matches!(
            RoleCatalog::new(vec![bad]),
            Err(CatalogError::BadName(_))
        ));
        assert!(matches!(
            RoleCatalog::new(vec![manager(), manager()]),
            Err(CatalogError::Duplicate(_))
        ));
    }
}
