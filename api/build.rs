//! Only for `tests/import_killed.rs`: its PostgreSQL half is built `#[ignore]`d (reported as
//! ignored, never as passed) unless `ROSTER_TEST_POSTGRES_URL` is set or `CI=true`, as the
//! end-to-end tests' are (`tests/build.rs`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(roster_postgres)");
    println!("cargo::rerun-if-env-changed=ROSTER_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=CI");
    let url = std::env::var("ROSTER_TEST_POSTGRES_URL").unwrap_or_default();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !url.is_empty() || ci {
        println!("cargo::rustc-cfg=roster_postgres");
    }
}
