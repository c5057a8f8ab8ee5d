//! `GET /metrics`: what an operator's Prometheus scrapes. Counters and latency histograms live in
//! the process (each replica counts its own, as Prometheus expects); the gauges of the database's
//! state (seats, the outbox's backlog, audit events waiting for their link) are read at each
//! scrape, and those of the thread queues and the connection pool are taken then.
//!
//! Every series is named `roster_…`. Labels have few values: a request's route is its template
//! (`/api/v1/users/{id}`, never the id), and a path no route matches is `unmatched`.

use std::{
    collections::{BTreeMap, HashMap},
    hash::BuildHasherDefault,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, PoisonError,
    },
};

use actix_web::{
    get,
    http::{Method, StatusCode},
    web, HttpRequest, HttpResponse,
};
use domain::{
    outbox::MessageState,
    services::Gauges,
    telemetry::{SignInStep, Telemetry},
};
use prometheus::{
    core::{Collector, Desc},
    proto::{Bucket, Counter, Histogram, LabelPair, Metric, MetricFamily, MetricType},
    Encoder as _, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::{
    app::AppState,
    auth::{Authorized, ReadMetrics},
    error::ApiResult,
};

/// The latency buckets, in seconds: Roster answers most requests in well under a millisecond, a
/// sign-in in tens (its password hash), an import in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's series, registered once at start-up.
pub struct Metrics {
    registry: Registry,
    requests: Arc<Requests>,
    sign_ins: IntCounterVec,
    lockouts: IntCounter,
    deliveries: IntCounterVec,
    outbox_messages: IntGaugeVec,
    audit_unlinked: IntGauge,
    seats_used: IntGaugeVec,
    seats_limit: IntGaugeVec,
    queue_waiting: IntGaugeVec,
    queue_running: IntGaugeVec,
    queue_capacity: IntGaugeVec,
    queue_threads: IntGaugeVec,
    connections: IntGaugeVec,
    connections_max: IntGauge,
}

/// How an outbox message's attempt ended, for `roster_outbox_deliveries_total`.
#[derive(Debug, Clone, Copy)]
pub enum Delivered {
    Sent,
    /// The attempt failed; the message is retried or, after its last attempt, `failed`.
    Failed,
    /// No mail server is configured: written to the log instead.
    Logged,
}

impl Metrics {
    /// The series, with `backend` (`sqlite` or `postgres`) in `roster_build_info`.
    pub fn new(backend: &str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let single = |name: &str, help: &str| {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let requests = Arc::new(Requests::new()?);
        registry.register(Box::new(Shared(Arc::clone(&requests))))?;
        let lockouts = IntCounter::new(
            "roster_lockouts_total",
            "Accounts locked by consecutive failed sign-ins (SPEC §4).",
        )?;
        registry.register(Box::new(lockouts.clone()))?;
        let info = gauge(
            "roster_build_info",
            "1, labelled with Roster's version and database backend.",
            &["version", "backend"],
        )?;
        info.with_label_values(&[env!("CARGO_PKG_VERSION"), backend])
            .set(1);
        let metrics = Self {
            requests,
            sign_ins: counter(
                "roster_sign_ins_total",
                "Sign-in steps by outcome: succeeded, challenged, error, or the reason refused.",
                &["step", "outcome"],
            )?,
            lockouts,
            deliveries: counter(
                "roster_outbox_deliveries_total",
                "Attempts at delivering an outbox message: sent, failed (retried later, or given up after the last attempt), logged (no mail server).",
                &["result"],
            )?,
            outbox_messages: gauge(
                "roster_outbox_messages",
                "Outbox messages by state; pending and sending are the backlog.",
                &["state"],
            )?,
            audit_unlinked: single(
                "roster_audit_unlinked_events",
                "Audit events committed and not yet linked to the hash chain.",
            )?,
            seats_used: gauge(
                "roster_seats_used",
                "Seats taken, by limit: active_users, role:<name>, guest_seats.",
                &["seat"],
            )?,
            seats_limit: gauge(
                "roster_seats_limit",
                "Each seat's limit; absent for an unlimited one.",
                &["seat"],
            )?,
            queue_waiting: gauge(
                "roster_queue_waiting_jobs",
                "Jobs waiting for a thread, by queue (database, hashing).",
                &["queue"],
            )?,
            queue_running: gauge(
                "roster_queue_running_jobs",
                "Jobs running, by queue.",
                &["queue"],
            )?,
            queue_capacity: gauge(
                "roster_queue_capacity_jobs",
                "The most jobs a queue holds; past it requests are refused (503 or 429).",
                &["queue"],
            )?,
            queue_threads: gauge(
                "roster_queue_threads",
                "Threads serving each queue.",
                &["queue"],
            )?,
            connections: gauge(
                "roster_database_connections",
                "The database pool's connections: open, and of them idle.",
                &["state"],
            )?,
            connections_max: single(
                "roster_database_connections_max",
                "The most connections the pool opens.",
            )?,
            registry,
        };
        for step in SignInStep::ALL {
            metrics
                .sign_ins
                .with_label_values(&[step.as_str(), "succeeded"]);
        }
        for result in ["sent", "failed", "logged"] {
            metrics.deliveries.with_label_values(&[result]);
        }
        Ok(metrics)
    }

    /// Counts one answered request. `route`: the matched template, or `None` when no route
    /// matched.
    pub fn observe_request(&self, request: &HttpRequest, status: StatusCode, secs: f64) {
        self.requests.observe(
            request,
            method_label(request.method()),
            status.as_u16(),
            secs,
        );
    }

    /// Counts `count` attempts that ended `how`.
    pub fn delivered(&self, how: Delivered, count: usize) {
        let result = match how {
            Delivered::Sent => "sent",
            Delivered::Failed => "failed",
            Delivered::Logged => "logged",
        };
        self.deliveries
            .with_label_values(&[result])
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    /// The text exposition of every series, the gauges set from `gauges` and the process now.
    fn render(&self, gauges: &Gauges, state: &AppState) -> Result<Vec<u8>, prometheus::Error> {
        for kind in MessageState::ALL {
            let n = gauges
                .outbox
                .iter()
                .find(|(s, _)| *s == kind)
                .map_or(0, |(_, n)| *n);
            self.outbox_messages
                .with_label_values(&[kind.as_str()])
                .set(n);
        }
        self.audit_unlinked
            .set(i64::try_from(gauges.audit_unlinked).unwrap_or(i64::MAX));
        for seat in &gauges.seats {
            self.seats_used
                .with_label_values(&[seat.key.as_str()])
                .set(seat.used);
            match seat.limit {
                Some(limit) => self
                    .seats_limit
                    .with_label_values(&[seat.key.as_str()])
                    .set(limit),
                // A limit lifted since the last scrape (a restart with another catalog).
                None => {
                    let _ = self.seats_limit.remove_label_values(&[seat.key.as_str()]);
                }
            }
        }
        let threads = state.threads.usage();
        for (queue, usage) in [("database", threads.database), ("hashing", threads.hashing)] {
            let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            self.queue_waiting
                .with_label_values(&[queue])
                .set(count(usage.waiting));
            self.queue_running
                .with_label_values(&[queue])
                .set(count(usage.running));
            self.queue_capacity
                .with_label_values(&[queue])
                .set(count(usage.capacity));
            self.queue_threads
                .with_label_values(&[queue])
                .set(count(usage.threads));
        }
        let pool = state.database.pool_use();
        self.connections
            .with_label_values(&["open"])
            .set(i64::from(pool.connections));
        self.connections
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle));
        self.connections_max.set(i64::from(pool.max));
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}

impl Telemetry for Metrics {
    fn sign_in(&self, step: SignInStep, outcome: &'static str) {
        self.sign_ins
            .with_label_values(&[step.as_str(), outcome])
            .inc();
    }

    fn locked_out(&self) {
        self.lockouts.inc();
    }
}

/// `roster_http_requests_total` and `roster_http_request_duration_seconds`, counted without
/// atomics shared between threads: each thread counts into one of [`SHARDS`] tallies, under a lock
/// that only a scrape contends for, and a scrape sums them. A route is found by the address of its
/// handler's name in the server's resource map (no string built or hashed per request); its
/// template is built once, when a tally first sees it. With the `prometheus` crate's shared vectors
/// (a lock and a hash per label lookup, then atomics every worker writes) and a template built per
/// request, the bookkeeping cost `ceiling` (`/healthz`) 9–12 % of its throughput on two cores
/// (`bench/ab`).
struct Requests {
    shards: Vec<Mutex<Tallies>>,
    total: Desc,
    latency: Desc,
}

const SHARDS: usize = 16;

/// A thread's requests: by route, then by method and status.
#[derive(Default)]
struct Tallies {
    /// Named routes (every handler of the API), by the address of the name.
    named: HashMap<usize, Route, BuildHasherDefault<AddressHasher>>,
    /// Unnamed routes (Swagger UI, the document) and `unmatched`, by template.
    unnamed: HashMap<String, Route>,
}

#[derive(Default)]
struct Route {
    template: String,
    tallies: Vec<Tally>,
}

/// Hashes an address: spread by a multiplication (aligned addresses end in zeros).
#[derive(Default)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

fn template_of(request: &HttpRequest) -> String {
    request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned())
}

#[derive(Clone)]
struct Tally {
    method: &'static str,
    status: u16,
    count: u64,
    /// Observations per bucket of [`LATENCY_BUCKETS`] (not cumulative), the last past them all.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
}

impl Requests {
    fn new() -> Result<Self, prometheus::Error> {
        Ok(Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            total: Desc::new(
                "roster_http_requests_total".into(),
                "Requests answered, by method, route template and status.".into(),
                vec!["method".into(), "route".into(), "status".into()],
                HashMap::new(),
            )?,
            latency: Desc::new(
                "roster_http_request_duration_seconds".into(),
                "Time from a request's arrival to its response's head, by method and route template.".into(),
                vec!["method".into(), "route".into()],
                HashMap::new(),
            )?,
        })
    }

    fn observe(&self, request: &HttpRequest, method: &'static str, status: u16, secs: f64) {
        thread_local! {
            static SHARD: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
            };
        }
        let shard = SHARD.with(|s| *s);
        let mut tallies = self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let tallies = &mut *tallies;
        let route = match request.match_name() {
            Some(name) => tallies
                .named
                .entry(name.as_ptr() as usize)
                .or_insert_with(|| Route {
                    template: template_of(request),
                    tallies: Vec::new(),
                }),
            None => {
                let template = template_of(request);
                tallies
                    .unnamed
                    .entry(template.clone())
                    .or_insert_with(|| Route {
                        template,
                        tallies: Vec::new(),
                    })
            }
        };
        let kept = &mut route.tallies;
        let tally = match kept
            .iter()
            .position(|t| t.method == method && t.status == status)
        {
            Some(i) => &mut kept[i],
            None => {
                kept.push(Tally {
                    method,
                    status,
                    count: 0,
                    buckets: [0; LATENCY_BUCKETS.len() + 1],
                    sum: 0.0,
                });
                let last = kept.len() - 1;
                &mut kept[last]
            }
        };
        tally.count += 1;
        tally.sum += secs;
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        tally.buckets[bucket] += 1;
    }

    /// Every shard's tallies, summed: by (route, method, status).
    fn summed(&self) -> BTreeMap<(String, &'static str, u16), Tally> {
        let mut all: BTreeMap<(String, &'static str, u16), Tally> = BTreeMap::new();
        for shard in &self.shards {
            let tallies = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for route in tallies.named.values().chain(tallies.unnamed.values()) {
                for tally in &route.tallies {
                    let key = (route.template.clone(), tally.method, tally.status);
                    match all.get_mut(&key) {
                        Some(sum) => sum.add(tally),
                        None => {
                            all.insert(key, tally.clone());
                        }
                    }
                }
            }
        }
        all
    }
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.count += other.count;
        self.sum += other.sum;
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name((*name).to_owned());
            pair.set_value((*value).to_owned());
            pair
        })
        .collect()
}

/// The registry's handle on the tallies the middleware counts into.
struct Shared(Arc<Requests>);

impl Collector for Shared {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.total, &self.0.latency]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.0.collect()
    }
}

impl Requests {
    fn collect(&self) -> Vec<MetricFamily> {
        let summed = self.summed();
        let mut total = MetricFamily::default();
        total.set_name(self.total.fq_name.clone());
        total.set_help(self.total.help.clone());
        total.set_field_type(MetricType::COUNTER);
        // The histogram is by method and route: the statuses' tallies summed.
        let mut by_route: BTreeMap<(&str, &str), Tally> = BTreeMap::new();
        for ((route, method, status), tally) in &summed {
            let mut counter = Counter::default();
            counter.set_value(tally.count as f64);
            let status = status.to_string();
            let mut metric = Metric::from_label(labels(&[
                ("method", method),
                ("route", route),
                ("status", &status),
            ]));
            metric.set_counter(counter);
            total.mut_metric().push(metric);
            match by_route.get_mut(&(route.as_str(), *method)) {
                Some(sum) => sum.add(tally),
                None => {
                    by_route.insert((route.as_str(), *method), tally.clone());
                }
            }
        }
        let mut latency = MetricFamily::default();
        latency.set_name(self.latency.fq_name.clone());
        latency.set_help(self.latency.help.clone());
        latency.set_field_type(MetricType::HISTOGRAM);
        for ((route, method), tally) in by_route {
            let mut cumulative = 0;
            let buckets = LATENCY_BUCKETS
                .iter()
                .zip(tally.buckets)
                .map(|(bound, n)| {
                    cumulative += n;
                    let mut bucket = Bucket::default();
                    bucket.set_upper_bound(*bound);
                    bucket.set_cumulative_count(cumulative);
                    bucket
                })
                .collect();
            let mut histogram = Histogram::default();
            histogram.set_sample_count(tally.count);
            histogram.set_sample_sum(tally.sum);
            histogram.set_bucket(buckets);
            let mut metric = Metric::from_label(labels(&[("method", method), ("route", route)]));
            metric.set_histogram(histogram);
            latency.mut_metric().push(metric);
        }
        vec![total, latency]
    }
}

/// A method as a label: the ones Roster serves, else `other` (a client may send any token).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Metrics
///
/// **Permission:** `metrics:read` (admins hold it; give a monitoring role only this one, and its
/// account an API token for Prometheus's `authorization`). Prometheus's text format (0.0.4):
/// requests by method, route template and status with latency histograms
/// (`roster_http_requests_total`, `roster_http_request_duration_seconds`), sign-in outcomes
/// (`roster_sign_ins_total`), lockouts (`roster_lockouts_total`), the outbox's backlog and
/// deliveries (`roster_outbox_messages`, `roster_outbox_deliveries_total`), audit events waiting
/// for their link, the thread queues' depths, the connection pool's use, and seats used per
/// limit (`roster_seats_used`, `roster_seats_limit`). Counters count since this process started.
#[utoipa::path(
    tag = "health", operation_id = "get_metrics", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every series, in Prometheus's text format.", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String,
            example = "# HELP roster_lockouts_total Accounts locked by consecutive failed sign-ins (SPEC §4).\n# TYPE roster_lockouts_total counter\nroster_lockouts_total 0\n"),
        (status = 401, description = "`unauthenticated`."),
        (status = 403, description = "`forbidden`: needs `metrics:read`. `mfa_enrollment_required`: an admin yet to enrol a second factor (`mfa.required_for_admins`)."),
        (status = 503, description = "`database_unavailable`, `overloaded`."),
    )
)]
#[get("/metrics")]
pub async fn scrape(
    state: web::Data<AppState>,
    auth: Authorized<ReadMetrics>,
) -> ApiResult<HttpResponse> {
    let gauges = state.services.gauges(auth.credential()).await?;
    let body = state
        .metrics
        .render(&gauges, &state)
        .map_err(|e| domain::Error::Internal(format!("rendering the metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(body))
}
