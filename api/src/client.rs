//! Who is at the other end: the client address (the socket peer, or what trusted proxies say),
//! and the per-address limit on sign-in requests (SPEC §4).
//!
//! The limiter is a first line of defence kept in each process's memory (SPEC §12 allows it):
//! a token bucket per address, `ROSTER_AUTH_RATE_LIMIT` requests a minute refilled evenly, with as
//! much burst. Lockout, which lives in the database, is the rule that holds across replicas.

use std::{
    collections::HashMap,
    future::{ready, Ready},
    net::IpAddr,
    sync::Mutex,
    time::Instant,
};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use ipnet::IpNet;

use crate::{
    app::AppState,
    error::{ApiError, ErrorCode},
};

/// Addresses whose `X-Forwarded-For` is believed (`ROSTER_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of addresses and CIDR ranges, e.g. `10.0.0.0/8, 127.0.0.1`.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("ROSTER_TRUSTED_PROXIES: {s:?} is not an address or CIDR range")
                    })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the socket peer, unless the peer is a trusted proxy; then the
    /// nearest address in `X-Forwarded-For` that is not itself a trusted proxy (read from the
    /// right, since a client can write anything to the left of what its proxies append).
    pub fn client_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        Some(self.nearest_untrusted(peer, &hops))
    }

    /// Walks `hops` from the right (the hop the trusted peer appended last) past trusted proxies;
    /// stops at the first untrusted address, or at one that is not an address at all (what lies
    /// left of it is the client's to write).
    fn nearest_untrusted(&self, peer: IpAddr, hops: &[&str]) -> IpAddr {
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// Token buckets per client address.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets kept before full ones are forgotten.
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// `per_minute` requests a minute per address; 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `ip`'s bucket; `Err(seconds)` until the next is allowed.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| b.level(now, capacity, per_second) < capacity);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        bucket.tokens = bucket.level(now, capacity, per_second);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

impl Bucket {
    fn level(&self, now: Instant, capacity: f64, per_second: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * per_second).min(capacity)
    }
}

/// An extractor that admits a sign-in request under its address's limit, else 429
/// `rate_limited` with `Retry-After`. Put it first among a handler's arguments, so a refused
/// request is not read further.
pub struct AuthRateLimit;

impl FromRequest for AuthRateLimit {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::new(
                ErrorCode::InternalError,
                "application state missing",
            )));
        };
        let Some(ip) = state.proxies.client_of(req) else {
            return ready(Ok(Self));
        };
        ready(match state.auth_limiter.take(ip, Instant::now()) {
            Ok(()) => Ok(Self),
            Err(seconds) => Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("too many sign-in requests from this address; retry in {seconds} s"),
            )
            .retry_after(seconds)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_evenly() {
        let limiter = RateLimiter::new(6);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..6 {
            assert_eq!(limiter.take(ip, t0), Ok(()));
        }
        assert_eq!(limiter.take(ip, t0), Err(10), "one request every 10 s");
        assert_eq!(limiter.take(other, t0), Ok(()), "per address");
        assert_eq!(limiter.take(ip, t0 + Duration::from_secs(10)), Ok(()));
        assert!(limiter.take(ip, t0 + Duration::from_secs(10)).is_err());
        assert_eq!(RateLimiter::new(0).take(ip, t0), Ok(()), "0: off");
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        assert!(trusted.trusts("10.1.2.3".parse().unwrap()));
        assert!(trusted.trusts("127.0.0.1".parse().unwrap()));
        assert!(!trusted.trusts("192.0.2.1".parse().unwrap()));
        assert!(TrustedProxies::parse("not-an-address").is_err());
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let client = |hops: &[&str]| trusted.nearest_untrusted(peer, hops);
        assert_eq!(client(&[]), peer);
        assert_eq!(
            client(&["198.51.100.1", "203.0.113.5", "10.9.9.9"]).to_string(),
            "203.0.113.5"
        );
        assert_eq!(
            client(&["garbage", "203.0.113.5"]).to_string(),
            "203.0.113.5",
            "left of it: the client's to write"
        );
        assert_eq!(
            client(&["203.0.113.5", "garbage"]),
            peer,
            "a hop that is no address ends the walk"
        );
    }
}
