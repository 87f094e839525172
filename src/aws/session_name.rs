//! RoleSessionName and SourceIdentity, derived deterministically from the identity's key
//! (idp, subject) — never from a username or email, which another IdP (or the user, at many
//! IdPs) can make equal to someone else's.
//!
//! Both read `<idp>.<subject>`: an IdP id has no `.`, so the first one separates the two and
//! distinct (idp, subject) pairs give distinct strings. STS allows 2–64 characters of
//! `[\w+=,.@-]` for both. A string that fits, and holds no `=`, is used verbatim. Anything
//! else is hashed: disallowed characters (and `=`) become `-`, the head is cut to fit, and
//! `=` plus 64 bits of SHA-256 of the full input is appended. A verbatim name never holds a
//! `=` and a hashed one always ends in `=<16 hex>`, so no input taken verbatim can equal
//! another input's hashed name; two hashed names collide only if SHA-256 does in 64 bits.
//! Since `:` is not allowed, neither can start with the reserved `aws:` prefix.

use crate::domain::Identity;
use sha2::{Digest, Sha256};

const MAX: usize = 64;
/// Hex digits of the hash suffix: 64 bits.
const HASH_HEX: usize = 16;
/// Reserved for the hash suffix; never kept from the input.
const HASH_MARK: char = '=';

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Allowed, and not the mark that only a hashed name may hold.
fn verbatim_char(c: char) -> bool {
    allowed(c) && c != HASH_MARK
}

pub(crate) fn sanitize(input: &str) -> String {
    if (2..=MAX).contains(&input.len()) && input.chars().all(verbatim_char) {
        return input.to_string();
    }
    let hash = &hex::encode(Sha256::digest(input.as_bytes()))[..HASH_HEX];
    let head: String = input
        .chars()
        .map(|c| if verbatim_char(c) { c } else { '-' })
        .take(MAX - HASH_HEX - 1)
        .collect();
    format!("{head}{HASH_MARK}{hash}")
}

fn readable_key(identity: &Identity) -> String {
    sanitize(&format!("{}.{}", identity.idp, identity.subject))
}

/// What CloudTrail shows as the session (in the assumed-role ARN): unique per identity.
pub(crate) fn session_name(identity: &Identity) -> String {
    readable_key(identity)
}

/// Survives role chaining and appears in every CloudTrail event of the session.
pub(crate) fn source_identity(identity: &Identity) -> String {
    readable_key(identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IdpId;

    #[test]
    fn keeps_valid_names_and_hashes_everything_else() {
        assert_eq!(sanitize("alice@example.com"), "alice@example.com");
        let s = sanitize("al ice");
        assert!(
            s.starts_with("al-ice=") && s.len() == 6 + 1 + HASH_HEX,
            "{s}"
        );
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

    /// The attack: a subject chosen to read exactly like someone else's shortened name. Before,
    /// `al-ice-1a2b3c4d` was returned verbatim and so equalled the hashed form of `al ice`.
    #[test]
    fn session_name_verbatim_input_cannot_forge_a_hashed_name_collision() {
        for victim in ["al ice", "x", &"a".repeat(100), "corp.bob=1"] {
            let hashed = sanitize(victim);
            assert_ne!(sanitize(&hashed), hashed, "`{hashed}` taken verbatim");
            // The same head with the separator of the old scheme is no way in either.
            let dashed = hashed.replace(HASH_MARK, "-");
            assert_ne!(sanitize(&dashed), hashed);
        }
    }

    /// 32 bits were a birthday away (~65,000 names) from two people sharing a session name.
    #[test]
    fn session_name_hash_suffix_has_at_least_64_bits() {
        let s = sanitize("al ice");
        let suffix = s.rsplit(HASH_MARK).next().unwrap();
        assert!(suffix.len() * 4 >= 64, "{s}");
        assert!(suffix.bytes().all(|b| b.is_ascii_hexdigit()), "{s}");
    }

    /// The attack: `alice` at a social IdP took the corporate `alice`'s RoleSessionName, so
    /// CloudTrail (and any trust policy on the session name) could not tell them apart.
    #[test]
    fn session_name_names_the_idp_social_login_impersonates_corporate_user() {
        let corp = Identity::new(IdpId::parse("corp").unwrap(), "alice");
        let mut social = Identity::new(IdpId::parse("social").unwrap(), "alice");
        social.username = Some("alice".into());
        assert_eq!(session_name(&corp), "corp.alice");
        assert_eq!(session_name(&social), "social.alice");
        assert_eq!(session_name(&corp), source_identity(&corp));
        // A username or email the user can edit no longer names the session.
        let mut edited = Identity::new(IdpId::parse("corp").unwrap(), "mallory");
        edited.username = Some("alice".into());
        assert_eq!(session_name(&edited), "corp.mallory");
    }
}
