//! Why a SAML Response was refused. `code()` is the stable label (metrics, logs, `verify saml`
//! output, the reason class on the error page); the Display text is safe to show: it never
//! echoes attacker-controlled content, only which rule failed.

/// Why a SAML Response was refused (see the module: `code()` for machines, Display for people).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    /// Not the SAML the profile requires: bad base64, XML or structure.
    #[error("malformed SAML Response: {0}")]
    Malformed(&'static str),
    /// Larger than the cap, refused before parsing.
    #[error("SAML Response is larger than {0} characters")]
    Oversize(usize),
    /// A DTD, entity, processing instruction or other XML the strict pre-parse forbids.
    #[error("SAML Response contains forbidden XML: {0}")]
    ForbiddenXml(&'static str),
    /// No valid signature by a pinned key over what must be signed.
    #[error("SAML signature rejected: {0}")]
    BadSignature(&'static str),
    /// A signature or digest algorithm outside the allow list.
    #[error("algorithm not accepted: {0}")]
    WeakAlgorithm(&'static str),
    /// Zero or several assertions: exactly one is accepted (wrapping attacks hide in the others).
    #[error("SAML Response must carry exactly one assertion, found {0}")]
    AssertionCount(usize),
    /// The Issuer is not the IdP the Response was checked against.
    #[error("SAML Issuer is not the configured identity provider")]
    WrongIssuer,
    /// Addressed to another ACS URL.
    #[error("SAML Response Destination is not this broker's ACS URL")]
    WrongDestination,
    /// The bearer confirmation names another ACS URL.
    #[error("SAML SubjectConfirmationData Recipient is not this broker's ACS URL")]
    WrongRecipient,
    /// No Audience is this SP's entity id.
    #[error("SAML assertion is not addressed to this broker (Audience)")]
    WrongAudience,
    /// Before NotBefore (with the clock skew).
    #[error("SAML assertion is not valid yet")]
    NotYetValid,
    /// At or after NotOnOrAfter (with the clock skew).
    #[error("SAML assertion has expired")]
    Expired,
    /// IssueInstant in the future or older than the maximum response age.
    #[error("SAML IssueInstant is in the future or too old")]
    IssueInstant,
    /// No usable bearer SubjectConfirmation.
    #[error("SAML subject confirmation rejected: {0}")]
    SubjectConfirmation(&'static str),
    /// InResponseTo does not name this browser's pending AuthnRequest.
    #[error("SAML Response answers another sign-in request (InResponseTo)")]
    InResponseTo,
    /// No InResponseTo, and the IdP is not allowed to start sign-ins.
    #[error("unsolicited SAML Response: IdP-initiated sign-in is not allowed for this IdP")]
    Unsolicited,
    /// The assertion id is in the replay cache: each assertion signs in once.
    #[error("SAML assertion was already used")]
    Replay,
    /// Issued before the replay cache's memory began (a store restart): it may have been used.
    #[error("SAML assertion was issued before the broker's replay cache restarted; sign in again")]
    BeforeStoreEpoch,
    /// The IdP's metadata is past its `validUntil` (SAML metadata 2.3.1) and no refresh has
    /// replaced it: the certificates it pins are no longer vouched for.
    #[error("the identity provider's metadata has expired (validUntil); refresh it")]
    MetadataExpired,
    /// A non-Success StatusCode: the user cancelled, or the IdP refused (SAML core 3.2.2.2).
    /// Carries the most specific status the IdP gave, by its SAML name (`AuthnFailed`,
    /// `RequestDenied`, `Responder`…; `unknown` for any other value, which is never echoed).
    #[error("the identity provider reported a failed sign-in (status {0})")]
    Status(&'static str),
    /// No AuthnStatement: the assertion does not say the person authenticated.
    #[error("SAML assertion has no AuthnStatement")]
    NoAuthnStatement,
    /// An EncryptedAssertion refused before decryption (algorithms, lengths, structure).
    #[error("encrypted SAML assertion rejected: {0}")]
    Encryption(&'static str),
    /// Anything that failed from decrypting an EncryptedAssertion up to its signature check.
    /// Its public code is `encryption`, whatever went wrong: distinguishable failures after a
    /// decryption are an oracle on the plaintext (XML Encryption's CBC attack). The boxed
    /// error (the log, `verify saml`) says which step, never what the plaintext held.
    #[error("encrypted SAML assertion rejected after decryption: {0}")]
    Undecryptable(Box<SamlError>),
}

impl SamlError {
    /// The stable label: metrics, logs, `verify saml` and the error page's reason class.
    pub fn code(&self) -> &'static str {
        match self {
            SamlError::Malformed(_) => "malformed",
            SamlError::Oversize(_) => "oversize",
            SamlError::ForbiddenXml(_) => "forbidden_xml",
            SamlError::BadSignature(_) => "bad_signature",
            SamlError::WeakAlgorithm(_) => "weak_algorithm",
            SamlError::AssertionCount(_) => "assertion_count",
            SamlError::WrongIssuer => "wrong_issuer",
            SamlError::WrongDestination => "wrong_destination",
            SamlError::WrongRecipient => "wrong_recipient",
            SamlError::WrongAudience => "wrong_audience",
            SamlError::NotYetValid => "not_yet_valid",
            SamlError::Expired => "expired",
            SamlError::IssueInstant => "issue_instant",
            SamlError::SubjectConfirmation(_) => "subject_confirmation",
            SamlError::InResponseTo => "in_response_to",
            SamlError::Unsolicited => "unsolicited",
            SamlError::Replay => "replay",
            SamlError::BeforeStoreEpoch => "before_store_epoch",
            SamlError::MetadataExpired => "metadata_expired",
            SamlError::Status(_) => "status",
            SamlError::NoAuthnStatement => "no_authn_statement",
            SamlError::Encryption(_) | SamlError::Undecryptable(_) => "encryption",
        }
    }
}

/// The SAML name of a StatusCode URI (SAML core 3.2.2.2), for display; `unknown` for anything
/// else, so the page never shows text the Response chose.
pub(super) fn status_name(uri: &str) -> &'static str {
    const NAMES: [&str; 23] = [
        "Success",
        "Requester",
        "Responder",
        "VersionMismatch",
        "AuthnFailed",
        "InvalidAttrNameOrValue",
        "InvalidNameIDPolicy",
        "NoAuthnContext",
        "NoAvailableIDP",
        "NoPassive",
        "NoSupportedIDP",
        "PartialLogout",
        "ProxyCountExceeded",
        "RequestDenied",
        "RequestUnsupported",
        "RequestVersionDeprecated",
        "RequestVersionTooHigh",
        "RequestVersionTooLow",
        "ResourceNotRecognized",
        "TooManyResponses",
        "UnknownAttrProfile",
        "UnknownPrincipal",
        "UnsupportedBinding",
    ];
    uri.strip_prefix("urn:oasis:names:tc:SAML:2.0:status:")
        .and_then(|n| NAMES.iter().find(|k| **k == n))
        .copied()
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_spec_s_or_unknown() {
        let s = |n: &str| status_name(&format!("urn:oasis:names:tc:SAML:2.0:status:{n}"));
        assert_eq!(s("AuthnFailed"), "AuthnFailed");
        assert_eq!(s("RequestDenied"), "RequestDenied");
        assert_eq!(s("Responder"), "Responder");
        assert_eq!(s("<b>Hi</b>"), "unknown");
        assert_eq!(status_name("AuthnFailed"), "unknown");
        assert_eq!(
            SamlError::Status("AuthnFailed").to_string(),
            "the identity provider reported a failed sign-in (status AuthnFailed)"
        );
    }
}
