//! Who is calling: an extractor checks a JWT access token or an API token for form and hands the
//! use case a `Credential`, which loads the account's *current* roles and active flag (SPEC §1,
//! §4). Routes that need one permission say so in their signature with `Authorized<P>`, so a
//! handler without a permission does not compile.

use std::{marker::PhantomData, time::Duration};

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use chrono::Utc;
use domain::{api_token::ApiTokenSecret, audit::Origin, roles::Permission, services::Credential};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    app::AppState,
    error::{ApiError, ErrorCode},
};

const ISSUER: &str = "roster";
const AUDIENCE: &str = "roster-api";
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    iss: String,
    aud: String,
    exp: i64,
    iat: i64,
    nbf: i64,
}

/// Signs and checks access tokens: HS256 only, `iss`/`aud`/`exp`/`iat`/`sub` required, `nbf`
/// checked, at most 5 s of clock leeway.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &str, ttl: Duration) -> Self {
        let key = Sha256::new()
            .chain_update(b"roster:access-token:")
            .chain_update(secret.as_bytes())
            .finalize();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// An access token for `account` in session `sid`.
    pub fn issue(&self, account: Uuid, sid: Uuid) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: account.to_string(),
            sid: sid.to_string(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now + self.ttl.as_secs() as i64,
            iat: now,
            nbf: now,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| {
            tracing::error!(error = %e, "cannot sign an access token");
            ApiError::new(ErrorCode::InternalError, "the error has been logged")
        })
    }

    /// The account and session of a valid token; `None` for anything else, including a token
    /// whose lifetime (`exp - iat`) is longer than this server issues.
    pub fn verify(&self, token: &str) -> Option<(Uuid, Uuid)> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        let c = &data.claims;
        if c.iat > Utc::now().timestamp() + LEEWAY_SECS as i64 {
            return None;
        }
        if c.exp - c.iat > self.ttl.as_secs() as i64 {
            return None;
        }
        Some((Uuid::parse_str(&c.sub).ok()?, Uuid::parse_str(&c.sid).ok()?))
    }
}

/// SHA-256 of the key, stored in the database so replicas with different keys refuse to start.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"roster:fingerprint:")
        .chain_update(secret.as_bytes())
        .finalize();
    format!("{digest:x}")
}

fn unauthenticated(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, detail)
}

/// The caller's credential: an access token or an API token, checked for form (and an access
/// token for signature and times) without I/O. The use case it is handed to looks up the account's
/// *current* roles and active flag in its first database step.
pub struct Authenticated(Credential);

impl Authenticated {
    pub fn credential(self) -> Credential {
        self.0
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authenticate(req).map(Self))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Credential, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::new(ErrorCode::InternalError, "application state missing"))?;
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_credential)
        .ok_or_else(|| {
            unauthenticated("send `Authorization: Bearer <access token or API token>`")
        })?;
    if ApiTokenSecret::looks_like(bearer) {
        ApiTokenSecret::parse(bearer)
            .map(Credential::api_token)
            .ok_or_else(|| unauthenticated("the API token is not valid"))
    } else {
        state
            .tokens
            .verify(bearer)
            .map(|(account, sid)| Credential::access(account, sid))
            .ok_or_else(|| unauthenticated("the access token is not valid or has expired"))
    }
}

/// The credential of an `Authorization: Bearer <credential>` header. The scheme is matched
/// case-insensitively (RFC 9110 §11.1): `bearer`, `Bearer` and `BEARER` are the same.
pub(crate) fn bearer_credential(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim_start().split_once([' ', '\t'])?;
    let credential = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// A permission a route requires, named at the type level.
pub trait Requirement {
    const PERMISSION: Permission;
}

macro_rules! requirement {
    ($($name:ident => $perm:expr),* $(,)?) => {$(
        pub struct $name;
        impl Requirement for $name {
            const PERMISSION: Permission = $perm;
        }
    )*};
}

requirement! {
    ReadUsers => Permission::UsersRead,
    WriteUsers => Permission::UsersWrite,
    ReadSettings => Permission::SettingsRead,
    WriteSettings => Permission::SettingsWrite,
    WriteApplications => Permission::ApplicationsWrite,
    ReadAudit => Permission::AuditRead,
    ReadMetrics => Permission::MetricsRead,
}

/// The caller's credential, which admits its holder only while its current roles grant
/// `R::PERMISSION` (else 403): the route's requirement travels with the credential into the use
/// case, which checks it when it authenticates.
pub struct Authorized<R: Requirement>(Credential, PhantomData<R>);

impl<R: Requirement> Authorized<R> {
    pub fn credential(self) -> Credential {
        self.0
    }
}

impl<R: Requirement> FromRequest for Authorized<R> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authenticate(req).map(|c| Self(c.requiring(R::PERMISSION), PhantomData)))
    }
}

/// The client address and user agent, for the audit trail. The address is the socket peer, or
/// what a trusted proxy says it is ([`crate::client::TrustedProxies`]).
pub struct RequestOrigin(pub Origin);

impl FromRequest for RequestOrigin {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let address = match req.app_data::<web::Data<AppState>>() {
            Some(state) => state.proxies.client_of(req),
            None => req.peer_addr().map(|a| a.ip()),
        }
        .map(|ip| ip.to_string());
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        std::future::ready(Ok(Self(Origin {
            address,
            user_agent,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const SECRET: &str = "unit-test-secret-key-0123456789-abcdefghij";

    fn keys() -> TokenKeys {
        TokenKeys::new(SECRET, Duration::from_secs(900))
    }

    fn claims(adjust: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
        let now = Utc::now().timestamp();
        let mut c = json!({
            "sub": Uuid::now_v7().to_string(), "sid": Uuid::now_v7().to_string(), "iss": ISSUER, "aud": AUDIENCE,
            "exp": now + 600, "iat": now, "nbf": now
        });
        if let Value::Object(m) = &mut c {
            adjust(m);
        }
        c
    }

    fn sign(keys: &TokenKeys, alg: Algorithm, claims: &Value) -> String {
        jsonwebtoken::encode(&Header::new(alg), claims, &keys.encoding).unwrap()
    }

    #[test]
    fn accepts_its_own_tokens() {
        let k = keys();
        let (id, sid) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(k.verify(&k.issue(id, sid).unwrap()), Some((id, sid)));
        assert!(k
            .verify(&sign(&k, Algorithm::HS256, &claims(|_| {})))
            .is_some());
    }

    #[test]
    fn requires_every_registered_claim() {
        let k = keys();
        for missing in ["sub", "sid", "iss", "aud", "exp", "iat"] {
            let token = sign(
                &k,
                Algorithm::HS256,
                &claims(|m| {
                    m.remove(missing);
                }),
            );
            assert_eq!(k.verify(&token), None, "{missing} is required");
        }
    }

    #[test]
    fn checks_issuer_audience_and_times_with_at_most_five_seconds_leeway() {
        let k = keys();
        let now = Utc::now().timestamp();
        let cases: Vec<(&str, Value)> = vec![
            (
                "issuer",
                claims(|m| drop(m.insert("iss".into(), json!("someone-else")))),
            ),
            (
                "audience",
                claims(|m| drop(m.insert("aud".into(), json!("another-api")))),
            ),
            (
                "expired beyond leeway",
                claims(|m| drop(m.insert("exp".into(), json!(now - 6)))),
            ),
            (
                "not yet valid",
                claims(|m| drop(m.insert("nbf".into(), json!(now + 60)))),
            ),
            (
                "issued in the future",
                claims(|m| drop(m.insert("iat".into(), json!(now + 60)))),
            ),
            (
                "subject not a UUID",
                claims(|m| drop(m.insert("sub".into(), json!("root")))),
            ),
        ];
        for (what, c) in cases {
            assert_eq!(k.verify(&sign(&k, Algorithm::HS256, &c)), None, "{what}");
        }
        let longer = claims(|m| drop(m.insert("exp".into(), json!(now + 901))));
        assert_eq!(
            k.verify(&sign(&k, Algorithm::HS256, &longer)),
            None,
            "a lifetime longer than the server issues"
        );
        let within = claims(|m| drop(m.insert("exp".into(), json!(now - 3))));
        assert!(
            k.verify(&sign(&k, Algorithm::HS256, &within)).is_some(),
            "3 s past expiry is within leeway"
        );
    }

    #[test]
    fn matches_the_bearer_scheme_case_insensitively() {
        for header in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr   abc "] {
            assert_eq!(bearer_credential(header), Some("abc"), "{header:?}");
        }
        for header in ["Basic abc", "Bearer", "Bearer   ", "Bearerabc", "abc"] {
            assert_eq!(bearer_credential(header), None, "{header:?}");
        }
    }

    #[test]
    fn accepts_only_hs256_signed_with_its_key() {
        let k = keys();
        let c = claims(|_| {});
        assert_eq!(k.verify(&sign(&k, Algorithm::HS512, &c)), None, "HS512");
        assert_eq!(k.verify(&sign(&k, Algorithm::HS384, &c)), None, "HS384");
        let other = TokenKeys::new(
            "another-secret-key-0123456789-abcdefghijk",
            Duration::from_secs(900),
        );
        assert_eq!(
            k.verify(&sign(&other, Algorithm::HS256, &c)),
            None,
            "foreign key"
        );
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(c.to_string())
        );
        assert_eq!(k.verify(&unsigned), None, "alg none");
        let token = k.issue(Uuid::now_v7(), Uuid::now_v7()).unwrap();
        // Change a character in the middle of the signature (the last carries padding bits).
        let mut chars: Vec<char> = token.chars().collect();
        let i = chars.len() - 10;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(k.verify(&tampered), None, "tampered signature");
    }
}
