//! Building the application: state, routes, extractor error handlers, middleware, and the
//! server. Used by `main` and by the end-to-end tests alike.

use std::{net::TcpListener, sync::Arc};

use actix_web::{
    dev::Server,
    error::{JsonPayloadError, PathError, QueryPayloadError},
    middleware::{from_fn, Condition, ErrorHandlers},
    web, App, HttpRequest, HttpServer,
};
use domain::{
    mfa::MfaKey, one_time::TokenKey, roles::RoleCatalog, seal::SealKey, services::Services,
};
use persistence::{Backend, BringUpError, Database, DatabaseConfig, DatabaseUrl};
use utoipa::OpenApi as _;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    auth::{fingerprint, TokenKeys},
    blocking::Pool,
    client::{RateLimiter, TrustedProxies},
    config::Config,
    error::{ApiError, ErrorCode},
    fallback, idempotency,
    links::Links,
    metrics::Metrics,
    middleware, openapi, outbox, passwords, routes,
    runtime::Threads,
};

/// The services over a database, their threads, and what signs tokens: what `serve` and the admin
/// subcommands share.
pub struct Core {
    pub services: Services,
    pub database: Database,
    pub threads: Arc<Threads>,
    pub secret: String,
    pub backend: Backend,
}

impl Core {
    /// The stored form of the secret key's fingerprint (SPEC §12).
    fn fingerprint(&self) -> String {
        fingerprint(&self.secret)
    }
}

/// Whether [`Core::open`] insists on the database answering at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Serve while it is down: requests answer 503 (and `/readyz` too) until it answers, is
    /// migrated and its key checked, on a background thread.
    Eventually,
    /// Fail unless it answers now (the admin subcommands).
    Now,
}

impl Core {
    /// Opens the database (migrated and its key checked now, or in the background: `reach`), loads
    /// the catalog, starts the database and hashing threads.
    pub fn open(config: &Config, workers: usize, reach: Reach) -> Result<Self, String> {
        let url = DatabaseUrl::parse(&config.database_url())?;
        let backend = url.backend;
        // SQLite: two database threads per worker and a hashing thread per core (see
        // `database_threads`), never waiting for a connection. PostgreSQL: PostgreSQL's own sizing
        // rule, two connections per core plus one, for the common case of the database on the
        // same machine (as in docker-compose.yml). More only time-slice the same cores: on two
        // cores with 5 connections instead of 16, `read` and `list` kept their throughput and
        // their p99 fell from 25–48 ms to 16–24 ms. A dedicated, larger PostgreSQL server wants
        // `ROSTER_DATABASE_POOL_SIZE` raised.
        let cores = cores() as u32;
        let pool_size = config.database_pool_size.unwrap_or(match backend {
            Backend::Sqlite => (3 * cores).max(8),
            Backend::Postgres => 2 * cores + 1,
        });
        let catalog =
            RoleCatalog::new(config.roles.clone()).map_err(|e| format!("role catalog: {e}"))?;
        let database = Database::open(&DatabaseConfig {
            url,
            pool_size,
            timeout: config.database_timeout,
            seat_limits: catalog.seat_limits(),
        })?;
        let secret = config.resolve_secret(backend == Backend::Postgres)?;
        let fingerprint = fingerprint(&secret);
        match database.bring_up(&fingerprint) {
            Ok(applied) if applied.is_empty() => {}
            Ok(applied) => tracing::info!(migrations = ?applied, "applied migrations"),
            Err(BringUpError::Unreachable(why)) if reach == Reach::Eventually => {
                tracing::warn!(%why, "the database does not answer: serving 503 until it does");
            }
            Err(e) => return Err(e.to_string()),
        }
        let hasher = passwords::Argon2Hasher::new()?;
        let threads = Arc::new(Threads::new(
            Pool::new(
                "db",
                database_threads(backend, pool_size, workers),
                config.database_queue,
            )
            .map_err(|e| format!("cannot start database threads: {e}"))?,
            Pool::with_idle(
                "hash",
                cores as usize,
                config.hashing_queue,
                Some(passwords::release_memory),
            )
            .map_err(|e| format!("cannot start hashing threads: {e}"))?,
            config.database_timeout,
        ));
        let services = Services::new(
            Arc::new(database.clone()),
            Arc::new(catalog),
            Arc::new(hasher),
            threads.clone(),
            (
                TokenKey::derive(secret.as_bytes()),
                MfaKey::derive(secret.as_bytes()),
                SealKey::derive(b"roster kept response sealing key v1\0", secret.as_bytes()),
            ),
            config.smtp_url.is_some(),
        );
        Ok(Self {
            services,
            database,
            threads,
            secret,
            backend,
        })
    }
}

/// What every handler can reach.
pub struct AppState {
    pub services: Services,
    pub tokens: TokenKeys,
    /// Links for one-time tokens.
    pub links: Links,
    /// The database and hashing threads, for their queue depths and use.
    pub threads: Arc<Threads>,
    pub database: Database,
    pub proxies: TrustedProxies,
    /// The per-address limit of `/api/v1/auth/*`.
    pub auth_limiter: RateLimiter,
    /// The largest file `POST /api/v1/users/import` takes.
    pub import_max_bytes: usize,
    /// The largest JSON body any other route takes.
    pub max_body_bytes: usize,
    /// The most bytes a request's target and headers may take (`ROSTER_MAX_HEADER_BYTES`).
    pub max_header_bytes: usize,
    /// How long a request's body may take to arrive (`ROSTER_REQUEST_BODY_TIMEOUT_SECS`).
    pub request_body_timeout: std::time::Duration,
    /// What `GET /metrics` shows; requests are counted by `middleware::request_context`.
    pub metrics: Arc<Metrics>,
}

/// A bound, ready-to-run Roster (its database may still be coming up).
pub struct Application {
    pub server: Server,
    pub port: u16,
    pub backend: Backend,
    /// The state the handlers see (its threads' use, its database's readiness).
    pub state: web::Data<AppState>,
    /// Delivers the outbox's email: spawn [`outbox::Worker::run`] beside the server.
    pub outbox: outbox::Worker,
    /// Links new audit events to the hash chain: spawn [`AuditLinker::run`] beside the server.
    pub audit_linker: AuditLinker,
}

/// How often the linker looks for audit events to link: an event stays unlinked about this long
/// after its commit (longer only while a burst of writes is being linked, a thousand events per
/// transaction).
const LINK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Links audit events to the hash chain shortly after they are written (`domain::chain`): a
/// transaction does not link its own, or every write would wait for the chain's head. Every
/// replica may run one; one at a time holds the head.
pub struct AuditLinker {
    services: Services,
}

impl AuditLinker {
    pub async fn run(self) {
        let mut ticker = actix_web::rt::time::interval(LINK_EVERY);
        loop {
            ticker.tick().await;
            if let Err(e) = self.services.link_audit_events(rand::random).await {
                tracing::warn!(error = %e, "linking audit events failed; it runs again shortly");
            }
        }
    }
}

impl Application {
    /// Opens the database (serving 503 while it does not answer), binds the listener.
    pub fn build(config: &Config) -> Result<Self, String> {
        let workers = config.workers.unwrap_or_else(cores).max(1);
        let core = Core::open(config, workers, Reach::Eventually)?;
        let fingerprint = core.fingerprint();
        let Core {
            services,
            database,
            threads,
            secret,
            backend,
        } = core;
        let metrics = Arc::new(
            Metrics::new(match backend {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgres",
            })
            .map_err(|e| format!("cannot register the metrics: {e}"))?,
        );
        let services = services.observed_by(metrics.clone());
        let listener = TcpListener::bind(config.listen_addr()?)
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        // Without ROSTER_PUBLIC_URL, this server's own address, its port as bound.
        let links = Links::new(
            &config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", listener_address(&listener, config))),
            &config.link_template,
        );
        let outbox = outbox::Worker::new(config, services.clone(), links.clone(), metrics.clone())?;
        let audit_linker = AuditLinker {
            services: services.clone(),
        };
        let state = web::Data::new(AppState {
            services,
            tokens: TokenKeys::new(&secret, config.access_token_ttl),
            links,
            threads,
            database,
            proxies: config.trusted_proxies.clone(),
            auth_limiter: RateLimiter::new(config.auth_rate_limit),
            import_max_bytes: config.import_max_bytes,
            max_body_bytes: config.max_body_bytes,
            max_header_bytes: config.max_header_bytes,
            request_body_timeout: config.request_body_timeout,
            metrics,
        });
        let max_body = config.max_body_bytes;
        let document = openapi_document();
        let routes = web::Data::new(fallback::Routes::from_document(&document));
        // The document is served as JSON written once: kept as a value (once for the server and
        // once per worker, as Swagger UI's own route keeps it), its ~100,000 pieces held ~25 MB
        // of an idle server's memory.
        let spec = web::Bytes::from(serde_json::to_vec(&document).map_err(|e| e.to_string())?);
        drop(document);
        let handlers = state.clone();
        let cors_origins = config.cors_origins.clone();
        let mut server = HttpServer::new(move || {
            let cors = cors_origins.middleware();
            let cors_on = cors.is_some();
            let spec = spec.clone();
            // Swagger UI and the document first: the `/api/v1` scope would otherwise answer for
            // the document's path.
            let (app, _) = App::new()
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .config(utoipa_swagger_ui::Config::from("/api/v1/openapi.json")),
                )
                .route(
                    "/api/v1/openapi.json",
                    web::get().to(move || {
                        let spec = spec.clone();
                        async move {
                            actix_web::HttpResponse::Ok()
                                .content_type("application/json")
                                .body(spec)
                        }
                    }),
                )
                .service(web::redirect("/docs", "/docs/"))
                .into_utoipa_app()
                .app_data(handlers.clone())
                .app_data(json_config(max_body))
                .app_data(web::QueryConfig::default().error_handler(query_error))
                .app_data(web::PathConfig::default().error_handler(path_error))
                .configure(routes::configure)
                .split_for_parts();
            app.app_data(routes.clone())
                .default_service(web::to(fallback::no_route))
                .wrap(idempotency::KeyedPosts)
                .wrap(Condition::new(cors_on, cors.unwrap_or_default()))
                .wrap(ErrorHandlers::new().default_handler(middleware::problem_for_bare_errors))
                .wrap(from_fn(middleware::request_context))
        });
        // Signals are Roster's own (`main`): actix's SIGINT stops without waiting for requests.
        server = server
            .workers(workers)
            .disable_signals()
            .shutdown_timeout(config.shutdown_timeout.as_secs())
            .client_request_timeout(config.request_header_timeout);
        let server = server.listen(listener).map_err(|e| e.to_string())?.run();
        if !state.database.is_ready() {
            // Stops serving if the database, once reached, cannot be served (the reason is then
            // `state.database.fatal()`).
            let handle = server.handle();
            state.database.keep_bringing_up(fingerprint, move |_| {
                drop(handle.stop(false));
            });
        }
        Ok(Self {
            server,
            port,
            backend,
            state,
            outbox,
            audit_linker,
        })
    }
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(true)
        .content_type(|mime| {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        })
        .error_handler(|err, _req| json_error(err).into())
}

/// Extractor failures are client mistakes: each gets its own code.
fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body may be at most {limit} bytes"),
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            let mut api = ApiError::new(ErrorCode::ValidationFailed, e.to_string());
            api.errors.push(domain::FieldError::new(
                "body",
                "invalid_body",
                e.to_string(),
            ));
            api
        }
        JsonPayloadError::Deserialize(e) => ApiError::new(ErrorCode::MalformedJson, e.to_string()),
        JsonPayloadError::Payload(e) => crate::limits::unreadable(&e),
        other => ApiError::new(ErrorCode::MalformedJson, other.to_string()),
    }
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::new(ErrorCode::InvalidQuery, err.to_string()).into()
}

fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::new(
        ErrorCode::NotFound,
        "no resource at this path (ids are UUIDs)",
    )
    .into()
}

/// The OpenAPI document as served, without starting anything (`roster openapi`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    openapi::finish(api)
}

/// The cores this process may use (2 when the system cannot tell).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Threads for database work, in one queue shared by the HTTP workers (`blocking::Pool`).
/// SQLite's work is CPU-bound (pages come from memory), so two per worker keep every core busy;
/// more only add thread switches and waits for a connection: at 100,000 accounts on two cores,
/// `read` served ~16,000–19,600/s with two per worker against ~11,800–13,000/s with sixteen, and
/// `list_deep` ~1,700/s against ~1,000–1,500/s. PostgreSQL's work mostly waits on the network:
/// the pool's connections shared evenly among the workers, rounded down, at least one per worker
/// (four threads for the default pool of five on two cores). Never more threads than connections,
/// once there is one per worker, so the queue stays in order instead of threads contending for a
/// connection (where one returned can go straight back to the thread that returned it). At 100,000 accounts with a pool of five, two
/// threads per worker against three gave `read` p99 7.5–7.8 ms against 16 ms and `list_deep` p99
/// 23–27 ms against 28–35 ms (measured when each worker had threads of its own). One per worker
/// (a pool of three) cut `read` p99 to 5.2–5.6 ms but `read` and `list` throughput by 8–15 %, and
/// would cost more with PostgreSQL on another machine (each thread waiting on the network): left
/// to `ROSTER_DATABASE_POOL_SIZE`.
fn database_threads(backend: Backend, pool_size: u32, workers: usize) -> usize {
    workers
        * match backend {
            Backend::Sqlite => 2,
            Backend::Postgres => (pool_size as usize / workers).max(1),
        }
}

/// The address the listener is bound to (its port, when the configuration asked for any: `:0`).
fn listener_address(listener: &TcpListener, config: &Config) -> String {
    listener
        .local_addr()
        .map_or_else(|_| config.listen.clone(), |a| a.to_string())
}
