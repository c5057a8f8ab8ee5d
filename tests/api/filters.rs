//! Filters (`domain::filter`) as each database compiles them: for random filter trees over varied
//! accounts, the accounts a list selects are exactly those [`Filter::matches`] says, through both
//! ways a list is answered (the short-prefix table and the key indexes), on both databases. The
//! status filters among them prove that the SQL for `status` and `Account::status` agree for every
//! status.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use domain::{
    account::{Account, Status},
    filter::{Compare, Filter, FlagField, OptionalField, TextField, TimeField},
    paging::{Sort, SortField, UserQuery},
    ports::Store,
    values::{Email, PersonName, Username},
};
use uuid::Uuid;

use crate::database::store;

/// A small deterministic generator (xorshift64*), so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const FIRST: [&str; 6] = ["Ana", "ana", "Élodie", "Zoë", "Bruno", "Anand"];
const LAST: [&str; 5] = ["Lima", "LIMA", "Berg", "Ørsted", "Nakamura"];
const ROLES: [&str; 4] = ["user", "admin", "user_manager", "guest"];

/// Accounts varying in every field a filter can name, around `now`.
fn varied_accounts(rng: &mut Rng, now: DateTime<Utc>) -> Vec<Account> {
    let times = |rng: &mut Rng| match rng.below(4) {
        0 => None,
        1 => Some(now - Duration::days(3)),
        2 => Some(now - Duration::seconds(1)),
        _ => Some(now + Duration::days(2)),
    };
    (0..48)
        .map(|i| {
            let first = *rng.pick(&FIRST);
            let last = *rng.pick(&LAST);
            let username = format!("{}.{}{i}", first.to_lowercase(), last.to_lowercase());
            let mut a = Account::sample(&username);
            a.username = Username::from_trusted(username.clone());
            a.email = Email::from_trusted(format!("{}{i}@{}.example.org", last, first));
            a.first_name = PersonName::from_trusted(first.to_owned());
            a.last_name = PersonName::from_trusted(last.to_owned());
            a.location = rng
                .chance(60)
                .then(|| (*rng.pick(&["Porto", "Lyon", "porto"])).to_owned());
            a.erp_id = rng.chance(30).then(|| format!("E-{}", i % 4));
            a.origin = (*rng.pick(&["manual", "import", "seed"])).to_owned();
            a.roles = match rng.below(4) {
                0 => vec![],
                1 => vec!["guest".into()],
                2 => vec!["user".into()],
                _ => vec!["admin".into(), "user_manager".into()],
            };
            a.active = rng.chance(80);
            a.mfa_required = rng.chance(30);
            a.email_notifications = rng.chance(70);
            a.expires_at = times(rng);
            a.locked_at = rng.chance(15).then_some(now - Duration::hours(1));
            a.locked_until = a
                .locked_at
                .filter(|_| rng.chance(50))
                .map(|_| *rng.pick(&[now - Duration::minutes(1), now + Duration::minutes(5)]));
            a.activated_at = times(rng).filter(|t| *t <= now);
            a.last_active_at = times(rng).filter(|t| *t <= now);
            a.created_at = now - Duration::minutes(i64::from(i as u32));
            a
        })
        .collect()
}

fn random_filter(rng: &mut Rng, accounts: &[Account], depth: u32, now: DateTime<Utc>) -> Filter {
    let keyed = [
        TextField::Username,
        TextField::Email,
        TextField::FirstName,
        TextField::LastName,
    ];
    let texts = [
        TextField::Username,
        TextField::Email,
        TextField::FirstName,
        TextField::LastName,
        TextField::Origin,
        TextField::Location,
        TextField::ErpId,
        TextField::Locale,
    ];
    let times = [
        TimeField::CreatedAt,
        TimeField::UpdatedAt,
        TimeField::ActivatedAt,
        TimeField::LastActiveAt,
        TimeField::LockedAt,
        TimeField::LockedUntil,
        TimeField::ExpiresAt,
    ];
    let someone = &accounts[rng.below(accounts.len())];
    let compound = depth > 0 && rng.chance(40);
    if compound {
        return match rng.below(3) {
            0 => Filter::And(
                (0..rng.below(4))
                    .map(|_| random_filter(rng, accounts, depth - 1, now))
                    .collect(),
            ),
            1 => Filter::Or(
                (0..rng.below(4))
                    .map(|_| random_filter(rng, accounts, depth - 1, now))
                    .collect(),
            ),
            _ => Filter::Not(Box::new(random_filter(rng, accounts, depth - 1, now))),
        };
    }
    match rng.below(8) {
        0 => {
            let field = *rng.pick(&texts);
            let value = field.value_of(someone).unwrap_or_else(|| "Porto".into());
            Filter::TextEquals(field, value)
        }
        1 => {
            let field = *rng.pick(&keyed);
            let key = field.value_of(someone).unwrap_or_default();
            let n = 1 + rng.below(3);
            Filter::TextPrefix(field, key.chars().take(n).collect())
        }
        2 => Filter::IsSet(if rng.chance(50) {
            OptionalField::Time(*rng.pick(&times))
        } else {
            OptionalField::Text(*rng.pick(&[
                TextField::Location,
                TextField::ErpId,
                TextField::ExternalKey,
            ]))
        }),
        3 => Filter::Flag(
            *rng.pick(&[
                FlagField::Active,
                FlagField::MfaRequired,
                FlagField::MfaEnabled,
                FlagField::EmailNotifications,
            ]),
            rng.chance(50),
        ),
        4 => {
            let field = *rng.pick(&times);
            let at = field.value_of(someone).unwrap_or(now);
            let compare = *rng.pick(&[
                Compare::Before,
                Compare::AtOrBefore,
                Compare::After,
                Compare::AtOrAfter,
            ]);
            Filter::Time(field, compare, at)
        }
        5 => {
            let field = *rng.pick(&keyed);
            let key = field.value_of(someone).unwrap_or_default();
            Filter::Search(key.chars().take(1 + rng.below(3)).collect())
        }
        6 => Filter::Status(*rng.pick(&Status::PRECEDENCE)),
        _ => Filter::Role((*rng.pick(&ROLES)).to_owned()),
    }
}

fn selected(
    store: &(dyn Store + 'static),
    filter: &Filter,
    sort: Sort,
    now: DateTime<Utc>,
) -> BTreeSet<Uuid> {
    let query = UserQuery {
        filter: filter.clone(),
        sort,
        after: None,
        limit: 200,
    };
    let rows = store
        .read(|tx| tx.list_accounts(&query, now))
        .expect("list");
    assert!(rows.len() <= 200, "one page holds them all");
    rows.iter().map(|a| a.id).collect()
}

both! {
    async fn every_filter_selects_exactly_what_the_domain_says_it_means(app: TestApp) {
        app.admin().await;
        let database = store(app);
        let store: &(dyn Store + 'static) = &database;
        let now = domain::now();
        let mut rng = Rng(0x05ee_d0ff_11e5);
        let accounts = varied_accounts(&mut rng, now);
        store.write(|tx| tx.insert_accounts(&accounts)).expect("insert");
        // As stored (the admin too): what the filters are held to.
        let everyone: Vec<Account> = store
            .read(|tx| tx.list_accounts(&UserQuery { filter: Filter::all(), sort: Sort::default(), after: None, limit: 200 }, now))
            .expect("everyone");
        assert_eq!(everyone.len(), 49);
        let sorts = [
            Sort { field: SortField::Username, descending: false },
            Sort { field: SortField::Username, descending: true },
            Sort { field: SortField::LastName, descending: false },
            Sort { field: SortField::CreatedAt, descending: true },
        ];
        let mut nonempty = 0;
        for _ in 0..300 {
            let filter = random_filter(&mut rng, &everyone, 3, now);
            let expected: BTreeSet<Uuid> = everyone.iter().filter(|a| filter.matches(a, now)).map(|a| a.id).collect();
            nonempty += usize::from(!expected.is_empty());
            for sort in sorts {
                assert_eq!(selected(store, &filter, sort, now), expected, "{filter:?} sorted {sort:?}");
            }
        }
        assert!(nonempty > 100, "the filters select something often enough to mean something ({nonempty})");
        for status in Status::PRECEDENCE {
            let expected: BTreeSet<Uuid> = everyone.iter().filter(|a| a.status(now) == status).map(|a| a.id).collect();
            assert!(!expected.is_empty(), "some account is {status:?}");
            assert_eq!(selected(store, &Filter::Status(status), Sort::default(), now), expected, "{status:?}");
        }
    }
}
