//! The `roster` binary: `serve` (the default), `migrate`, `seed`, `import`, `hash-time`, `openapi`.

use std::{io::IsTerminal, process::ExitCode};

use api::{config::LogFormat, Application, Config};
use clap::{Parser, Subcommand};
use persistence::{Database, DatabaseConfig, DatabaseUrl};

#[derive(Parser)]
#[command(
    name = "roster",
    version,
    about = "User-account administration over a JSON REST API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create COUNT plausible invited accounts (ana.lima0@example.org, …) through the bulk-create
    /// service: validated, audited, one transaction per batch. For benchmarks and demos.
    Seed {
        /// How many accounts.
        #[arg(long, default_value_t = 1000)]
        users: u64,
        /// Index of the first account (to add more later without collisions).
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Accounts per transaction.
        #[arg(long, default_value_t = 5000)]
        batch: u64,
    },
    /// Import accounts from a CSV file of any size, by the rules of `POST /api/v1/users/import`,
    /// in one transaction: every row it uploads is created, or (a seat limit passed, a failure,
    /// the process stopped) none. Prints a summary and the rows it ignored or rejected.
    Import {
        /// The CSV file (the template's columns: GET /api/v1/users/import/template).
        file: std::path::PathBuf,
        /// Check every row, seat limits included, and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Queue each new account's invitation email (a server with a mail server sends them).
        #[arg(long)]
        send_invitations: bool,
        /// Assign every new account to --instances of this application (its id).
        #[arg(long, requires = "instances")]
        application: Option<uuid::Uuid>,
        /// The application's instance ids, separated by commas.
        #[arg(long, value_delimiter = ',', requires = "application")]
        instances: Vec<uuid::Uuid>,
    },
    /// Time COUNT argon2id password hashes (Roster's parameters) one after another on one thread
    /// and print the median in milliseconds. For benchmarks: the sign-in rate a machine can reach
    /// is about cores ÷ this.
    HashTime {
        #[arg(long, default_value_t = 30)]
        count: u32,
    },
    /// Erase the personal values (username and email snapshots, names, addresses, user agents) of
    /// every audit event naming account ID, for a right-to-erasure request. The hash chain stays
    /// verifiable; the erasure is itself recorded (the account's id, no name).
    ErasePersonalData {
        /// The account's id (it may have been deleted already).
        id: uuid::Uuid,
    },
    /// Print the OpenAPI document (YAML, or JSON with --json).
    Openapi {
        #[arg(long)]
        json: bool,
    },
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only where a person reads the log in a terminal, not in files or collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

/// glibc gives busy threads malloc arenas of their own (up to 8 per core) and keeps what they
/// free; two arenas keep the server's resident memory near what it uses (bench/README.md).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called first thing in main, before any other thread exists; mallopt only adjusts
    // allocator parameters.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    if let Some(Command::Openapi { json }) = cli.command {
        let doc = api::openapi_document();
        let text = if json {
            doc.to_pretty_json().map_err(|e| e.to_string())
        } else {
            doc.to_yaml().map_err(|e| e.to_string())
        };
        return match text {
            Ok(t) => {
                print!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("roster: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("roster: configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&config);
    let result = match cli.command {
        Some(Command::Migrate) => migrate(&config),
        Some(Command::Seed {
            users,
            start,
            batch,
        }) => api::seed::run(&config, users, start, batch.max(1)),
        Some(Command::Import {
            file,
            dry_run,
            send_invitations,
            application,
            instances,
        }) => api::import::run(
            &config,
            &file,
            domain::services::ImportOptions {
                dry_run,
                send_invitations,
                application,
                instances,
                list_uploaded: false,
            },
        ),
        Some(Command::ErasePersonalData { id }) => erase_personal_data(&config, id),
        Some(Command::HashTime { count }) => api::passwords::median_hash_time(count.max(1))
            .map(|t| println!("{:.2}", t.as_secs_f64() * 1000.0)),
        _ => serve(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("roster: {e}");
            ExitCode::FAILURE
        }
    }
}

fn erase_personal_data(config: &Config, id: uuid::Uuid) -> Result<(), String> {
    let core = api::app::Core::open(config, 1, api::app::Reach::Now)?;
    let erased = actix_web::rt::System::new()
        .block_on(core.services.erase_personal_values(id))
        .map_err(|e| e.to_string())?;
    println!("{erased} audit events naming {id} had their personal values erased");
    Ok(())
}

fn migrate(config: &Config) -> Result<(), String> {
    let url = DatabaseUrl::parse(&config.database_url())?;
    let db = Database::open(&DatabaseConfig {
        url,
        pool_size: 1,
        timeout: config.database_timeout,
        seat_limits: Vec::new(),
    })?;
    let applied = db.migrate().map_err(|e| e.to_string())?;
    tracing::info!(count = applied.len(), migrations = ?applied, "migrations applied");
    Ok(())
}

#[actix_web::main]
async fn serve(config: &Config) -> Result<(), String> {
    let app = Application::build(config)?;
    tracing::info!(listen = %config.listen, port = app.port, backend = ?app.backend, docs = "/docs/", "Roster is serving");
    let stopping = api::runtime::Stopping::default();
    let outbox = actix_web::rt::spawn(app.outbox.run(stopping.clone()));
    actix_web::rt::spawn(app.audit_linker.run());
    actix_web::rt::spawn(stop_on_signal(app.server.handle(), config.shutdown_timeout));
    if !config.sweep_interval.is_zero() {
        let services = app.state.services.clone();
        let every = config.sweep_interval;
        actix_web::rt::spawn(async move {
            let mut ticker = actix_web::rt::time::interval(every);
            loop {
                ticker.tick().await;
                if let Err(e) = services.clean_up().await {
                    tracing::warn!(error = %e, "deleting ended sessions failed; it runs again later");
                }
                match services.sweep_audit_trail(rand::random).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(removed = n, "audit events past their retention removed")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the audit retention sweep failed; it runs again later")
                    }
                }
                match services.sweep_dormant().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deactivated = n, "dormant accounts deactivated"),
                    Err(e) => {
                        tracing::warn!(error = %e, "the dormant-account sweep failed; it runs again later")
                    }
                }
            }
        });
    }
    app.server.await.map_err(|e| e.to_string())?;
    // No request is in flight now: let the outbox worker finish the message it is sending.
    stopping.set();
    if actix_web::rt::time::timeout(OUTBOX_GRACE, outbox)
        .await
        .is_err()
    {
        tracing::warn!("the outbox worker did not finish its message in time; another replica, or the next start, sends it once its hold ends");
    }
    tracing::info!("stopped");
    match app.state.database.fatal() {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// How long a stop waits for the outbox worker's message in flight (an SMTP exchange's timeout).
const OUTBOX_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// SIGTERM or SIGINT: stop taking connections, let requests in flight finish (within
/// `ROSTER_SHUTDOWN_TIMEOUT_SECS`), then return from `serve`.
async fn stop_on_signal(server: actix_web::dev::ServerHandle, allowed: std::time::Duration) {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for SIGTERM and SIGINT: stop Roster with SIGKILL");
        return;
    };
    let which = futures_util::future::select(Box::pin(term.recv()), Box::pin(int.recv())).await;
    let name = match which {
        futures_util::future::Either::Left(_) => "SIGTERM",
        futures_util::future::Either::Right(_) => "SIGINT",
    };
    tracing::info!(
        signal = name,
        allowed_secs = allowed.as_secs(),
        "stopping: no new connections; requests in flight finish"
    );
    server.stop(true).await;
}
