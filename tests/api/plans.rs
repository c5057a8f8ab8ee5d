//! PostgreSQL specifics. The lookups every request makes can use indexes. With sequential scans
//! disabled, a scan without an index condition (a `Seq Scan`, or a whole index walked with the
//! condition as a mere filter) means no index fits — for example, a join between columns of
//! different collations: at a million accounts that is seconds per request.

use diesel::{Connection, QueryableByName, RunQueryDsl};

use crate::helpers::{Db, TestApp};

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

const LOOKUPS: [(&str, &str); 13] = [
    ("account by id", "SELECT users.* FROM users WHERE users.id = $1"),
    (
        "API token with owner and roles",
        "SELECT api_tokens.*, users.* FROM api_tokens INNER JOIN users ON api_tokens.user_id = users.id WHERE api_tokens.token_hash = $1",
    ),
    (
        "login",
        "SELECT users.* FROM users WHERE users.username_key = $1 OR users.email_key = $1 ORDER BY users.username_key <> $1, users.id LIMIT 1",
    ),
    ("active admins", "SELECT count(*) FROM users INNER JOIN user_roles ON user_roles.user_id = users.id WHERE user_roles.role = 'admin' AND users.active"),
    (
        "accounts by a short prefix, username order",
        "SELECT users.* FROM user_prefixes INNER JOIN users ON users.username_key = user_prefixes.username_key \
         WHERE user_prefixes.prefix = $1 AND user_prefixes.username_key > $1 ORDER BY user_prefixes.username_key LIMIT 51",
    ),
    ("authored changes", "SELECT EXISTS (SELECT 1 FROM audit_events WHERE actor_id = $1 AND action NOT LIKE 'auth.%')"),
    (
        "a page of accounts in username order",
        "SELECT users.* FROM users WHERE users.username_key > $1 ORDER BY users.username_key LIMIT 51",
    ),
    (
        "a group's (an application's, an instance's) accounts, username order",
        "SELECT users.* FROM user_memberships INNER JOIN users ON users.username_key = user_memberships.username_key \
         WHERE user_memberships.member_of = $1 AND user_memberships.username_key > $1 ORDER BY user_memberships.username_key LIMIT 51",
    ),
    (
        "accounts by a short prefix in a group, username order",
        "SELECT users.* FROM user_prefixes INNER JOIN user_memberships ON user_memberships.username_key = user_prefixes.username_key \
         AND user_memberships.member_of = $1 INNER JOIN users ON users.username_key = user_prefixes.username_key \
         WHERE user_prefixes.prefix = $1 ORDER BY user_prefixes.username_key LIMIT 51",
    ),
    ("audit events of an actor, newest first", "SELECT * FROM audit_events WHERE actor_id = $1 ORDER BY id DESC LIMIT 51"),
    ("audit events about a target, newest first", "SELECT * FROM audit_events WHERE target_id = $1 AND id < $1 ORDER BY id DESC LIMIT 51"),
    ("audit events of an action, newest first", "SELECT * FROM audit_events WHERE action = $1 ORDER BY id DESC LIMIT 51"),
    (
        "audit events in a time window, newest first",
        "SELECT * FROM audit_events WHERE id >= $1 AND id < $1 AND at >= now()::timestamp AND at < now()::timestamp ORDER BY id DESC LIMIT 51",
    ),
];

/// Lookups whose order an index supplies: a `Sort` node (even an incremental one) in their plan
/// costs every page a sort of its rows.
const ORDERED_BY_AN_INDEX: [&str; 8] = [
    "audit events of an actor, newest first",
    "audit events about a target, newest first",
    "audit events of an action, newest first",
    "audit events in a time window, newest first",
    "accounts by a short prefix, username order",
    "a page of accounts in username order",
    "a group's (an application's, an instance's) accounts, username order",
    "accounts by a short prefix in a group, username order",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(roster_postgres),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
async fn postgres_lookups_use_indexes() {
    let app = TestApp::spawn(Db::Postgres).await;
    assert_eq!(app.db, Db::Postgres);
    let url = app.config.database_url.clone().expect("a PostgreSQL URL");
    let mut conn = diesel::PgConnection::establish(&url).expect("connect");
    // With sorting disabled too, a `Sort` node left in a plan means no index can supply the order
    // (on the test's near-empty tables the planner would otherwise sort a few rows by choice).
    for setting in ["enable_seqscan", "enable_sort", "enable_incremental_sort"] {
        diesel::sql_query(format!("SET {setting} = off"))
            .execute(&mut conn)
            .expect("set");
    }
    // Roster binds parameters; a generic plan is what a bound `$1` gets, literals would not do.
    diesel::sql_query("SET plan_cache_mode = force_generic_plan")
        .execute(&mut conn)
        .expect("set");
    for (i, (what, sql)) in LOOKUPS.iter().enumerate() {
        let params = sql.matches("$1").count().min(1);
        let prepare = format!(
            "PREPARE lookup{i}{} AS {sql}",
            if params == 1 { "(text)" } else { "" }
        );
        diesel::sql_query(prepare)
            .execute(&mut conn)
            .expect("prepare");
        let execute = format!(
            "EXPLAIN EXECUTE lookup{i}{}",
            if params == 1 { "('x')" } else { "" }
        );
        let plan: Vec<PlanLine> = diesel::sql_query(execute).load(&mut conn).expect("explain");
        let text: Vec<String> = plan.into_iter().map(|p| p.line).collect();
        assert!(
            every_scan_is_bounded(&text),
            "{what} has no usable index:\n{}",
            text.join("\n")
        );
        assert!(
            !ORDERED_BY_AN_INDEX.contains(what) || !text.iter().any(|l| l.contains("Sort")),
            "{what} sorts:\n{}",
            text.join("\n")
        );
    }
}

/// Every scan node of the plan has an index condition (`Index Cond`, or `Recheck Cond` on a
/// bitmap heap scan).
fn every_scan_is_bounded(plan: &[String]) -> bool {
    let mut nodes: Vec<Vec<&str>> = Vec::new();
    for line in plan {
        if nodes.is_empty() || line.trim_start().starts_with("->") {
            nodes.push(Vec::new());
        }
        if let Some(node) = nodes.last_mut() {
            node.push(line);
        }
    }
    nodes.iter().filter(|n| n[0].contains(" Scan")).all(|n| {
        n.iter()
            .any(|l| l.contains("Index Cond:") || l.contains("Recheck Cond:"))
    })
}

/// Connections that sat idle are checked before use: after PostgreSQL drops every connection of
/// Roster's (as a restart does), the next request after a pause is served, not answered 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(roster_postgres),
    ignore = "needs PostgreSQL: run under scripts/with-postgres"
)]
async fn postgres_connections_dropped_while_idle_are_replaced() {
    let app = TestApp::spawn(Db::Postgres).await;
    let (admin, _) = app.admin().await;
    app.get("/api/v1/users", &admin).await.ok(200);
    let url = app.config.database_url.clone().expect("a PostgreSQL URL");
    let mut conn = diesel::PgConnection::establish(&url).expect("connect");
    let dropped: Vec<PlanLine> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid)::text AS \"QUERY PLAN\" FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .load(&mut conn)
    .expect("terminate");
    assert!(!dropped.is_empty(), "Roster held connections");
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    for _ in 0..3 {
        app.get("/api/v1/users", &admin).await.ok(200);
    }
}
