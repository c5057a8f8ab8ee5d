//! Filters (`domain::filter`) as each database compiles them: for random filter trees over varied
//! accounts, the accounts a list selects are exactly those [`Filter::matches`] says, through both
//! ways a list is answered (the short-prefix table and the key indexes), on both databases. The
//! status filters among them prove that the SQL for `status` and `Account::status` agree for every
//! status, and the membership filters that groups, assignments and "access to all" grants (one
//! given before an instance of its application existed) select as the domain says.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use domain::{
    account::{Account, Status},
    assignments::{AllInstances, Application, Assignment, Group, Instance, InstanceRole},
    filter::{Compare, Filter, FlagField, Memberships, OptionalField, TextField, TimeField},
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

/// Applications, instances and groups, with accounts spread over them at random: assignments
/// (some disabled), "access to all" grants (some disabled) and memberships. The last instance is
/// created after the grants. Answers each account's memberships as the domain defines them, and
/// the membership filters to draw from (naming each group, application and instance, and ids
/// that name nothing).
fn spread(
    store: &(dyn Store + 'static),
    rng: &mut Rng,
    accounts: &[Account],
    now: DateTime<Utc>,
) -> (World, Vec<Filter>) {
    let named = |i: usize| (Uuid::now_v7(), format!("n{i}"));
    let applications: Vec<Application> = (0..2)
        .map(|i| {
            let (id, name) = named(i);
            Application {
                id,
                name,
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    let instance = |i: usize, application: &Application| {
        let (id, name) = named(i);
        Instance {
            id,
            application_id: application.id,
            name,
            created_at: now,
            updated_at: now,
        }
    };
    let mut instances: Vec<Instance> = (0..4).map(|i| instance(i, &applications[i % 2])).collect();
    let groups: Vec<Group> = (0..3)
        .map(|i| {
            let (id, name) = named(i);
            Group {
                id,
                name,
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    let mut assignments = Vec::new();
    let mut grants = Vec::new();
    let mut members: Vec<(Uuid, Uuid)> = Vec::new();
    for account in accounts {
        for instance in &instances {
            if rng.chance(25) {
                assignments.push(Assignment {
                    user_id: account.id,
                    instance_id: instance.id,
                    application_id: instance.application_id,
                    enabled: rng.chance(70),
                    role: InstanceRole::Member,
                    created_at: now,
                });
            }
        }
        for application in &applications {
            if rng.chance(12) {
                grants.push(AllInstances {
                    user_id: account.id,
                    application_id: application.id,
                    enabled: rng.chance(70),
                    created_at: now,
                });
            }
        }
        for group in &groups {
            if rng.chance(30) {
                members.push((group.id, account.id));
            }
        }
    }
    let later = instance(9, &applications[0]);
    store
        .write(|tx| {
            for application in &applications {
                tx.insert_application(application, &application.name)?;
            }
            for instance in &instances {
                tx.insert_instance(instance, &instance.name)?;
            }
            tx.insert_assignments(&assignments)?;
            tx.insert_all_instance_grants(&grants)?;
            for group in &groups {
                tx.insert_group(group, &group.name)?;
                let users: Vec<Uuid> = members
                    .iter()
                    .filter(|(g, _)| *g == group.id)
                    .map(|(_, u)| *u)
                    .collect();
                tx.add_members(group.id, &users, now)?;
            }
            tx.insert_instance(&later, &later.name)
        })
        .expect("spread");
    instances.push(later);
    let world = World {
        instances: instances.clone(),
        assignments,
        grants,
        members,
    };
    let nothing = Uuid::now_v7();
    let mut filters: Vec<Filter> = vec![
        Filter::Group(nothing),
        Filter::Application(nothing),
        Filter::Instance(nothing),
    ];
    filters.extend(groups.iter().map(|g| Filter::Group(g.id)));
    filters.extend(applications.iter().map(|a| Filter::Application(a.id)));
    filters.extend(instances.iter().map(|i| Filter::Instance(i.id)));
    (world, filters)
}

/// What `spread` made.
struct World {
    instances: Vec<Instance>,
    assignments: Vec<Assignment>,
    grants: Vec<AllInstances>,
    members: Vec<(Uuid, Uuid)>,
}

impl World {
    /// Each account's memberships as the domain defines them (disabled assignments and grants
    /// count).
    fn memberships(&self) -> BTreeMap<Uuid, Memberships> {
        let mut memberships: BTreeMap<Uuid, Memberships> = BTreeMap::new();
        for a in &self.assignments {
            let m = memberships.entry(a.user_id).or_default();
            m.instances.insert(a.instance_id);
            m.applications.insert(a.application_id);
        }
        for g in &self.grants {
            let m = memberships.entry(g.user_id).or_default();
            m.applications.insert(g.application_id);
            m.instances.extend(
                self.instances
                    .iter()
                    .filter(|i| i.application_id == g.application_id)
                    .map(|i| i.id),
            );
        }
        for (group, user) in &self.members {
            memberships.entry(*user).or_default().groups.insert(*group);
        }
        memberships
    }
}

fn random_filter(
    rng: &mut Rng,
    accounts: &[Account],
    memberships: &[Filter],
    depth: u32,
    now: DateTime<Utc>,
) -> Filter {
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
                    .map(|_| random_filter(rng, accounts, memberships, depth - 1, now))
                    .collect(),
            ),
            1 => Filter::Or(
                (0..rng.below(4))
                    .map(|_| random_filter(rng, accounts, memberships, depth - 1, now))
                    .collect(),
            ),
            _ => Filter::Not(Box::new(random_filter(
                rng,
                accounts,
                memberships,
                depth - 1,
                now,
            ))),
        };
    }
    match rng.below(10) {
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
        7 => Filter::Role((*rng.pick(&ROLES)).to_owned()),
        _ => rng.pick(memberships).clone(),
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
        let (world, membership_filters) = spread(store, &mut rng, &everyone, now);
        let belongs = world.memberships();
        let none = Memberships::default();
        let of = |a: &Account| belongs.get(&a.id).unwrap_or(&none);
        let sorts = [
            Sort { field: SortField::Username, descending: false },
            Sort { field: SortField::Username, descending: true },
            Sort { field: SortField::LastName, descending: false },
            Sort { field: SortField::CreatedAt, descending: true },
        ];
        let mut nonempty = 0;
        for _ in 0..300 {
            let filter = random_filter(&mut rng, &everyone, &membership_filters, 3, now);
            let expected: BTreeSet<Uuid> = everyone.iter().filter(|a| filter.matches(a, of(a), now)).map(|a| a.id).collect();
            nonempty += usize::from(!expected.is_empty());
            for sort in sorts {
                assert_eq!(selected(store, &filter, sort, now), expected, "{filter:?} sorted {sort:?}");
            }
        }
        assert!(nonempty > 100, "the filters select something often enough to mean something ({nonempty})");
        for filter in &membership_filters {
            let expected: BTreeSet<Uuid> = everyone.iter().filter(|a| filter.matches(a, of(a), now)).map(|a| a.id).collect();
            assert_eq!(selected(store, filter, Sort::default(), now), expected, "{filter:?}");
        }
        let later = membership_filters.last().expect("the later instance");
        assert!(everyone.iter().any(|a| later.matches(a, of(a), now)), "a grant covers the instance created after it");
        for status in Status::PRECEDENCE {
            let expected: BTreeSet<Uuid> = everyone.iter().filter(|a| a.status(now) == status).map(|a| a.id).collect();
            assert!(!expected.is_empty(), "some account is {status:?}");
            assert_eq!(selected(store, &Filter::Status(status), Sort::default(), now), expected, "{status:?}");
        }
    }
}

/// Every page of `filter` in username order (both ways), `limit` at a time: the ids, in order.
fn paged(
    store: &(dyn Store + 'static),
    filter: &Filter,
    descending: bool,
    now: DateTime<Utc>,
) -> Vec<Uuid> {
    let sort = Sort {
        field: SortField::Username,
        descending,
    };
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let query = UserQuery {
            filter: filter.clone(),
            sort,
            after: after.clone(),
            limit: 37,
        };
        let mut page = store
            .read(|tx| tx.list_accounts(&query, now))
            .expect("list");
        let more = page.len() > 37;
        page.truncate(37);
        out.extend(page.iter().map(|a| a.id));
        match (more, page.last()) {
            (true, Some(last)) => {
                after = Some(domain::paging::Position {
                    key: last.username.key(),
                    id: last.id,
                })
            }
            _ => return out,
        }
    }
}

both! {
    async fn a_search_with_a_membership_selects_the_same_whichever_is_walked_and_memberships_end_every_way(app: TestApp) {
        app.admin().await;
        let database = store(app);
        let store: &(dyn Store + 'static) = &database;
        let now = domain::now();
        // 700 accounts named an…: more search rows for `an` than a list walks before it walks
        // the membership instead (`FEW_PREFIX_ROWS`); `zo` has a few.
        let accounts: Vec<Account> = (0..700)
            .map(|i| {
                let name = if i % 100 == 0 { format!("zoe{i:03}") } else { format!("ana{i:03}") };
                let mut a = Account::sample(&name);
                a.username = Username::from_trusted(name.clone());
                a.email = Email::from_trusted(format!("{name}@example.org"));
                a.last_name = PersonName::from_trusted("Berg".into());
                a.first_name = PersonName::from_trusted("Test".into());
                a
            })
            .collect();
        store.write(|tx| tx.insert_accounts(&accounts)).expect("insert");
        let mut rng = Rng(0x0a11_0f17);
        let (mut world, memberships) = spread(store, &mut rng, &accounts, now);
        let check = |world: &World, everyone: &[Account]| {
            let belongs = world.memberships();
            let none = Memberships::default();
            for membership in &memberships {
                for q in ["an", "zo", "a", "ana0"] {
                    let filter = Filter::Search(q.into()).and(membership.clone());
                    let expected: Vec<Uuid> = {
                        let mut m: Vec<&Account> = everyone.iter().filter(|a| filter.matches(a, belongs.get(&a.id).unwrap_or(&none), now)).collect();
                        m.sort_by_key(|a| a.username.key());
                        m.iter().map(|a| a.id).collect()
                    };
                    assert_eq!(paged(store, &filter, false, now), expected, "{filter:?}");
                    let mut backwards = expected.clone();
                    backwards.reverse();
                    assert_eq!(paged(store, &filter, true, now), backwards, "{filter:?} descending");
                }
            }
        };
        check(&world, &accounts);

        // Memberships end every way they can, and the lists follow: an account deleted, members
        // removed, assignments removed, a grant removed (its instances no longer covered), an
        // instance deleted.
        let mut everyone = accounts.clone();
        let deleted = everyone.remove(everyone.iter().position(|a| world.assignments.iter().any(|s| s.user_id == a.id)).expect("assigned"));
        store.write(|tx| tx.delete_account(&deleted)).expect("delete");
        world.assignments.retain(|s| s.user_id != deleted.id);
        world.grants.retain(|g| g.user_id != deleted.id);
        world.members.retain(|(_, u)| *u != deleted.id);
        let (group, _) = world.members[0];
        let leaving: Vec<Uuid> = world.members.iter().filter(|(g, _)| *g == group).map(|(_, u)| *u).step_by(2).collect();
        store.write(|tx| tx.remove_members(group, &leaving)).expect("remove members");
        world.members.retain(|(g, u)| *g != group || !leaving.contains(u));
        let instance = world.assignments[0].instance_id;
        let unassigned: Vec<Uuid> = world.assignments.iter().filter(|s| s.instance_id == instance).map(|s| s.user_id).step_by(2).collect();
        store.write(|tx| tx.delete_assignments(instance, &unassigned)).expect("unassign");
        world.assignments.retain(|s| s.instance_id != instance || !unassigned.contains(&s.user_id));
        let grant = world.grants.remove(0);
        store.write(|tx| tx.delete_all_instance_grants(grant.application_id, &[grant.user_id])).expect("ungrant");
        let last = world.instances.pop().expect("the later instance");
        store.write(|tx| tx.delete_instance(last.application_id, last.id).map(|_| ())).expect("delete instance");
        world.assignments.retain(|s| s.instance_id != last.id);
        check(&world, &everyone);
    }
}
