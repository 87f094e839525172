//! Verifying a SAML Response (Web Browser SSO profile, POST binding) into a trusted Assertion.
//!
//! Order matters, and each step only trusts what the previous one proved:
//! 1. the strict pre-parse ([`super::preparse`]) refuses DTDs, entities, PIs, trailing content,
//!    deep nesting, oversize input and any document without exactly one assertion;
//! 2. algorithms are checked against an allow list before xmlsec runs;
//! 3. xmlsec (through `crates/xmlsec-bridge`) verifies every signature against the IdP's
//!    pinned keys — loaded once per metadata load, never a key from the document's KeyInfo,
//!    which is not read — running only the algorithms the pre-parse allows, and returns *only
//!    the signed content* (the canonical bytes the digest covered); everything read about the
//!    assertion below comes from that verified copy (samael's schema parses it);
//! 4. the checks samael leaves to its caller (or runs against the wall clock, which `verify
//!    saml` cannot use) run here with an injected clock, each citing the section it implements.

use super::SamlError;
use super::decrypt::{self, Sealed};
use super::error::status_name;
use super::preparse::{ASSERTION_NS, Envelope, PROTOCOL_NS, check_algorithms, preparse};
use crate::clock::Clock;
use openssl::pkey::{PKey, Private};
use rolegate_xmlsec::PinnedKeys;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};
use samael::schema::{Assertion, Response};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// How long after its IssueInstant a Response is still accepted (plus skew). Browsers post
/// within seconds; five minutes covers a slow MFA prompt between IdP and post.
pub const MAX_RESPONSE_AGE: Duration = Duration::from_secs(300);

/// The only signature algorithm samael's one-time xmlsec initialisation (see [`xmlsec_ready`])
/// is asked to run.
const WARM_UP_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[AllowedSignatureAlgorithm::RsaSha256];

/// This broker as a service provider.
pub struct Sp<'a> {
    /// Its entity id: the Audience an assertion must name.
    pub entity_id: &'a str,
    /// Its ACS URL: the Destination and Recipient a Response must name.
    pub acs_url: &'a str,
    /// Decrypts EncryptedAssertions (RSA-OAEP key transport only).
    pub decryption_key: Option<&'a PKey<Private>>,
}

/// What we trust about one IdP: its entity ID and its pinned signing keys.
pub struct Trust<'a> {
    /// The Issuer a Response and its assertion must name.
    pub entity_id: &'a str,
    /// The only keys a signature may verify with (KeyInfo is never read).
    pub keys: &'a PinnedKeys,
    /// Accept SHA-1 signatures and digests.
    pub allow_sha1: bool,
    /// Tolerance for the IdP's clock.
    pub clock_skew: Duration,
}

/// Which sign-in request the Response must answer.
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// The ID of the pending AuthnRequest, taken from the store for this IdP.
    Request(&'a str),
    /// No pending request: only a Response without any InResponseTo is acceptable, and only
    /// when the IdP allows IdP-initiated sign-in.
    Unsolicited {
        /// The IdP's `allow_idp_initiated`.
        allowed: bool,
    },
    /// Offline diagnosis (`rolegate verify saml` without `--request-id`): skip only the
    /// InResponseTo comparison.
    Unchecked,
}

/// A Response that passed every check.
#[derive(Debug)]
pub struct Verified {
    /// The assertion, parsed from the bytes the signature covered (never from the document around them).
    pub assertion: Assertion,
    /// The replay-cache entry lives until this instant (Unix seconds): no earlier than the
    /// assertion's IssueInstant + [`MAX_RESPONSE_AGE`] + skew, nor any NotOnOrAfter checked.
    pub replay_until: i64,
}

/// Verifies a Response. A panic anywhere inside (a library slicing or subtracting on
/// attacker-sized input) is caught here and answered as a refusal: the boundary between
/// hostile bytes and the worker that serves everyone else.
pub fn verify(
    xml: &str,
    sp: &Sp<'_>,
    trust: &Trust<'_>,
    expect: Expect<'_>,
    clock: &dyn Clock,
) -> Result<Verified, SamlError> {
    // AssertUnwindSafe: everything captured is borrowed immutably; a panic leaves nothing
    // half-updated behind (libxml documents are owned by the frames it unwinds).
    catch_unwind(AssertUnwindSafe(|| {
        verify_unguarded(xml, sp, trust, expect, clock)
    }))
    .unwrap_or_else(|_| {
        tracing::error!("the SAML verifier panicked on a Response; refused");
        Err(SamlError::Malformed("the Response could not be processed"))
    })
}

fn verify_unguarded(
    xml: &str,
    sp: &Sp<'_>,
    trust: &Trust<'_>,
    expect: Expect<'_>,
    clock: &dyn Clock,
) -> Result<Verified, SamlError> {
    let facts = preparse(xml, (PROTOCOL_NS, b"Response"))?;
    check_algorithms(&facts, trust.allow_sha1)?;
    // The envelope as sent (read by the pre-parse): its root attributes, Issuer and Status.
    // The root element is the same one the signature (if any) covers.
    let envelope = &facts.envelope;
    if envelope.version.as_deref() != Some("2.0") {
        return Err(SamlError::Malformed("Version is not 2.0"));
    }
    // SAML core 3.2.2.2: a failed sign-in carries a non-Success top-level StatusCode, and
    // usually no assertion at all (a Cancel at the IdP): checked before the assertion count so
    // the user is told the IdP refused, not that the Response was malformed. Refused either way.
    match envelope.status.as_deref() {
        Some(SUCCESS) => {}
        Some(top) => {
            let second = envelope.sub_status.as_deref().map(status_name);
            return Err(SamlError::Status(
                second
                    .filter(|n| *n != "unknown")
                    .unwrap_or(status_name(top)),
            ));
        }
        None => return Err(SamlError::Malformed("no StatusCode")),
    }
    let count = facts.assertions + facts.encrypted_assertions;
    if count != 1 {
        return Err(SamlError::AssertionCount(count));
    }

    let assertion = if facts.encrypted_assertions == 1 {
        encrypted_assertion(xml, facts.root_signed, sp, trust)?
    } else {
        signed_assertion(xml, facts.root_signed, trust)?
    };

    check_response(envelope, sp, trust, clock)?;
    let replay_until = check_assertion(&assertion, sp, trust, expect, envelope, clock)?;
    Ok(Verified {
        assertion,
        replay_until,
    })
}

/// xmlsec initialised once for the process, its error reports kept off stderr.
///
/// Two libraries in one process use libxmlsec1: samael (which tests and benchmarks still use to
/// sign) initialises it lazily on first use, and `rolegate_xmlsec` initialises it only when no
/// one has. xmlsec must not be initialised twice (the second run rebuilds registries another
/// thread may be reading), so samael's initialisation is run first, here, by verifying a tiny
/// document signed at build time with a throwaway key trusted for nothing else
/// (`warmup/`); `rolegate_xmlsec` then finds xmlsec ready and installs its error callback after
/// the OpenSSL backend's own (printing) one.
fn xmlsec_ready() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(include_str!("warmup/cert.der.b64").trim())
            .expect("the warm-up certificate is valid base64");
        let warm = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            include_str!("warmup/signed.xml"),
            &[CertificateDer::from(der)],
            ReduceMode::PreDigest,
            Some(WARM_UP_ALGORITHMS),
        );
        if warm.is_err() {
            tracing::warn!("the xmlsec warm-up did not verify; xmlsec errors may reach stderr");
        }
        rolegate_xmlsec::capture_errors();
    });
}

/// Why an IdP's pinned certificates cannot verify signatures; its metadata is refused with
/// this text.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// A certificate OpenSSL cannot read a public key from.
    #[error("a signing certificate has no usable public key")]
    NoPublicKey,
    /// A key xmlsec refuses (an algorithm or size it does not verify with).
    #[error("a signing certificate's key cannot be used for XML signatures: {0}")]
    Xmlsec(rolegate_xmlsec::VerifyError),
}

/// The public keys of an IdP's pinned certificates, loaded into xmlsec once.
pub fn pinned_keys(certs: &[CertificateDer]) -> Result<PinnedKeys, PinError> {
    xmlsec_ready();
    let spki: Vec<Vec<u8>> = certs
        .iter()
        .map(|c| {
            openssl::x509::X509::from_der(c.der_data())
                .and_then(|x| x.public_key())
                .and_then(|k| k.public_key_to_der())
                .map_err(|_| PinError::NoPublicKey)
        })
        .collect::<Result<_, _>>()?;
    let keys = PinnedKeys::from_spki_der(spki.iter().map(Vec::as_slice));
    let _ = rolegate_xmlsec::take_errors();
    keys.map_err(PinError::Xmlsec)
}

/// xmlsec verification with the pinned keys only (a signature's KeyInfo is never read), xmlsec
/// itself allowed only the algorithms the pre-parse allows; returns the signed content only:
/// the exact canonical bytes the verified digest covered, and nothing else — what we read is
/// what was signed (comments are gone, so a `<!---->` spliced into a NameID cannot truncate
/// it). With several signatures (Response and Assertion both signed), the Response's content,
/// which holds the assertion.
fn reduce(xml: &str, trust: &Trust<'_>) -> Result<String, SamlError> {
    xmlsec_ready();
    // xmlsec reports each failed digest or signature (one per pinned key tried): kept off
    // stderr, and logged below as one event when the Response is refused.
    let _ = rolegate_xmlsec::take_errors();
    let allowed = super::preparse::signature_algorithms(trust.allow_sha1);
    let verified = rolegate_xmlsec::verify_signatures(xml, trust.keys, &allowed);
    let (reports, dropped) = rolegate_xmlsec::take_errors();
    let refused = |detail: String| {
        let xmlsec: Vec<String> = reports.iter().map(ToString::to_string).collect();
        tracing::info!(
            idp = trust.entity_id,
            %detail,
            ?xmlsec,
            xmlsec_dropped = dropped,
            "no valid signature by a pinned key"
        );
        SamlError::BadSignature("no valid signature by the IdP's certificate")
    };
    let mut contents: Vec<String> = verified
        .map_err(|e| refused(e.to_string()))?
        .into_iter()
        .map(|r| r.content)
        .collect();
    if contents.len() == 1 {
        return Ok(contents.remove(0));
    }
    // Several References verified: exactly one of them must be the Response (which contains
    // whatever else was signed); anything else is ambiguous.
    let mut responses: Vec<String> = contents
        .into_iter()
        .filter(|c| matches!(root_of(c), Ok(Root::Response)))
        .collect();
    if responses.len() == 1 {
        Ok(responses.remove(0))
    } else {
        Err(refused(format!(
            "{} signed Responses among several References",
            responses.len()
        )))
    }
}

/// The assertion the IdP signed, directly or through the Response. "The Response is signed"
/// means the document root carries its own ds:Signature (SAML core 3.2.2, 5.4.1): a signature placed
/// elsewhere that happens to reference the root is not the Response's signature.
fn signed_assertion(
    xml: &str,
    root_signed: bool,
    trust: &Trust<'_>,
) -> Result<Assertion, SamlError> {
    let signed = reduce(xml, trust)?;
    match root_of(&signed)? {
        Root::Response if !root_signed => Err(SamlError::BadSignature(
            "the signature over the Response is not the Response's own child",
        )),
        Root::Response => {
            let r: Response = signed
                .parse()
                .map_err(|_| SamlError::Malformed("signed Response does not parse"))?;
            r.assertion.ok_or(SamlError::BadSignature(
                "the signed Response has no assertion",
            ))
        }
        Root::Assertion => parse_assertion(&signed),
        Root::Other => Err(SamlError::BadSignature(
            "the signature covers neither the Response nor the Assertion",
        )),
    }
}

fn encrypted_assertion(
    xml: &str,
    root_signed: bool,
    sp: &Sp<'_>,
    trust: &Trust<'_>,
) -> Result<Assertion, SamlError> {
    let key = sp.decryption_key.ok_or(SamlError::Encryption(
        "encrypted assertion but no SP decryption key is configured",
    ))?;
    if root_signed {
        // The Response signature covers the EncryptedAssertion: decrypt the verified copy,
        // whose ciphertext is exactly what the IdP signed.
        let signed = reduce(xml, trust)?;
        if root_of(&signed)? != Root::Response {
            return Err(SamlError::BadSignature(
                "the signature does not cover the Response",
            ));
        }
        let parts = super::encrypted::read(&signed)?;
        let sealed = Sealed::read(&parts, decrypt::Envelope::Verified, key)?;
        let assertion = after_decryption(|| {
            let plain = sealed.open(key)?;
            preparse_assertion(&plain, trust)?;
            parse_assertion(&plain)
        })?;
        return Ok(assertion);
    }
    // Unsigned envelope (the pre-parse has run over it): the decrypted assertion must carry its
    // own valid signature, and only an AEAD cipher is decrypted (see `decrypt`).
    let parts = super::encrypted::read(xml)?;
    let sealed = Sealed::read(&parts, decrypt::Envelope::Unverified, key)?;
    let assertion = after_decryption(|| {
        let plain = sealed.open(key)?;
        preparse_assertion(&plain, trust)?;
        let signed = reduce(&plain, trust)?;
        if root_of(&signed)? != Root::Assertion {
            return Err(SamlError::BadSignature(
                "the signature does not cover the decrypted Assertion",
            ));
        }
        parse_assertion(&signed)
    })?;
    Ok(assertion)
}

/// Runs what follows a decryption, up to and including the plaintext's signature check, and
/// gives every failure (a panic too) the one public reason `encryption`: which step refused a
/// plaintext must not be observable (the XML Encryption oracle). The step stays in the boxed error for
/// the log; the plaintext and the keys never appear in it.
fn after_decryption<T>(f: impl FnOnce() -> Result<T, SamlError>) -> Result<T, SamlError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(SamlError::Undecryptable(Box::new(e))),
        Err(_) => Err(SamlError::Undecryptable(Box::new(SamlError::Malformed(
            "processing the decrypted assertion panicked",
        )))),
    }
}

/// The strict pre-parse over a decrypted assertion, as over the Response: nothing interprets
/// decrypted XML before it (DTDs, entities, a second assertion, algorithms).
fn preparse_assertion(plain: &str, trust: &Trust<'_>) -> Result<(), SamlError> {
    let facts = preparse(plain, (ASSERTION_NS, b"Assertion"))?;
    check_algorithms(&facts, trust.allow_sha1)?;
    if facts.assertions != 1 || facts.encrypted_assertions != 0 {
        return Err(SamlError::AssertionCount(
            facts.assertions + facts.encrypted_assertions,
        ));
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Root {
    Response,
    Assertion,
    Other,
}

fn root_of(xml: &str) -> Result<Root, SamlError> {
    let mut reader = quick_xml::NsReader::from_str(xml);
    loop {
        match reader.read_resolved_event() {
            Ok((ns, quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e))) => {
                let ns = match ns {
                    quick_xml::name::ResolveResult::Bound(n) => n.into_inner(),
                    _ => b"".as_slice(),
                };
                return Ok(match (ns, e.local_name().as_ref()) {
                    (PROTOCOL_NS, b"Response") => Root::Response,
                    (ASSERTION_NS, b"Assertion") => Root::Assertion,
                    _ => Root::Other,
                });
            }
            Ok((_, quick_xml::events::Event::Eof)) => return Ok(Root::Other),
            Ok(_) => {}
            Err(_) => return Err(SamlError::Malformed("verified content does not parse")),
        }
    }
}

fn parse_assertion(xml: &str) -> Result<Assertion, SamlError> {
    xml.parse()
        .map_err(|_| SamlError::Malformed("Assertion does not parse"))
}

fn unix(t: &chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp()
}

/// Checks on the Response element itself.
fn check_response(
    r: &Envelope,
    sp: &Sp<'_>,
    trust: &Trust<'_>,
    clock: &dyn Clock,
) -> Result<(), SamlError> {
    // SAML core 3.2.2: a Destination that is present must be the URL it was posted to.
    //
    // Deliberate deviation from bindings 3.5.5.2, which wants Destination on every signed
    // Response: deployed IdPs (OneLogin among them) sign Responses without one, and OpenSAML,
    // python3-saml and gosaml2 accept them. Nothing is lost by doing the same: what binds the
    // Response to this SP is checked on signed content whatever the envelope says — a bearer
    // confirmation whose Recipient is this ACS (`check_bearer`) and an Audience naming us
    // (`check_assertion`) are required of every Response.
    match r.destination.as_deref() {
        Some(d) if d == sp.acs_url => {}
        Some(_) => return Err(SamlError::WrongDestination),
        None => {}
    }
    // Profiles 4.1.4.2: the Response Issuer, when present, is the IdP.
    if r.issuer.as_deref().is_some_and(|i| i != trust.entity_id) {
        return Err(SamlError::WrongIssuer);
    }
    let issued = r
        .issue_instant
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .ok_or(SamlError::Malformed(
            "Response IssueInstant is missing or not a date",
        ))?;
    check_issue_instant(issued.timestamp(), trust, clock)
}

/// SAML core 1.3.3 (IssueInstant): not in the future beyond the skew, not older than the
/// accepted age.
fn check_issue_instant(t: i64, trust: &Trust<'_>, clock: &dyn Clock) -> Result<(), SamlError> {
    let now = clock.unix();
    let skew = crate::clock::secs(trust.clock_skew);
    if t > now + skew || t + crate::clock::secs(MAX_RESPONSE_AGE) + skew < now {
        return Err(SamlError::IssueInstant);
    }
    Ok(())
}

/// Everything about the (verified) assertion. Returns the replay-cache expiry.
fn check_assertion(
    a: &Assertion,
    sp: &Sp<'_>,
    trust: &Trust<'_>,
    expect: Expect<'_>,
    envelope: &Envelope,
    clock: &dyn Clock,
) -> Result<i64, SamlError> {
    let now = clock.unix();
    let skew = crate::clock::secs(trust.clock_skew);
    if a.version != "2.0" {
        return Err(SamlError::Malformed("Assertion Version is not 2.0"));
    }
    // SAML core 2.3.3 / profiles 4.1.4.2: the assertion's Issuer is the IdP.
    if a.issuer.value.as_deref() != Some(trust.entity_id) {
        return Err(SamlError::WrongIssuer);
    }
    check_issue_instant(unix(&a.issue_instant), trust, clock)?;

    // SAML core 2.5.1.2: NotBefore / NotOnOrAfter of the Conditions, with skew.
    let conditions = a.conditions.as_ref().ok_or(SamlError::WrongAudience)?;
    if let Some(nb) = &conditions.not_before
        && now + skew < unix(nb)
    {
        return Err(SamlError::NotYetValid);
    }
    let mut replay_until = now;
    if let Some(noa) = &conditions.not_on_or_after {
        if now - skew >= unix(noa) {
            return Err(SamlError::Expired);
        }
        replay_until = replay_until.max(unix(noa));
    }
    // SAML core 2.5.1.4: each AudienceRestriction must name us; profiles 4.1.4.2 requires one.
    let restrictions = conditions.audience_restrictions.as_deref().unwrap_or(&[]);
    if restrictions.is_empty()
        || !restrictions
            .iter()
            .all(|r| r.audience.iter().any(|aud| aud == sp.entity_id))
    {
        return Err(SamlError::WrongAudience);
    }

    // Profiles 4.1.4.2: a Subject with a NameID.
    let subject = a
        .subject
        .as_ref()
        .ok_or(SamlError::Malformed("assertion has no Subject"))?;
    if subject
        .name_id
        .as_ref()
        .is_none_or(|n| n.value.trim().is_empty())
    {
        return Err(SamlError::Malformed("assertion has no NameID"));
    }

    let request_id = check_in_response_to(a, envelope, expect)?;
    replay_until = replay_until.max(check_bearer(a, sp, request_id, now, skew)?);
    // SAML profiles 4.1.4.5: the ID is remembered as long as the assertion could be accepted
    // again. Whatever its confirmations and Conditions say (another bearer confirmation may
    // outlive the one checked first, and Conditions may have no NotOnOrAfter), acceptance ends
    // MAX_RESPONSE_AGE (+ skew, added below) after its IssueInstant: check_issue_instant.
    replay_until = replay_until.max(unix(&a.issue_instant) + crate::clock::secs(MAX_RESPONSE_AGE));

    // Profiles 4.1.4.2: at least one AuthnStatement; SessionNotOnOrAfter bounds the session.
    let authn = a.authn_statements.as_deref().unwrap_or(&[]);
    if authn.is_empty() {
        return Err(SamlError::NoAuthnStatement);
    }
    if authn.iter().any(|s| {
        s.session_not_on_or_after
            .as_ref()
            .is_some_and(|t| now - skew >= unix(t))
    }) {
        return Err(SamlError::Expired);
    }
    Ok(replay_until + skew)
}

/// Profiles 4.1.4.3: a solicited Response answers exactly our pending request; an unsolicited
/// one carries no InResponseTo at all. Returns the ID the bearer confirmation must name.
fn check_in_response_to<'e>(
    a: &Assertion,
    envelope: &Envelope,
    expect: Expect<'e>,
) -> Result<Option<&'e str>, SamlError> {
    let bearer_ids = bearer_confirmations(a).filter_map(|d| d.in_response_to.as_deref());
    let any_id = envelope.in_response_to.is_some() || bearer_ids.clone().next().is_some();
    match expect {
        Expect::Request(id) => {
            if !any_id {
                return Err(SamlError::Unsolicited);
            }
            if envelope.in_response_to.as_deref().is_some_and(|r| r != id) {
                return Err(SamlError::InResponseTo);
            }
            Ok(Some(id))
        }
        Expect::Unsolicited { allowed } => {
            if any_id {
                // It answers a request we do not hold (expired, replayed, or another user's).
                return Err(SamlError::InResponseTo);
            }
            if !allowed {
                return Err(SamlError::Unsolicited);
            }
            Ok(None)
        }
        // Offline, without the request ID: an InResponseTo on the envelope must still agree
        // with the one the signed assertion carries (the outer value is unsigned when only the
        // assertion is).
        Expect::Unchecked => match envelope.in_response_to.as_deref() {
            Some(outer)
                if !bearer_confirmations(a).any(|d| d.in_response_to.as_deref() == Some(outer)) =>
            {
                Err(SamlError::InResponseTo)
            }
            _ => Ok(None),
        },
    }
}

fn bearer_confirmations(
    a: &Assertion,
) -> impl Iterator<Item = &samael::schema::SubjectConfirmationData> + Clone {
    a.subject
        .iter()
        .flat_map(|s| s.subject_confirmations.iter().flatten())
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .filter_map(|c| c.subject_confirmation_data.as_ref())
}

/// Profiles 4.1.4.2: at least one bearer SubjectConfirmation whose data has Recipient = ACS,
/// a NotOnOrAfter in the future and (solicited) InResponseTo = the request; one that satisfies
/// every rule is enough, whatever the others say. Returns that confirmation's NotOnOrAfter.
///
/// Deliberate deviation: the profile says bearer SubjectConfirmationData has no NotBefore;
/// deployed IdPs send one, and like OpenSAML it is honoured as a lower bound (with skew)
/// rather than a reason to refuse — a confirmation is never accepted before it.
fn check_bearer(
    a: &Assertion,
    sp: &Sp<'_>,
    request_id: Option<&str>,
    now: i64,
    skew: i64,
) -> Result<i64, SamlError> {
    let has_bearer = a
        .subject
        .iter()
        .flat_map(|s| s.subject_confirmations.iter().flatten())
        .any(|c| c.method.as_deref() == Some(BEARER));
    if !has_bearer {
        return Err(SamlError::SubjectConfirmation(
            "no bearer SubjectConfirmation",
        ));
    }
    let mut first_error = None;
    for d in bearer_confirmations(a) {
        let result = (|| {
            if let Some(nb) = &d.not_before
                && now + skew < unix(nb)
            {
                return Err(SamlError::NotYetValid);
            }
            let noa = d
                .not_on_or_after
                .as_ref()
                .ok_or(SamlError::SubjectConfirmation(
                    "bearer SubjectConfirmationData has no NotOnOrAfter",
                ))?;
            if now - skew >= unix(noa) {
                return Err(SamlError::Expired);
            }
            if d.recipient.as_deref() != Some(sp.acs_url) {
                return Err(SamlError::WrongRecipient);
            }
            if let Some(id) = request_id
                && d.in_response_to.as_deref() != Some(id)
            {
                return Err(SamlError::InResponseTo);
            }
            Ok(unix(noa))
        })();
        match result {
            Ok(t) => return Ok(t),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(SamlError::SubjectConfirmation(
        "bearer SubjectConfirmation has no SubjectConfirmationData",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_after_decryption_is_the_one_public_refusal() {
        let e = after_decryption::<()>(|| panic!("a library sliced past the end"))
            .expect_err("a panic is a refusal");
        assert_eq!(e.code(), "encryption");
        let e = after_decryption::<()>(|| Err(SamlError::ForbiddenXml("DOCTYPE"))).unwrap_err();
        assert_eq!(e.code(), "encryption", "the step stays in the detail only");
        assert!(e.to_string().contains("DOCTYPE"));
    }
}
