//! Why a SAML Response was refused. `code()` is the stable label (metrics, logs, `verify saml`
//! output, the reason class on the error page); the Display text is safe to show: it never
//! echoes attacker-controlled content, only which rule failed.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    #[error("malformed SAML Response: {0}")]
    Malformed(&'static str),
    #[error("SAML Response is larger than {0} characters")]
    Oversize(usize),
    #[error("SAML Response contains forbidden XML: {0}")]
    ForbiddenXml(&'static str),
    #[error("SAML signature rejected: {0}")]
    BadSignature(&'static str),
    #[error("algorithm not accepted: {0}")]
    WeakAlgorithm(&'static str),
    #[error("SAML Response must carry exactly one assertion, found {0}")]
    AssertionCount(usize),
    #[error("SAML Issuer is not the configured identity provider")]
    WrongIssuer,
    #[error("SAML Response Destination is not this broker's ACS URL")]
    WrongDestination,
    #[error("SAML SubjectConfirmationData Recipient is not this broker's ACS URL")]
    WrongRecipient,
    #[error("SAML assertion is not addressed to this broker (Audience)")]
    WrongAudience,
    #[error("SAML assertion is not valid yet")]
    NotYetValid,
    #[error("SAML assertion has expired")]
    Expired,
    #[error("SAML IssueInstant is in the future or too old")]
    IssueInstant,
    #[error("SAML subject confirmation rejected: {0}")]
    SubjectConfirmation(&'static str),
    #[error("SAML Response answers another sign-in request (InResponseTo)")]
    InResponseTo,
    #[error("unsolicited SAML Response: IdP-initiated sign-in is not allowed for this IdP")]
    Unsolicited,
    #[error("SAML assertion was already used")]
    Replay,
    /// Issued before the replay cache's memory began (a store restart): it may have been used.
    #[error("SAML assertion was issued before the broker's replay cache restarted; sign in again")]
    BeforeStoreEpoch,
    /// The IdP's metadata is past its `validUntil` (SAML metadata 2.3.1) and no refresh has
    /// replaced it: the certificates it pins are no longer vouched for.
    #[error("the identity provider's metadata has expired (validUntil); refresh it")]
    MetadataExpired,
    #[error("the identity provider reported a failed sign-in (Status)")]
    Status,
    #[error("SAML assertion has no AuthnStatement")]
    NoAuthnStatement,
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
            SamlError::Status => "status",
            SamlError::NoAuthnStatement => "no_authn_statement",
            SamlError::Encryption(_) | SamlError::Undecryptable(_) => "encryption",
        }
    }
}
