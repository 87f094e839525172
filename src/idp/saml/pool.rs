//! Verification off the async workers. An xmlsec signature check and an RSA decryption are
//! milliseconds of CPU each; run on an actix worker they stall every other request that worker
//! serves, so a flood of posts to /saml/acs could stall every route. Jobs run on tokio's
//! blocking pool, at most `permits` at once; a post that finds no permit within [`WAIT`] is
//! answered "busy" (503) straight away instead of queueing without bound.

use super::SamlError;
use super::metadata::IdpMetadata;
use super::verify::{self, Expect, Sp, Trust, Verified};
use crate::clock::Clock;
use openssl::pkey::{PKey, Private};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a post may wait for a free verifier before it is turned away.
pub(crate) const WAIT: Duration = Duration::from_millis(500);

pub(crate) struct VerifierPool {
    permits: Arc<Semaphore>,
    wait: Duration,
}

/// Why a job did not run to an answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PoolError {
    /// Every verifier stayed busy for [`WAIT`]: answer 503, try again later.
    Busy,
    /// The blocking task was lost (cancelled at shutdown, or it panicked past the verifier's
    /// own guard).
    Lost,
}

impl VerifierPool {
    pub(crate) fn new(permits: usize, wait: Duration) -> VerifierPool {
        VerifierPool {
            permits: Arc::new(Semaphore::new(permits.max(1))),
            wait,
        }
    }

    /// One verifier per core: more would only queue on the CPU and delay everyone.
    pub(crate) fn per_core() -> VerifierPool {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        VerifierPool::new(cores, WAIT)
    }

    /// Runs `job` on the blocking pool once a permit is free. The permit travels with the job:
    /// a client that disconnects does not free it before the work is really done.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| PoolError::Busy)?
            .map_err(|_| PoolError::Lost)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|_| PoolError::Lost)
    }
}

/// Which request a Response must answer, owned (the job outlives the handler's borrows).
#[derive(Debug, Clone)]
pub enum Expected {
    /// Solicited: the ID of this browser's pending AuthnRequest.
    Request(String),
    /// No pending request: accepted only when the IdP may start sign-ins.
    Unsolicited {
        /// The IdP's `allow_idp_initiated`.
        allowed: bool,
    },
}

/// Everything one ACS verification needs, owned so it can move to a blocking thread.
pub struct Job {
    /// The decoded Response.
    pub xml: String,
    /// This SP's entity id (the expected Audience).
    pub sp_entity_id: String,
    /// This SP's ACS URL (the expected Destination and Recipient).
    pub acs_url: String,
    /// The SP key, for EncryptedAssertions.
    pub decryption_key: Option<PKey<Private>>,
    /// The IdP's metadata: its pinned keys and entity id.
    pub metadata: Arc<IdpMetadata>,
    /// Accept SHA-1 (the IdP's `insecure_allow_sha1`).
    pub allow_sha1: bool,
    /// The IdP's clock tolerance.
    pub clock_skew: Duration,
    /// Which request the Response must answer.
    pub expected: Expected,
    /// Time, injected (tests and `verify saml --now`).
    pub clock: Arc<dyn Clock>,
}

impl Job {
    /// The verifier itself ([`verify::verify`], which catches panics), run synchronously.
    pub fn run(self) -> Result<Verified, SamlError> {
        // SAML metadata 2.3.1: past validUntil the metadata, and the keys it pins, are no
        // longer valid. Checked at load and on every refresh, and here at run time: a refresh
        // that keeps failing keeps the last good copy, never beyond its validity.
        if self
            .metadata
            .valid_until
            .is_some_and(|v| v <= self.clock.unix())
        {
            return Err(SamlError::MetadataExpired);
        }
        let sp = Sp {
            entity_id: &self.sp_entity_id,
            acs_url: &self.acs_url,
            decryption_key: self.decryption_key.as_ref(),
        };
        let trust = Trust {
            entity_id: &self.metadata.entity_id,
            keys: &self.metadata.keys,
            allow_sha1: self.allow_sha1,
            clock_skew: self.clock_skew,
        };
        let expect = match &self.expected {
            Expected::Request(id) => Expect::Request(id),
            Expected::Unsolicited { allowed } => Expect::Unsolicited { allowed: *allowed },
        };
        verify::verify(&self.xml, &sp, &trust, expect, self.clock.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_answers_busy_quickly_and_recovers() {
        let pool = Arc::new(VerifierPool::new(1, Duration::from_millis(50)));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let busy = pool.clone();
        let first = tokio::spawn(async move { busy.run(move || rx.recv().ok()).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = std::time::Instant::now();
        assert_eq!(pool.run(|| ()).await, Err(PoolError::Busy));
        assert!(started.elapsed() < Duration::from_secs(2));
        tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(Some(())));
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }
}
