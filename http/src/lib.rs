//! fraud-http: the one HTTPS client set-up and the one retry back-off. Outbound calls (the
//! `fraud replay` command, the MLflow adapter) share the client; every retry loop shares the
//! back-off, so the policy is tuned in one place.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A client for HTTPS (rustls with ring) and plain HTTP, with whole-body requests.
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The system's root certificates could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the system's TLS root certificates: {0}")]
pub struct TlsRootsError(#[source] std::io::Error);

/// A client keeping up to `idle_per_host` connections open per host between requests.
pub fn https_client(idle_per_host: usize) -> Result<HttpsClient, TlsRootsError> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(TlsRootsError)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(idle_per_host)
        .build(connector))
}

/// How long to wait before retry number `attempt` (1 for the first retry): `first`, doubled
/// for each further attempt up to 64 times `first`, plus a random part up to as much again
/// ("full jitter"), so clients that failed together do not retry together.
pub fn backoff(attempt: u32, first: Duration) -> Duration {
    let base = first * (1u32 << attempt.saturating_sub(1).min(6));
    let random = RandomState::new().hash_one(attempt);
    let jitter_nanos = random % (base.as_nanos() as u64).max(1);
    base + Duration::from_nanos(jitter_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter_and_stops_doubling() {
        let first = Duration::from_millis(100);
        for (attempt, base_ms) in [(1, 100), (2, 200), (3, 400), (7, 6400), (30, 6400)] {
            for _ in 0..20 {
                let wait = backoff(attempt, first);
                let base = Duration::from_millis(base_ms);
                assert!(wait >= base && wait < base * 2, "{attempt}: {wait:?}");
            }
        }
    }

    #[test]
    fn backoff_spreads_clients() {
        let waits: std::collections::HashSet<Duration> = (0..20)
            .map(|_| backoff(3, Duration::from_millis(100)))
            .collect();
        assert!(waits.len() > 10, "{waits:?}");
    }

    #[test]
    fn the_client_builds_with_the_system_roots() {
        let client = https_client(4);
        assert!(client.is_ok(), "{:?}", client.err());
    }
}
