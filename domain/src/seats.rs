//! Seats and licence limits (SPEC §2): what an account holds, and how a change moves the counts.
//!
//! An active account that is not a guest holds an `active_users` seat; an active account holds a
//! seat of each of its roles; a guest's email holds a guest seat for good (a ledger, not a count
//! of accounts). The account writer applies [`changes`] to the stored counts in the transaction of
//! every write of an account, each seat by one conditional update that also checks its limit, so
//! every path that writes accounts (create, change, delete, bulk, and later import and SCIM)
//! takes and frees seats the same way and cannot forget to.

use std::collections::BTreeMap;

use crate::{account::Account, roles::GUEST};

/// The seat of active accounts that are not guests.
pub const ACTIVE_USERS: &str = "active_users";
/// The seat of guest emails (the ledger).
pub const GUEST_SEATS: &str = "guest_seats";

/// One seat's count and limit, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatUsage {
    /// `active_users`, `role:<name>` or `guest_seats`.
    pub key: String,
    pub used: i64,
    /// `None`: unlimited.
    pub limit: Option<i64>,
}

/// The stored key of a role's seat.
pub fn role_seat(role: &str) -> String {
    format!("role:{role}")
}

/// The name a seat goes by in the API: `active_users`, a role's name, or `guest` for the ledger.
pub fn seat_name(key: &str) -> &str {
    if key == GUEST_SEATS {
        GUEST
    } else {
        key.strip_prefix("role:").unwrap_or(key)
    }
}

/// The seats `account` holds as a count (the guest ledger aside).
pub fn held(account: &Account) -> Vec<String> {
    if !account.active {
        return Vec::new();
    }
    let mut seats: Vec<String> = account.roles.iter().map(|r| role_seat(r)).collect();
    if !account.is_guest() {
        seats.push(ACTIVE_USERS.to_owned());
    }
    seats
}

/// How a write from `before` to `after` (`None`: not there) moves each seat's count, by seat key,
/// in key order (the order the writer locks them in, so two writers never wait on each other in
/// opposite orders). Seats that do not move are left out.
pub fn changes(before: Option<&Account>, after: Option<&Account>) -> BTreeMap<String, i64> {
    let mut moves: BTreeMap<String, i64> = BTreeMap::new();
    for seat in before.map(held).unwrap_or_default() {
        *moves.entry(seat).or_default() -= 1;
    }
    for seat in after.map(held).unwrap_or_default() {
        *moves.entry(seat).or_default() += 1;
    }
    moves.retain(|_, n| *n != 0);
    moves
}

/// Whether the write takes a guest seat for `after`'s email: it becomes (or is created as) a
/// guest. Whether the email already holds one the ledger decides.
pub fn claims_guest_seat(before: Option<&Account>, after: Option<&Account>) -> bool {
    after.is_some_and(Account::is_guest) && !before.is_some_and(Account::is_guest)
}

/// What a role change from `before` to `after` does besides changing roles, for a console to show
/// before asking again with `"confirm": true` (SPEC §2): a change to or from `guest` moves seats and
/// resets the account's access (its sessions and API tokens end); a change to or from `admin`
/// grants or removes every permission; a change to `guest` removes the account's assignments and
/// group memberships (SPEC §8). Empty: no confirmation needed. `holds_guest_seat`: the account's
/// email already holds a guest seat; `assigned`: the account has assignments (or "access to all"
/// grants); `grouped`: it is a member of groups.
pub fn consequences(
    before: &Account,
    after: &Account,
    holds_guest_seat: bool,
    (assigned, grouped): (bool, bool),
) -> Vec<&'static str> {
    let mut out = Vec::new();
    match (before.is_guest(), after.is_guest()) {
        (false, true) => {
            if before.active {
                out.push("user_seat_released");
            }
            out.push(if holds_guest_seat {
                "guest_seat_kept"
            } else {
                "guest_seat_taken"
            });
            if after.expires_at.is_some() && after.expires_at != before.expires_at {
                out.push("expires_at_set");
            }
            out.push("access_reset");
            if assigned {
                out.push("assignments_removed");
            }
            if grouped {
                out.push("groups_left");
            }
        }
        (true, false) => {
            if after.active {
                out.push("user_seat_taken");
            }
            out.push("guest_seat_kept");
            out.push("access_reset");
        }
        _ => {}
    }
    match (before.is_admin(), after.is_admin()) {
        (false, true) => out.push("admin_permissions_granted"),
        (true, false) => out.push("admin_permissions_removed"),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::account::Account;

    #[test]
    fn a_change_moves_only_what_it_changes() {
        let mut a = Account::sample("ana");
        a.roles = vec!["user".into()];
        assert_eq!(
            changes(None, Some(&a)),
            BTreeMap::from([("active_users".into(), 1), ("role:user".into(), 1)])
        );
        let mut b = a.clone();
        b.location = Some("Porto".into());
        assert!(changes(Some(&a), Some(&b)).is_empty());
        b.active = false;
        assert_eq!(
            changes(Some(&a), Some(&b)),
            BTreeMap::from([("active_users".into(), -1), ("role:user".into(), -1)])
        );
        let mut guest = a.clone();
        guest.roles = vec!["guest".into()];
        assert_eq!(
            changes(Some(&a), Some(&guest)),
            BTreeMap::from([
                ("active_users".into(), -1),
                ("role:guest".into(), 1),
                ("role:user".into(), -1)
            ])
        );
        assert!(claims_guest_seat(Some(&a), Some(&guest)));
        assert!(!claims_guest_seat(Some(&guest), Some(&guest)));
        assert!(!claims_guest_seat(Some(&guest), Some(&a)));
        assert_eq!(
            consequences(&a, &guest, false, (false, false)),
            vec!["user_seat_released", "guest_seat_taken", "access_reset"]
        );
        assert_eq!(
            consequences(&a, &guest, true, (true, true)),
            vec![
                "user_seat_released",
                "guest_seat_kept",
                "access_reset",
                "assignments_removed",
                "groups_left"
            ]
        );
        assert_eq!(
            consequences(&guest, &a, true, (false, false)),
            vec!["user_seat_taken", "guest_seat_kept", "access_reset"]
        );
        let mut admin = a.clone();
        admin.roles = vec!["admin".into()];
        assert_eq!(
            consequences(&a, &admin, false, (false, false)),
            vec!["admin_permissions_granted"]
        );
        assert_eq!(
            consequences(&admin, &a, false, (false, false)),
            vec!["admin_permissions_removed"]
        );
        assert!(consequences(&a, &b, false, (false, false)).is_empty());
        assert_eq!(seat_name("role:production_manager"), "production_manager");
        assert_eq!(seat_name(GUEST_SEATS), "guest");
    }

    #[derive(Debug, Clone)]
    enum Step {
        Create { roles: usize, active: bool },
        Activate(usize),
        Deactivate(usize),
        SetRoles(usize, usize),
        Delete(usize),
    }

    const ROLE_SETS: [&[&str]; 5] = [&[], &["user"], &["guest"], &["admin", "user"], &["pm"]];

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0..ROLE_SETS.len(), any::<bool>())
                .prop_map(|(roles, active)| Step::Create { roles, active }),
            any::<usize>().prop_map(Step::Activate),
            any::<usize>().prop_map(Step::Deactivate),
            (any::<usize>(), 0..ROLE_SETS.len()).prop_map(|(i, r)| Step::SetRoles(i, r)),
            any::<usize>().prop_map(Step::Delete),
        ]
    }

    /// A store of accounts with counts kept as the writer keeps them: a change is applied only
    /// when no seat it takes would pass its limit.
    #[derive(Default)]
    struct Ledger {
        accounts: Vec<Account>,
        counts: BTreeMap<String, i64>,
    }

    impl Ledger {
        fn write(
            &mut self,
            before: Option<usize>,
            after: Option<Account>,
            limits: &BTreeMap<String, i64>,
        ) {
            let moves = changes(before.map(|i| &self.accounts[i]), after.as_ref());
            let passes = moves.iter().any(|(seat, n)| {
                *n > 0
                    && limits.get(seat).is_some_and(|limit| {
                        self.counts.get(seat).copied().unwrap_or(0) + n > *limit
                    })
            });
            if passes {
                return;
            }
            for (seat, n) in moves {
                *self.counts.entry(seat).or_default() += n;
            }
            match (before, after) {
                (Some(i), Some(a)) => self.accounts[i] = a,
                (Some(i), None) => drop(self.accounts.remove(i)),
                (None, Some(a)) => self.accounts.push(a),
                (None, None) => {}
            }
        }

        fn recount(&self) -> BTreeMap<String, i64> {
            let mut counts = BTreeMap::new();
            for a in &self.accounts {
                for seat in held(a) {
                    *counts.entry(seat).or_insert(0) += 1;
                }
            }
            counts
        }
    }

    proptest! {
        #[test]
        fn counts_never_pass_their_limits_and_equal_a_recount(steps in prop::collection::vec(step(), 1..80)) {
            let limits = BTreeMap::from([
                (ACTIVE_USERS.to_owned(), 5),
                (role_seat("pm"), 2),
                (role_seat("guest"), 3),
            ]);
            let mut ledger = Ledger::default();
            for (n, step) in steps.into_iter().enumerate() {
                let pick = |i: usize, len: usize| (len > 0).then(|| i % len);
                match step {
                    Step::Create { roles, active } => {
                        let mut a = Account::sample(&format!("a{n}"));
                        a.roles = ROLE_SETS[roles].iter().map(|r| (*r).to_owned()).collect();
                        a.active = active;
                        ledger.write(None, Some(a), &limits);
                    }
                    Step::Activate(i) | Step::Deactivate(i) => {
                        if let Some(i) = pick(i, ledger.accounts.len()) {
                            let mut a = ledger.accounts[i].clone();
                            a.active = matches!(step, Step::Activate(_));
                            ledger.write(Some(i), Some(a), &limits);
                        }
                    }
                    Step::SetRoles(i, r) => {
                        if let Some(i) = pick(i, ledger.accounts.len()) {
                            let mut a = ledger.accounts[i].clone();
                            a.roles = ROLE_SETS[r].iter().map(|r| (*r).to_owned()).collect();
                            ledger.write(Some(i), Some(a), &limits);
                        }
                    }
                    Step::Delete(i) => {
                        if let Some(i) = pick(i, ledger.accounts.len()) {
                            ledger.write(Some(i), None, &limits);
                        }
                    }
                }
                let mut counts = ledger.counts.clone();
                counts.retain(|_, n| *n != 0);
                prop_assert_eq!(&counts, &ledger.recount(), "counts equal a recount");
                for (seat, limit) in &limits {
                    prop_assert!(counts.get(seat).copied().unwrap_or(0) <= *limit, "{} within {}", seat, limit);
                }
            }
        }
    }
}
