//! Timing tests, in a test binary of their own: cargo runs test binaries one after another, so no
//! other end-to-end test loads the machine while these measure (in the `api` binary, dozens of
//! tests hash passwords in parallel on the same two cores).

#[macro_use]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/database.rs"]
mod database;

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;

/// Held by each half of a timing test while it measures.
static QUIET: Mutex<()> = Mutex::const_new(());

both! {
    async fn an_unknown_login_takes_as_long_as_a_wrong_password(app: TestApp) {
        let (admin, _) = app.admin().await;
        app.patch("/api/v1/settings", &admin, json!({"lockout": {"threshold": 100}}))
            .await
            .ok(200);
        // One half at a time: the other database's half must not load the machine meanwhile.
        let _alone = QUIET.lock().await;
        let mut unknown = Vec::new();
        let mut wrong = Vec::new();
        // 40 pairs: with 20, the medians' own noise now and then passed the smaller spread on a
        // quiet machine (643 µs against 637 µs) with no difference between the two paths.
        for i in 0..40 {
            // Interleaved, each first in turn, so both see the same machine.
            let mut pair = [("nobody.here", &mut unknown), ("admin", &mut wrong)];
            if i % 2 == 1 {
                pair.reverse();
            }
            for (login, times) in pair {
                let start = Instant::now();
                app.login(login, &format!("wrong password {i}")).await.problem(401, "invalid_credentials");
                times.push(start.elapsed());
            }
        }
        let stats = |times: &mut Vec<Duration>| {
            times.sort();
            // The median, and the spread of the middle half (interquartile range).
            (times[20], times[30] - times[10])
        };
        let ((unknown_median, unknown_spread), (wrong_median, wrong_spread)) = (stats(&mut unknown), stats(&mut wrong));
        let difference = unknown_median.abs_diff(wrong_median);
        println!("median unknown {unknown_median:?} (spread {unknown_spread:?}), wrong password {wrong_median:?} (spread {wrong_spread:?}), difference {difference:?}");
        assert!(
            difference < unknown_spread.min(wrong_spread),
            "medians differ by {difference:?}; spreads {unknown_spread:?} and {wrong_spread:?}"
        );
    }
}
