//! Who may do what (SPEC §1, §3): pure predicates on the acting account, unit-tested here and
//! enforced by the services.

use crate::{
    account::Account,
    roles::{Permission, RoleCatalog, ADMIN},
    Error, Result,
};

/// The authenticated caller of a request, with the roles it holds *now* (never from a token).
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
}

impl Caller {
    pub fn may(&self, catalog: &RoleCatalog, permission: Permission) -> bool {
        catalog.permits(&self.account.roles, permission)
    }

    pub fn require(&self, catalog: &RoleCatalog, permission: Permission) -> Result<()> {
        if self.may(catalog, permission) {
            Ok(())
        } else {
            Err(Error::Forbidden(permission.name()))
        }
    }

    pub fn is(&self, account_id: uuid::Uuid) -> bool {
        self.account.id == account_id
    }
}

/// A change of `target`'s roles from `before` to `after` by `caller`: nobody edits their own
/// roles, and only holders of `admin` grant or remove `admin`.
pub fn check_role_change(caller: &Account, target: &Account, after: &[String]) -> Result<()> {
    let before = &target.roles;
    if before.as_slice() == after {
        return Ok(());
    }
    if caller.id == target.id {
        return Err(Error::OwnRoles);
    }
    let admin_moves = before.iter().any(|r| r == ADMIN) != after.iter().any(|r| r == ADMIN);
    if admin_moves && !caller.is_admin() {
        return Err(Error::AdminRoleRequired);
    }
    Ok(())
}

/// Roles for a new account: granting `admin` needs `admin`.
pub fn check_initial_roles(caller: &Account, roles: &[String]) -> Result<()> {
    if roles.iter().any(|r| r == ADMIN) && !caller.is_admin() {
        return Err(Error::AdminRoleRequired);
    }
    Ok(())
}

/// Whether `target` losing admin or being deactivated would leave no active admin, given the
/// current number of active admins.
pub fn would_remove_last_admin(target: &Account, active_admins: i64) -> bool {
    target.active && target.is_admin() && active_admins <= 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::tests::sample;

    fn with_roles(name: &str, roles: &[&str]) -> Account {
        let mut a = sample(name);
        a.roles = roles.iter().map(|r| r.to_string()).collect();
        a
    }

    #[test]
    fn nobody_edits_their_own_roles() {
        let admin = with_roles("root", &["admin"]);
        let err = check_role_change(&admin, &admin, &["admin".into(), "user".into()]).unwrap_err();
        assert!(matches!(err, Error::OwnRoles));
        assert!(
            check_role_change(&admin, &admin, &["admin".into()]).is_ok(),
            "same roles are a no-op"
        );
    }

    #[test]
    fn only_admins_grant_or_remove_admin() {
        let manager = with_roles("mgr", &["user_manager"]);
        let plain = with_roles("ana", &["user"]);
        let admin_target = with_roles("boss", &["admin"]);
        assert!(matches!(
            check_role_change(&manager, &plain, &["admin".into()]),
            Err(Error::AdminRoleRequired)
        ));
        assert!(matches!(
            check_role_change(&manager, &admin_target, &["user".into()]),
            Err(Error::AdminRoleRequired)
        ));
        assert!(check_role_change(&manager, &plain, &["guest".into()]).is_ok());
        let admin = with_roles("root", &["admin"]);
        assert!(check_role_change(&admin, &plain, &["admin".into()]).is_ok());
        assert!(matches!(
            check_initial_roles(&manager, &["admin".into()]),
            Err(Error::AdminRoleRequired)
        ));
    }

    #[test]
    fn the_last_active_admin_is_protected() {
        let admin = with_roles("root", &["admin"]);
        assert!(would_remove_last_admin(&admin, 1));
        assert!(!would_remove_last_admin(&admin, 2));
        let mut inactive = admin.clone();
        inactive.active = false;
        assert!(!would_remove_last_admin(&inactive, 1));
        assert!(!would_remove_last_admin(&with_roles("ana", &["user"]), 1));
    }

    #[test]
    fn permissions_come_from_current_roles() {
        let catalog = RoleCatalog::builtin();
        let mut caller = Caller {
            account: with_roles("root", &["admin"]),
        };
        assert!(caller.require(&catalog, Permission::UsersWrite).is_ok());
        caller.account.roles = vec!["user".into()];
        assert!(matches!(
            caller.require(&catalog, Permission::UsersWrite),
            Err(Error::Forbidden("users:write"))
        ));
    }
}
