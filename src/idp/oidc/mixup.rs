//! Mix-up defence for browser sign-in (RFC 9700 §4.4, RFC 9207).
//!
//! The attack: with several IdPs configured, a malicious (or compromised) IdP A starts a
//! login for the attacker, bounces the victim to the honest IdP H, and — if every IdP shared
//! one redirect URI and the pending login were found by `state` alone — H's code for the
//! victim would arrive in the attacker's pending login and be redeemed as the victim. Two
//! checks close it:
//! - each IdP has its own redirect URI, `/oidc/callback/{idp}` (RFC 9700 §4.4.2.2): a response
//!   is accepted only at the URI of the IdP the pending login was started with;
//! - RFC 9207 §2.4: an IdP that advertises `authorization_response_iss_parameter_supported`
//!   must send `iss`, and any `iss` that is sent must equal the IdP's issuer exactly.

/// Why an authorization response is refused; each is a distinct, public reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MixUp {
    /// The response arrived at another IdP's redirect URI than the pending login's.
    WrongCallback,
    /// The IdP advertises RFC 9207 but the response carries no `iss`.
    MissingIssuer,
    /// The response's `iss` names another issuer.
    WrongIssuer,
}

impl MixUp {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            MixUp::WrongCallback => "idp_mismatch",
            MixUp::MissingIssuer => "missing_iss",
            MixUp::WrongIssuer => "wrong_iss",
        }
    }
}

/// The checks above, for a response that came back at `/oidc/callback/{callback_idp}` for a
/// login started with `pending_idp`, whose issuer is `issuer`.
pub(crate) fn check_authorization_response(
    callback_idp: &str,
    pending_idp: &str,
    issuer: &str,
    advertises_iss: bool,
    iss: Option<&str>,
) -> Result<(), MixUp> {
    if callback_idp != pending_idp {
        return Err(MixUp::WrongCallback);
    }
    match iss {
        // RFC 9207 §2.4: simple string comparison, no normalisation.
        Some(i) if i != issuer => Err(MixUp::WrongIssuer),
        None if advertises_iss => Err(MixUp::MissingIssuer),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "https://corp.example.com";

    #[test]
    fn code_delivered_at_another_idps_callback_is_refused() {
        let r = check_authorization_response("evil", "corp", H, false, None);
        assert_eq!(r, Err(MixUp::WrongCallback));
    }

    #[test]
    fn iss_of_another_issuer_is_refused_even_when_not_advertised() {
        for advertised in [true, false] {
            let r = check_authorization_response(
                "corp",
                "corp",
                H,
                advertised,
                Some("https://evil.example"),
            );
            assert_eq!(r, Err(MixUp::WrongIssuer));
        }
        // No normalisation: a trailing slash is another issuer.
        let r = check_authorization_response("corp", "corp", H, true, Some(&format!("{H}/")));
        assert_eq!(r, Err(MixUp::WrongIssuer));
    }

    #[test]
    fn advertised_iss_must_be_present() {
        let r = check_authorization_response("corp", "corp", H, true, None);
        assert_eq!(r, Err(MixUp::MissingIssuer));
    }

    #[test]
    fn matching_responses_pass() {
        assert_eq!(
            check_authorization_response("corp", "corp", H, true, Some(H)),
            Ok(())
        );
        assert_eq!(
            check_authorization_response("corp", "corp", H, false, None),
            Ok(())
        );
    }
}
