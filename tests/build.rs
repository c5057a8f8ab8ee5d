//! The PostgreSQL half of every end-to-end test is compiled as `#[ignore]`d — reported as ignored,
//! never as passed — unless this build can run it: `ROSTER_TEST_POSTGRES_URL` is set, or `CI=true`
//! (where a missing PostgreSQL must fail the run, so the tests are built to run and fail).
//!
//! Likewise the email tests, which receive mail on a real SMTP server on loopback
//! (`tests/smtp/sink.py`, Python's `aiosmtpd`): built to run where `python3 -c 'import aiosmtpd'`
//! works, or under `CI=true` (where `.ci/run` installs it, and its absence must fail).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(roster_postgres)");
    println!("cargo::rerun-if-env-changed=ROSTER_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=CI");
    let url = std::env::var("ROSTER_TEST_POSTGRES_URL").unwrap_or_default();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !url.is_empty() || ci {
        println!("cargo::rustc-cfg=roster_postgres");
    }
    println!("cargo::rustc-check-cfg=cfg(roster_smtp)");
    let aiosmtpd = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|out| out.status.success());
    if aiosmtpd || ci {
        println!("cargo::rustc-cfg=roster_smtp");
    }
}
