//! Timing tests, in a test binary of their own: cargo runs test binaries one after another, so no
//! other end-to-end test loads the machine while these measure (in the `api` binary, dozens of
//! tests hash passwords in parallel on the same two cores).

#[macro_use]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/database.rs"]
mod database;

use std::{
    future::Future,
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::sync::Mutex;

/// Held by each half of a timing test while it measures.
static QUIET: Mutex<()> = Mutex::const_new(());

/// Times `run(a, i)` and `run(b, i)` in 40 interleaved pairs, each first in turn so both see the
/// same machine, and asserts that their medians differ by less than the smaller spread of the
/// middle half (interquartile range), or by less than `floor`. 40 pairs: with 20, the medians' own
/// noise now and then passed the smaller spread on a quiet machine (643 µs against 637 µs) with no
/// difference between the two paths.
async fn assert_alike<F, Fut>(a: &str, b: &str, floor: Duration, run: F)
where
    F: Fn(String, usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut times = [Vec::new(), Vec::new()];
    for i in 0..40 {
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let start = Instant::now();
            run([a, b][side].to_owned(), i).await;
            times[side].push(start.elapsed());
        }
    }
    let [(a_median, a_spread), (b_median, b_spread)] = times.map(|mut t| {
        t.sort();
        (t[20], t[30] - t[10])
    });
    let difference = a_median.abs_diff(b_median);
    println!("median {a} {a_median:?} (spread {a_spread:?}), {b} {b_median:?} (spread {b_spread:?}), difference {difference:?}");
    assert!(
        difference < a_spread.min(b_spread).max(floor),
        "medians differ by {difference:?}; spreads {a_spread:?} and {b_spread:?}"
    );
}

both! {
    async fn an_unknown_login_takes_as_long_as_a_wrong_password(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.patch("/api/v1/settings", &admin, json!({"lockout": {"threshold": 100}}))
            .await
            .ok(200);
        // One half at a time: the other database's half must not load the machine meanwhile.
        let _alone = QUIET.lock().await;
        assert_alike("nobody.here", "admin", Duration::ZERO, |login, i| async move {
            app.login(&login, &format!("wrong password {i}")).await.problem(401, "invalid_credentials");
        })
        .await;
    }

    async fn asking_for_a_reset_link_takes_as_long_for_an_unknown_login(app: TestApp) {
        // A mail server configured (that nobody answers at): a known account's link is queued.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let app = crate::helpers::TestApp::spawn_with(app.db, |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{closed}"))).await;
        let (admin, _) = app.admin().await;
        let _alone = QUIET.lock().await;
        // The answer comes before any work: alike within a spread, or 2 ms at most (a
        // sub-millisecond spread on a quiet machine is narrower than scheduling noise).
        let app = &app;
        assert_alike("nobody.here@example.org", "admin@example.org", Duration::from_millis(2), |login, _| async move {
            app.call(reqwest::Method::POST, "/api/v1/auth/password/forgot", None, Some(json!({"login": login})), &[]).await.ok(202);
        })
        .await;
        // And the work was done: 40 links queued for the known account, none for the other.
        let mut queued = 0;
        for _ in 0..100 {
            queued = app.get("/api/v1/outbox?limit=200", &admin).await.body["items"].as_array().map_or(0, Vec::len);
            if queued >= 40 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(queued, 40);
    }
}
