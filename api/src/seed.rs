//! `roster seed`: creates many plausible accounts through the same domain service as bulk
//! creation (validation, one transaction per batch, an audit event per account), for benchmarks
//! and demos. Deterministic: the same `--start` gives the same accounts.

use domain::{audit::Actor, audit::Origin, services::NewAccount};

use crate::{
    app::{Core, Reach},
    Config,
};

const FIRST: [&str; 32] = [
    "ana", "bruno", "carla", "daniel", "elena", "felix", "greta", "hugo", "ines", "jonas", "karin",
    "luca", "maria", "nils", "olga", "pablo", "quinn", "rosa", "sven", "tara", "ugo", "vera",
    "wilma", "xavier", "yara", "zeno", "amir", "bea", "chen", "dara", "emre", "fumiko",
];
const LAST: [&str; 32] = [
    "lima", "schmidt", "rossi", "garcia", "novak", "kowalski", "dubois", "jensen", "silva",
    "nakamura", "okafor", "murphy", "fischer", "moreau", "costa", "berg", "horvat", "ivanova",
    "kim", "larsen", "mendes", "nguyen", "ortiz", "petrov", "quist", "ramos", "sato", "toth",
    "urban", "vogel", "weber", "young",
];

fn title(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The `i`-th seeded account.
pub fn account(i: u64) -> NewAccount {
    let first = FIRST[(i % 32) as usize];
    let last = LAST[((i / 32) % 32) as usize];
    let username = format!("{first}.{last}{i}");
    NewAccount {
        email: format!("{username}@example.org"),
        username: Some(username),
        first_name: title(first),
        last_name: title(last),
        location: Some(["Porto", "Lyon", "Graz", "Oslo"][(i % 4) as usize].into()),
        ..NewAccount::default()
    }
}

pub fn run(config: &Config, count: u64, start: u64, batch: u64) -> Result<(), String> {
    let core = Core::open(config, 1, Reach::Now)?;
    let origin = Origin {
        address: None,
        user_agent: Some("roster seed".into()),
    };
    let started = std::time::Instant::now();
    actix_web::rt::System::new().block_on(async {
        let mut done = 0;
        while done < count {
            let n = batch.min(count - done);
            let inputs = (start + done..start + done + n).map(account).collect();
            core.services
                .bulk_create_accounts(Actor::system(), inputs, "seed", origin.clone())
                .await
                .map_err(|e| format!("batch at {}: {e}", start + done))?;
            done += n;
            if done % 100_000 == 0 || done == count {
                let rate = done as f64 / started.elapsed().as_secs_f64();
                tracing::info!(created = done, per_second = rate as u64, "seeding");
            }
        }
        Ok::<(), String>(())
    })?;
    println!(
        "seeded {count} accounts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
