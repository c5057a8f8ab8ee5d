//! Idempotent retries ([`crate::idempotency`]): a request sent with a key takes it before it
//! runs, and keeps its response after.

use super::Services;
use crate::{
    idempotency::{decide, lease_from, Begin, KeptResponse, KeyedRequest},
    seal::NONCE_BYTES,
    Error, Result,
};

impl Services {
    /// Whether to run a request sent with a key, replay its first response, or refuse it.
    pub async fn begin_idempotent(&self, request: KeyedRequest) -> Result<Begin> {
        self.database(move |s| s.begin_keyed(&request)).await
    }

    fn begin_keyed(&self, request: &KeyedRequest) -> Result<Begin> {
        let now = crate::now();
        let lease = lease_from(now);
        let begin = self.store.write(|tx| {
            if tx.insert_idempotency_key(request, now, lease)? {
                return Ok(Begin::Run);
            }
            let Some(record) = tx.find_idempotency_key(request)? else {
                // Let go between the two steps (PostgreSQL): take it now, or it is another
                // request's again.
                return Ok(if tx.insert_idempotency_key(request, now, lease)? {
                    Begin::Run
                } else {
                    Begin::InProgress
                });
            };
            match decide(&record, &request.fingerprint, now) {
                None => {
                    tx.restart_idempotency_key(request, now, lease)?;
                    Ok(Begin::Run)
                }
                Some(begin) => Ok(begin),
            }
        })?;
        match begin {
            Begin::Replay(sealed) => {
                let body = self
                    .response_key
                    .open(&sealed.body, &request.binding())
                    .map_err(|_| {
                        Error::Internal(
                            "a kept response does not open: was the server's secret changed?"
                                .into(),
                        )
                    })?;
                Ok(Begin::Replay(KeptResponse { body, ..sealed }))
            }
            other => Ok(other),
        }
    }

    /// Ends a request that took its key: keeps `response` (its body sealed) for retries, or with
    /// `None` lets the key go so that a retry runs again.
    pub async fn finish_idempotent(
        &self,
        request: KeyedRequest,
        response: Option<KeptResponse>,
        nonce: [u8; NONCE_BYTES],
    ) -> Result<()> {
        self.database(move |s| {
            let sealed = response.map(|r| KeptResponse {
                body: s.response_key.seal(&r.body, &request.binding(), nonce),
                ..r
            });
            s.store.write(|tx| match &sealed {
                Some(response) => tx.complete_idempotency_key(&request, response),
                None => tx.release_idempotency_key(&request),
            })
        })
        .await
    }
}
