//! Who may do what (SPEC §1, §3): pure predicates on the acting account, unit-tested here and
//! enforced by the services.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    account::{self, Account},
    roles::{Permission, RoleCatalog, ADMIN},
    values::Username,
    Error, Result,
};

/// The authenticated caller of a request: who it is (for the audit trail and the rules about
/// one's own account) and the roles it holds *now* (never from a token).
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: Uuid,
    pub username: Username,
    pub roles: Vec<String>,
    /// An admin without a second factor under `mfa.required_for_admins`: until it enrols, it
    /// holds no permission (every [`Caller::require`] answers `MfaEnrollmentRequired`), so a
    /// token from before the policy or before the admin role reaches nothing but its own account.
    pub must_enrol_mfa: bool,
}

/// What authenticating a request reads of the caller's account: the [`Caller`] and what decides
/// whether it may authenticate now. Every request reads it, so it is read instead of the whole
/// [`Account`]: reading all of it cost PostgreSQL `read` a sixth of its throughput
/// (bench/README.md).
#[derive(Debug, Clone)]
pub struct CallerAccount {
    pub caller: Caller,
    pub active: bool,
    pub locked_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When a use was last recorded (`last_active_at`, written at most once a minute).
    pub last_active_at: Option<DateTime<Utc>>,
    pub mfa_enabled: bool,
}

impl CallerAccount {
    /// The caller, if its account may authenticate at `now` (the rule of
    /// [`Account::may_authenticate`]).
    pub fn admit(self, now: DateTime<Utc>) -> Option<Caller> {
        account::may_authenticate(
            self.active,
            self.locked_at,
            self.locked_until,
            self.expires_at,
            now,
        )
        .then_some(self.caller)
    }
}

impl Caller {
    pub fn may(&self, catalog: &RoleCatalog, permission: Permission) -> bool {
        !self.must_enrol_mfa && catalog.permits(&self.roles, permission)
    }

    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == ADMIN)
    }

    /// A guest reads their own account and changes their password, nothing else (SPEC §3).
    pub fn is_guest(&self) -> bool {
        self.roles.iter().any(|r| r == crate::roles::GUEST)
    }

    pub fn require(&self, catalog: &RoleCatalog, permission: Permission) -> Result<()> {
        if self.must_enrol_mfa {
            Err(Error::MfaEnrollmentRequired)
        } else if self.may(catalog, permission) {
            Ok(())
        } else {
            Err(Error::Forbidden(permission.name()))
        }
    }

    pub fn is(&self, account_id: Uuid) -> bool {
        self.id == account_id
    }
}

/// A change of `target`'s roles from `before` to `after` by `caller`: nobody edits their own
/// roles, and only holders of `admin` grant or remove `admin`.
pub fn check_role_change(caller: &Caller, target: &Account, after: &[String]) -> Result<()> {
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
pub fn check_initial_roles(caller: &Caller, roles: &[String]) -> Result<()> {
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

    fn with_roles(name: &str, roles: &[&str]) -> Account {
        let mut a = Account::sample(name);
        a.roles = roles.iter().map(|r| r.to_string()).collect();
        a
    }

    fn caller(account: &Account) -> Caller {
        Caller {
            id: account.id,
            username: account.username.clone(),
            roles: account.roles.clone(),
            must_enrol_mfa: false,
        }
    }

    #[test]
    fn nobody_edits_their_own_roles() {
        let admin = with_roles("root", &["admin"]);
        let err = check_role_change(&caller(&admin), &admin, &["admin".into(), "user".into()])
            .unwrap_err();
        assert!(matches!(err, Error::OwnRoles));
        assert!(
            check_role_change(&caller(&admin), &admin, &["admin".into()]).is_ok(),
            "same roles are a no-op"
        );
    }

    #[test]
    fn only_admins_grant_or_remove_admin() {
        let manager = with_roles("mgr", &["user_manager"]);
        let plain = with_roles("ana", &["user"]);
        let admin_target = with_roles("boss", &["admin"]);
        assert!(matches!(
            check_role_change(&caller(&manager), &plain, &["admin".into()]),
            Err(Error::AdminRoleRequired)
        ));
        assert!(matches!(
            check_role_change(&caller(&manager), &admin_target, &["user".into()]),
            Err(Error::AdminRoleRequired)
        ));
        assert!(check_role_change(&caller(&manager), &plain, &["guest".into()]).is_ok());
        let admin = with_roles("root", &["admin"]);
        assert!(check_role_change(&caller(&admin), &plain, &["admin".into()]).is_ok());
        assert!(matches!(
            check_initial_roles(&caller(&manager), &["admin".into()]),
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
    fn an_admin_due_to_enrol_holds_no_permission() {
        let catalog = RoleCatalog::builtin();
        let mut admin = caller(&with_roles("root", &["admin"]));
        assert!(admin.require(&catalog, Permission::UsersRead).is_ok());
        admin.must_enrol_mfa = true;
        for permission in Permission::ALL {
            assert!(!admin.may(&catalog, permission));
            assert!(matches!(
                admin.require(&catalog, permission),
                Err(Error::MfaEnrollmentRequired)
            ));
        }
    }

    #[test]
    fn a_caller_is_admitted_only_while_its_account_may_authenticate() {
        let now = Utc::now();
        let account = with_roles("ana", &["user"]);
        let read = |a: &Account| CallerAccount {
            caller: caller(a),
            active: a.active,
            locked_at: a.locked_at,
            locked_until: a.locked_until,
            expires_at: a.expires_at,
            last_active_at: a.last_active_at,
            mfa_enabled: a.mfa_enabled,
        };
        let admitted = read(&account)
            .admit(now)
            .expect("an active account is admitted");
        assert_eq!(
            (admitted.id, admitted.roles),
            (account.id, account.roles.clone())
        );
        let mut inactive = account.clone();
        inactive.active = false;
        let mut locked = account.clone();
        locked.locked_at = Some(now);
        let mut locked_for_a_while = account.clone();
        locked_for_a_while.locked_at = Some(now);
        locked_for_a_while.locked_until = Some(now + chrono::Duration::seconds(1));
        let mut expired = account.clone();
        expired.expires_at = Some(now);
        for refused in [inactive, locked, locked_for_a_while, expired] {
            assert!(!refused.may_authenticate(now));
            assert!(read(&refused).admit(now).is_none());
        }
        let mut lock_ended = account.clone();
        lock_ended.locked_at = Some(now - chrono::Duration::seconds(60));
        lock_ended.locked_until = Some(now);
        assert!(read(&lock_ended).admit(now).is_some());
        let mut expiring = account;
        expiring.expires_at = Some(now + chrono::Duration::seconds(1));
        assert!(read(&expiring).admit(now).is_some());
    }

    #[test]
    fn permissions_come_from_current_roles() {
        let catalog = RoleCatalog::builtin();
        let mut caller = caller(&with_roles("root", &["admin"]));
        assert!(caller.require(&catalog, Permission::UsersWrite).is_ok());
        caller.roles = vec!["user".into()];
        assert!(matches!(
            caller.require(&catalog, Permission::UsersWrite),
            Err(Error::Forbidden("users:write"))
        ));
    }
}
