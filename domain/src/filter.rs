//! Conditions on accounts, as a tree (STYLE 14): the list's query parameters build one today
//! (SPEC §10); exports, reports and SCIM's `filter=` will. Each backend compiles a tree to SQL in
//! one place; [`Filter::matches`] is what a tree means, and the backends are tested against it.
//!
//! Conditions on what an account belongs to (a group, an application, an instance) are facts
//! outside the account: [`Filter::matches`] takes them as [`Memberships`].
//!
//! Text conditions on username, email, first and last name compare the case-folded key (as
//! uniqueness and search do), so their values are keys: build them with [`Filter::text_equals`]
//! or [`Filter::text_prefix`]. A condition on a field that is not set (`null`) never holds, and
//! its negation does.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    account::{Account, Status},
    values::fold,
};

/// A text field an account condition can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Username,
    Email,
    FirstName,
    LastName,
    Origin,
    Location,
    ErpId,
    ExternalKey,
    Locale,
}

impl TextField {
    /// Compared by case-folded key (username, email, first and last name) rather than as stored.
    pub fn is_keyed(self) -> bool {
        matches!(
            self,
            TextField::Username | TextField::Email | TextField::FirstName | TextField::LastName
        )
    }

    /// The value compared: the key for a keyed field; `None` where the field is not set.
    pub fn value_of(self, a: &Account) -> Option<String> {
        match self {
            TextField::Username => Some(a.username.key()),
            TextField::Email => Some(a.email.key()),
            TextField::FirstName => Some(a.first_name.key()),
            TextField::LastName => Some(a.last_name.key()),
            TextField::Origin => Some(a.origin.clone()),
            TextField::Location => a.location.clone(),
            TextField::ErpId => a.erp_id.clone(),
            TextField::ExternalKey => a.external_key.clone(),
            TextField::Locale => Some(a.locale.as_str().to_owned()),
        }
    }
}

/// A yes/no field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagField {
    Active,
    MfaRequired,
    MfaEnabled,
    EmailNotifications,
}

impl FlagField {
    pub fn value_of(self, a: &Account) -> bool {
        match self {
            FlagField::Active => a.active,
            FlagField::MfaRequired => a.mfa_required,
            FlagField::MfaEnabled => a.mfa_enabled,
            FlagField::EmailNotifications => a.email_notifications,
        }
    }
}

/// A time field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    CreatedAt,
    UpdatedAt,
    ActivatedAt,
    LastActiveAt,
    LockedAt,
    LockedUntil,
    ExpiresAt,
}

impl TimeField {
    pub fn value_of(self, a: &Account) -> Option<DateTime<Utc>> {
        match self {
            TimeField::CreatedAt => Some(a.created_at),
            TimeField::UpdatedAt => Some(a.updated_at),
            TimeField::ActivatedAt => a.activated_at,
            TimeField::LastActiveAt => a.last_active_at,
            TimeField::LockedAt => a.locked_at,
            TimeField::LockedUntil => a.locked_until,
            TimeField::ExpiresAt => a.expires_at,
        }
    }
}

/// How a time field compares with a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Before,
    AtOrBefore,
    After,
    AtOrAfter,
}

impl Compare {
    fn holds(self, value: DateTime<Utc>, at: DateTime<Utc>) -> bool {
        match self {
            Compare::Before => value < at,
            Compare::AtOrBefore => value <= at,
            Compare::After => value > at,
            Compare::AtOrAfter => value >= at,
        }
    }
}

/// A condition on accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every condition holds (an empty `And` holds for every account).
    And(Vec<Filter>),
    /// Some condition holds (an empty `Or` holds for none).
    Or(Vec<Filter>),
    Not(Box<Filter>),
    /// The field equals the value (for a keyed field, the key equals the folded value).
    TextEquals(TextField, String),
    /// The field's key starts with the value (already folded). Keyed fields only: others have no
    /// index to answer it.
    TextPrefix(TextField, String),
    /// The field is set (not null): times, and the optional texts.
    IsSet(OptionalField),
    Flag(FlagField, bool),
    /// The time field compares so with the given time (never holds when the field is not set).
    Time(TimeField, Compare, DateTime<Utc>),
    /// The list's `q` (SPEC §10): a prefix (already folded) of the username, email, first name or
    /// last name.
    Search(String),
    /// The derived status (SPEC §1), by [`Status::condition`].
    Status(Status),
    /// Holds the catalog role.
    Role(String),
    /// A member of the group.
    Group(Uuid),
    /// Assigned to an instance of the application, or granted all of them ("access to all").
    /// Disabled assignments count: they are suspended, not gone (SPEC §8).
    Application(Uuid),
    /// Assigned to the instance, or granted every instance of its application.
    Instance(Uuid),
}

/// What an account belongs to, for the conditions on memberships: its groups, the applications
/// it has an assignment or an "access to all" grant in, and the instances it is assigned to or
/// covered by such a grant — enabled or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memberships {
    pub groups: BTreeSet<Uuid>,
    pub applications: BTreeSet<Uuid>,
    pub instances: BTreeSet<Uuid>,
}

/// A field that may be unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionalField {
    Text(TextField),
    Time(TimeField),
}

impl Filter {
    /// Holds for every account.
    pub fn all() -> Self {
        Filter::And(Vec::new())
    }

    /// `field` equals `value`, folded where the field is keyed.
    pub fn text_equals(field: TextField, value: &str) -> Self {
        let value = if field.is_keyed() {
            fold(value)
        } else {
            value.to_owned()
        };
        Filter::TextEquals(field, value)
    }

    /// The key of `field` (a keyed field) starts with `prefix`, folded.
    pub fn text_prefix(field: TextField, prefix: &str) -> Self {
        Filter::TextPrefix(field, fold(prefix))
    }

    /// Both conditions; flattens nested `And`s so backends see one level where they can.
    pub fn and(self, other: Filter) -> Self {
        match (self, other) {
            (Filter::And(mut a), Filter::And(b)) => {
                a.extend(b);
                Filter::And(a)
            }
            (Filter::And(mut a), other) => {
                a.push(other);
                Filter::And(a)
            }
            (one, Filter::And(mut b)) => {
                b.insert(0, one);
                Filter::And(b)
            }
            (one, other) => Filter::And(vec![one, other]),
        }
    }

    /// Whether the condition holds for `account`, which belongs to `memberships`, at `now`. The
    /// meaning of a filter: every backend's SQL for it selects exactly the accounts this selects.
    pub fn matches(
        &self,
        account: &Account,
        memberships: &Memberships,
        now: DateTime<Utc>,
    ) -> bool {
        let holds = |f: &Filter| f.matches(account, memberships, now);
        match self {
            Filter::And(all) => all.iter().all(holds),
            Filter::Or(any) => any.iter().any(holds),
            Filter::Not(f) => !holds(f),
            Filter::TextEquals(field, value) => field.value_of(account).as_ref() == Some(value),
            Filter::TextPrefix(field, prefix) => field
                .value_of(account)
                .is_some_and(|v| v.starts_with(prefix.as_str())),
            Filter::IsSet(OptionalField::Text(field)) => field.value_of(account).is_some(),
            Filter::IsSet(OptionalField::Time(field)) => field.value_of(account).is_some(),
            Filter::Flag(field, value) => field.value_of(account) == *value,
            Filter::Time(field, compare, at) => field
                .value_of(account)
                .is_some_and(|v| compare.holds(v, *at)),
            Filter::Search(prefix) => search_fields()
                .iter()
                .any(|f| holds(&Filter::TextPrefix(*f, prefix.clone()))),
            Filter::Status(status) => holds(&status.condition(now)),
            Filter::Role(role) => account.has_role(role),
            Filter::Group(id) => memberships.groups.contains(id),
            Filter::Application(id) => memberships.applications.contains(id),
            Filter::Instance(id) => memberships.instances.contains(id),
        }
    }

    /// A top-level `Search` (the filter itself, or one part of a top-level `And`) and the rest of
    /// the filter: for backends that answer a search from a table of their own.
    pub fn split_search(&self) -> Option<(&str, Filter)> {
        match self.split_first(|f| matches!(f, Filter::Search(_)))? {
            (Filter::Search(prefix), rest) => Some((prefix, rest)),
            _ => None,
        }
    }

    /// A top-level membership condition (`Group`, `Application` or `Instance`: the filter itself,
    /// or the first such part of a top-level `And`) and the rest of the filter: for backends that
    /// answer one from a table of their own.
    pub fn split_membership(&self) -> Option<(&Filter, Filter)> {
        self.split_first(|f| {
            matches!(
                f,
                Filter::Group(_) | Filter::Application(_) | Filter::Instance(_)
            )
        })
    }

    /// The filter itself if `wanted`, else the first part of a top-level `And` that is, with the
    /// rest of the filter.
    fn split_first(&self, wanted: impl Fn(&Filter) -> bool) -> Option<(&Filter, Filter)> {
        match self {
            f if wanted(f) => Some((f, Filter::all())),
            Filter::And(parts) => {
                let i = parts.iter().position(wanted)?;
                let rest = parts
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, p)| p.clone())
                    .collect();
                Some((&parts[i], Filter::And(rest)))
            }
            _ => None,
        }
    }

    /// Whether this is a search, or a top-level `And` with one.
    pub fn has_search(&self) -> bool {
        self.split_search().is_some()
    }
}

/// The fields `q` searches (SPEC §10).
pub fn search_fields() -> [TextField; 4] {
    [
        TextField::Username,
        TextField::Email,
        TextField::FirstName,
        TextField::LastName,
    ]
}

impl Status {
    /// Statuses in their order of precedence (SPEC §1): an account has the first whose own
    /// condition holds.
    pub const PRECEDENCE: [Status; 5] = [
        Status::Inactive,
        Status::Locked,
        Status::Expired,
        Status::Invited,
        Status::Active,
    ];

    /// What marks this status, before precedence: `active` is false; `locked_at` is set;
    /// `expires_at` is at or before now; the account never had a password and never signed in;
    /// (for `active`) nothing.
    fn own_condition(self, now: DateTime<Utc>) -> Filter {
        let unset = |f: TimeField| Filter::Not(Box::new(Filter::IsSet(OptionalField::Time(f))));
        match self {
            Status::Inactive => Filter::Flag(FlagField::Active, false),
            Status::Locked => Filter::And(vec![
                Filter::IsSet(OptionalField::Time(TimeField::LockedAt)),
                Filter::Or(vec![
                    Filter::Not(Box::new(Filter::IsSet(OptionalField::Time(
                        TimeField::LockedUntil,
                    )))),
                    Filter::Time(TimeField::LockedUntil, Compare::After, now),
                ]),
            ]),
            Status::Expired => Filter::Time(TimeField::ExpiresAt, Compare::AtOrBefore, now),
            Status::Invited => Filter::And(vec![
                unset(TimeField::ActivatedAt),
                unset(TimeField::LastActiveAt),
            ]),
            Status::Active => Filter::all(),
        }
    }

    /// The condition of having this status at `now`: its own condition and none of those that
    /// take precedence. [`crate::account::Account::status`] is the same rule, written out for
    /// speed; a test holds the two equal.
    pub fn condition(self, now: DateTime<Utc>) -> Filter {
        let mut parts: Vec<Filter> = Self::PRECEDENCE
            .iter()
            .take_while(|s| **s != self)
            .map(|s| Filter::Not(Box::new(s.own_condition(now))))
            .collect();
        match self.own_condition(now) {
            Filter::And(own) => parts.extend(own),
            own => parts.push(own),
        }
        Filter::And(parts)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    /// Every combination of the fields status depends on, around `now`.
    fn variants(now: DateTime<Utc>) -> Vec<Account> {
        let times = [
            None,
            Some(now - Duration::seconds(5)),
            Some(now),
            Some(now + Duration::seconds(5)),
        ];
        let mut out = Vec::new();
        for active in [false, true] {
            for (locked, until) in [
                (None, None),
                (Some(now), None),
                (Some(now), Some(now)),
                (Some(now), Some(now + Duration::seconds(5))),
            ] {
                for expires in times {
                    for activated in [None, Some(now)] {
                        for last_active in [None, Some(now)] {
                            let mut a = Account::sample("ana");
                            a.active = active;
                            a.locked_at = locked;
                            a.locked_until = until;
                            a.expires_at = expires;
                            a.activated_at = activated;
                            a.last_active_at = last_active;
                            out.push(a);
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_status_conditions_are_the_rule_of_account_status() {
        let now = Utc::now();
        let none = Memberships::default();
        for account in variants(now) {
            let holding: Vec<Status> = Status::PRECEDENCE
                .into_iter()
                .filter(|s| Filter::Status(*s).matches(&account, &none, now))
                .collect();
            assert_eq!(holding, vec![account.status(now)], "{account:?}");
        }
    }

    #[test]
    fn conditions_on_unset_fields_never_hold_and_their_negations_do() {
        let now = Utc::now();
        let none = Memberships::default();
        let a = Account::sample("ana");
        assert_eq!(a.location, None);
        let located = Filter::text_equals(TextField::Location, "Porto");
        assert!(!located.matches(&a, &none, now));
        assert!(Filter::Not(Box::new(located)).matches(&a, &none, now));
        let locked_long_ago = Filter::Time(TimeField::LockedAt, Compare::Before, now);
        assert!(!locked_long_ago.matches(&a, &none, now));
        assert!(Filter::Not(Box::new(locked_long_ago)).matches(&a, &none, now));
    }

    #[test]
    fn keyed_text_compares_case_insensitively_and_searches_four_fields() {
        let now = Utc::now();
        let none = Memberships::default();
        let a = Account::sample("Ana.Lima");
        assert!(Filter::text_equals(TextField::Username, "ANA.LIMA").matches(&a, &none, now));
        assert!(Filter::text_prefix(TextField::Email, "ANA.L").matches(&a, &none, now));
        assert!(
            Filter::Search("li".into()).matches(&a, &none, now),
            "last name Lima"
        );
        assert!(!Filter::Search("x".into()).matches(&a, &none, now));
        assert!(Filter::all().matches(&a, &none, now));
        assert!(!Filter::Or(vec![]).matches(&a, &none, now));
    }

    #[test]
    fn membership_conditions_ask_the_accounts_memberships() {
        let now = Utc::now();
        let a = Account::sample("ana");
        let (group, app, instance) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let belongs = Memberships {
            groups: [group].into(),
            applications: [app].into(),
            instances: [instance].into(),
        };
        for f in [
            Filter::Group(group),
            Filter::Application(app),
            Filter::Instance(instance),
        ] {
            assert!(f.matches(&a, &belongs, now));
            assert!(!f.matches(&a, &Memberships::default(), now));
        }
        assert!(
            !Filter::Group(app).matches(&a, &belongs, now),
            "a group is not an application"
        );
    }

    #[test]
    fn a_search_splits_from_the_rest_of_a_conjunction() {
        let f = Filter::Role("admin".into())
            .and(Filter::Search("an".into()))
            .and(Filter::Status(Status::Active));
        let (prefix, rest) = f.split_search().expect("a search");
        assert_eq!(prefix, "an");
        assert_eq!(
            rest,
            Filter::And(vec![
                Filter::Role("admin".into()),
                Filter::Status(Status::Active)
            ])
        );
        assert!(Filter::Not(Box::new(Filter::Search("an".into())))
            .split_search()
            .is_none());
    }
}
