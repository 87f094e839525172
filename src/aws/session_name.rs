//! RoleSessionName and SourceIdentity, derived deterministically from the identity.
//!
//! STS allows 2–64 characters of `[\w+=,.@-]` for both. Anything else is replaced by `-`, and
//! whenever the result is not the input verbatim (replaced characters, truncation, too short)
//! a hash of the full input is appended, so two different people can never end up with the
//! same name. SourceIdentity is keyed by (idp, subject) — the identity itself — and, since `:`
//! is not allowed, can never start with the reserved `aws:` prefix.

use crate::domain::Identity;
use sha2::{Digest, Sha256};

const MAX: usize = 64;
const HASH_LEN: usize = 8;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

pub fn sanitize(input: &str) -> String {
    let cleaned: String = input
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .collect();
    if cleaned == input && (2..=MAX).contains(&input.len()) {
        return cleaned;
    }
    let hash = &hex::encode(Sha256::digest(input.as_bytes()))[..HASH_LEN];
    let keep = MAX - HASH_LEN - 1;
    let head: String = cleaned.chars().take(keep).collect();
    format!("{head}-{hash}")
}

/// What CloudTrail shows as the session: the person's username or verified email when known.
pub fn session_name(identity: &Identity) -> String {
    let base = identity
        .username
        .as_deref()
        .or(identity.verified_email())
        .unwrap_or(&identity.subject);
    sanitize(base)
}

/// Survives role chaining and appears in every CloudTrail event of the session.
pub fn source_identity(identity: &Identity) -> String {
    sanitize(&format!("{}.{}", identity.idp, identity.subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_valid_names_and_hashes_everything_else() {
        assert_eq!(sanitize("alice@example.com"), "alice@example.com");
        let s = sanitize("al ice");
        assert!(s.starts_with("al-ice-") && s.len() == 6 + 1 + 8, "{s}");
        assert_ne!(
            sanitize("al ice"),
            sanitize("al/ice"),
            "distinct inputs stay distinct"
        );
        let long = "a".repeat(100);
        assert_eq!(sanitize(&long).len(), 64);
        assert_ne!(sanitize(&long), sanitize(&"a".repeat(101)));
        assert!(sanitize("x").len() >= 2);
        assert!(sanitize("aws:x").starts_with("aws-"));
        for s in [sanitize("ünïcødé"), sanitize(""), sanitize(&"é".repeat(80))] {
            assert!((2..=64).contains(&s.len()) && s.chars().all(allowed), "{s}");
        }
    }
}
