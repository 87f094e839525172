//! The AWS side of a revocation: each affected role's inline policy `rolegate-revocations`
//! (see [`super::deny`]) read, merged, proven and written through IAM, a few roles at a time.
//!
//! Writes to one role are serialised across replicas by a lease in the shared store (IAM has
//! no compare-and-swap: two brokers merging into the same policy at once would lose an entry).
//! Before anything is written the merged document is evaluated with the policy engine: it must
//! deny every revoked session, must not deny a session issued after the instant or another
//! person's, and must still deny everything the old document denied that can still be alive.
//! A document that fails is never written.

use super::deny::{DenyPolicy, POLICY_NAME, Whom, horizon};
use crate::aws::doctor::INLINE_POLICY_LIMIT;
use crate::aws::iam::{ReadError, iam_client, put_role_policy, read_role};
use crate::clock::{Clock, instant_of, rfc3339, rfc3339_of};
use crate::config::{AwsConfig, StaticCredentials};
use crate::domain::RoleArn;
use crate::policy::aws_deny::denies;
use crate::store::Store;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// IAM calls in flight at once for one revocation: a kill switch over many roles finishes in
/// seconds without tripping IAM's request throttling.
const CONCURRENT_ROLES: usize = 8;
/// How long a role's lease is held at most (several IAM calls, each with its own timeout).
const LEASE: Duration = Duration::from_secs(60);
/// How long to wait for another replica's lease on the same role.
const LEASE_WAIT: Duration = Duration::from_secs(20);

/// What to do with a Deny the broker could not write: merge, never replace — the role's
/// policy may hold earlier revocations the broker cannot see from here.
const APPLY_BY_HAND: &str = "add the statement below to the role's inline policy \
     rolegate-revocations, keeping the statements already in it";

/// One role's share of a revocation.
#[derive(Debug, Clone)]
pub(crate) struct RoleRevocation {
    pub arn: String,
    /// Sessions issued before this instant (unix seconds) end.
    pub before: i64,
    pub whom: Whom,
    /// The revoked sessions' (issue instant, source identity): the proof's cases.
    pub sessions: Vec<(i64, String)>,
}

impl RoleRevocation {
    /// The Deny this revocation alone needs (what to apply by hand when it is not written).
    pub(crate) fn document(&self) -> serde_json::Value {
        let mut p = DenyPolicy::default();
        p.add(self.before, self.whom.clone());
        p.document()
    }
}

/// What happened on one role.
#[derive(Debug, Clone)]
pub(crate) struct RoleWrite {
    /// When IAM accepted the policy (it takes effect a few minutes later); None when it did not.
    pub written_at: Option<String>,
    pub error: Option<String>,
    /// The document written, or, when not written, the one to apply.
    pub policy: serde_json::Value,
}

/// Whether and how the broker writes the AWS side.
pub(crate) enum AwsSide {
    /// Through IAM.
    Write(Box<IamWriter>),
    /// Not at all; the reason, for the report (each role's document is returned to apply).
    Print(String),
}

impl AwsSide {
    pub(crate) async fn revoke(&self, roles: &[RoleRevocation]) -> Vec<RoleWrite> {
        match self {
            AwsSide::Write(w) => w.write_all(roles).await,
            AwsSide::Print(why) => roles
                .iter()
                .map(|r| RoleWrite {
                    written_at: None,
                    error: Some(format!("{why}; {APPLY_BY_HAND}")),
                    policy: r.document(),
                })
                .collect(),
        }
    }
}

/// Writes revocation Denies to IAM with its own credentials.
pub(crate) struct IamWriter {
    sdk: aws_config::SdkConfig,
    aws: AwsConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl IamWriter {
    /// `credentials`: `[revocation]`'s keys, else the broker's own (`[aws]`'s, or the SDK's
    /// default chain).
    pub(crate) async fn new(
        aws: &AwsConfig,
        credentials: Option<&StaticCredentials>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> IamWriter {
        let sdk =
            crate::aws::iam::sdk_config_with(credentials.or(aws.static_credentials.as_ref())).await;
        IamWriter {
            sdk,
            aws: aws.clone(),
            store,
            clock,
        }
    }

    async fn write_all(&self, roles: &[RoleRevocation]) -> Vec<RoleWrite> {
        let mut done: Vec<(usize, RoleWrite)> =
            futures_util::stream::iter(roles.iter().enumerate())
                .map(|(i, r)| async move {
                    let outcome = match self.write(r).await {
                        Ok((written_at, policy)) => RoleWrite {
                            written_at: Some(written_at),
                            error: None,
                            policy,
                        },
                        Err(error) => RoleWrite {
                            written_at: None,
                            error: Some(format!(
                                "not written: {error}; apply `policy` as the role's inline policy \
                             {POLICY_NAME} once the cause is fixed"
                            )),
                            policy: r.document(),
                        },
                    };
                    (i, outcome)
                })
                .buffer_unordered(CONCURRENT_ROLES)
                .collect()
                .await;
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, w)| w).collect()
    }

    async fn write(&self, r: &RoleRevocation) -> Result<(String, serde_json::Value), String> {
        let role = RoleArn::parse(&r.arn).map_err(|e| e.to_string())?;
        let lease = format!(
            "rolegate:{{revocations}}:iam-lease:{}",
            hex::encode(r.arn.as_bytes())
        );
        self.acquire(&lease).await?;
        let result = self.merge_and_put(&role, r).await;
        // A lease left behind expires by itself; releasing it early only saves the others time.
        let _ = self.store.delete(&lease).await;
        result
    }

    async fn acquire(&self, lease: &str) -> Result<(), String> {
        let started = std::time::Instant::now();
        loop {
            match self.store.insert_once(lease, LEASE).await {
                Ok(true) => return Ok(()),
                Ok(false) if started.elapsed() < LEASE_WAIT => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(false) => {
                    return Err(
                        "another broker replica has been writing this role's policy \
                                for 20 s; retry the revocation"
                            .into(),
                    );
                }
                Err(e) => return Err(format!("the store cannot lease the role: {e}")),
            }
        }
    }

    async fn merge_and_put(
        &self,
        role: &RoleArn,
        r: &RoleRevocation,
    ) -> Result<(String, serde_json::Value), String> {
        let iam = iam_client(&self.sdk, &self.aws, role.partition());
        let facts = read_role(&iam, role).await.map_err(read_error)?;
        // IAM names roles by name within the caller's account: a role of another account with
        // the same name must never receive this Deny.
        let found = RoleArn::parse(&facts.arn).map_err(|e| e.to_string())?;
        if found.account() != role.account() {
            return Err(format!(
                "the writer's credentials are in account {}, the role in {}: give [revocation] \
                 keys that reach that account, or apply the policy there",
                found.account(),
                role.account()
            ));
        }
        let mut others = 0;
        let mut old = DenyPolicy::default();
        for (name, text) in &facts.inline_policies {
            if name == POLICY_NAME {
                let doc: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| format!("its {POLICY_NAME} is not JSON: {e}"))?;
                old = DenyPolicy::parse(&doc).map_err(|e| e.to_string())?;
            } else {
                others += iam_chars(text);
            }
        }
        let now = self.clock.unix();
        let mut merged = old.clone();
        merged.add(r.before, r.whom.clone());
        merged.prune(now, facts.max_session);
        let document = merged.document();
        prove(&old, &document, r, now, facts.max_session)?;
        let text = document.to_string();
        let total = others + iam_chars(&text);
        if total > INLINE_POLICY_LIMIT {
            return Err(format!(
                "the role's inline policies would come to {total} characters, over IAM's \
                 limit of {INLINE_POLICY_LIMIT} (its other inline policies use {others}); \
                 move one of them into a managed policy, or lower the role's maximum session \
                 duration so older revocations are pruned sooner"
            ));
        }
        put_role_policy(&iam, role, POLICY_NAME, &text)
            .await
            .map_err(read_error)?;
        Ok((rfc3339(self.clock.now()), document))
    }
}

fn read_error(e: ReadError) -> String {
    match e {
        ReadError::NoSuchRole(name) => format!("IAM has no role named {name}"),
        ReadError::Unreadable(why) => why,
    }
}

/// Characters as IAM counts them toward the aggregate limit: whitespace excluded.
fn iam_chars(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// The merged document, evaluated by the policy engine before it is written (each document is
/// built once: a kill switch proves thousands of sessions against it).
fn prove(
    old: &DenyPolicy,
    merged: &serde_json::Value,
    r: &RoleRevocation,
    now: i64,
    max_session: Duration,
) -> Result<(), String> {
    let fail = |what: String| {
        Err(format!(
            "the Deny failed its proof ({what}); nothing written"
        ))
    };
    let alone = r.document();
    for (issued, identity) in &r.sessions {
        if !denies(merged, instant_of(*issued), identity) {
            return fail(format!("it does not deny {identity}'s revoked session"));
        }
        if denies(&alone, instant_of(r.before), identity) {
            return fail(format!("it would deny {identity}'s next sign-in"));
        }
    }
    if let Whom::Only(ids) = &r.whom {
        let stranger = "rolegate-proof-someone-else";
        if !ids.contains(stranger) && denies(&alone, instant_of(r.before - 1), stranger) {
            return fail("it would deny another person's session".into());
        }
    }
    // Whatever the old document denied that may still be alive, the new one denies too.
    let horizon = horizon(now, max_session);
    for (before, whom) in old.entries().filter(|(b, _)| *b > horizon) {
        let probes: Vec<&str> = match whom {
            Whom::Everyone => vec!["rolegate-proof-anyone"],
            Whom::Only(ids) => ids.iter().map(String::as_str).collect(),
        };
        for probe in probes {
            if !denies(merged, instant_of(before - 1), probe) {
                return fail(format!(
                    "the merge lost the entry of {}",
                    rfc3339_of(before)
                ));
            }
        }
    }
    Ok(())
}
