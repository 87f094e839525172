//! `rolegate sign`: SigV4 for IAM database authentication to Amazon Neptune, made with a role's
//! brokered credentials (or the standard AWS environment variables) by the aws-sigv4 crate —
//! the AWS SDK's own signer — so the result is what botocore's `SigV4Auth` computes for the
//! same request (tests/it/sign.rs compares them byte for byte).
//!
//! Headers mode signs `host`, `x-amz-date` and the session token sent as
//! `X-Amz-Security-Token`, over the empty body's hash, as botocore does; URL mode puts the same
//! in the query string for clients that cannot set WebSocket handshake headers. Everything is
//! checked before anything is printed: a URL that is not a Neptune endpoint gets an error and
//! an empty stdout.

use super::client::{self, Result, fail};
use crate::present::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;
use std::time::{Duration, SystemTime};
use url::Url;

/// SigV4's unreserved characters (RFC 3986): everything else is percent-encoded, as in
/// botocore's `percent_encode_sequence`.
const SIGV4: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The Neptune paths IAM authentication is for: Gremlin (WebSocket or HTTP), openCypher,
/// SPARQL, and the status endpoints.
const NEPTUNE_PATHS: &[&str] = &[
    "/gremlin",
    "/openCypher",
    "/sparql",
    "/status",
    "/gremlin/status",
    "/openCypher/status",
    "/sparql/status",
];

/// Where a presigned URL stops working, by default (`--expires`).
pub(super) const DEFAULT_EXPIRES: u64 = 300;
/// SigV4's own ceiling on a presigned URL's lifetime: seven days.
const MAX_EXPIRES: u64 = 7 * 24 * 3600;

#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum Format {
    /// `Name: value` lines to send with the request.
    Headers,
    /// A presigned URL (the signature in its query string).
    Url,
    /// `{"method", "url", "headers": {…}}`.
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum CredentialSource {
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    Env,
}

/// A request to a Neptune endpoint, checked.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NeptuneRequest {
    /// The URL as given (wss:// or https://).
    url: Url,
    /// The same with https://: what is signed (the scheme is not part of SigV4's request).
    signed: Url,
    /// From the host name, unless given.
    region: String,
}

/// Why a URL is not something `sign` signs.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum NotNeptune {
    #[error("`{0}` is not a URL")]
    Unparsable(String),
    #[error("{0}: Neptune endpoints are https:// or wss://")]
    Scheme(String),
    #[error(
        "{0}: not a Neptune endpoint (<name>.<cluster-id>.<region>.neptune.amazonaws.com[.cn])"
    )]
    Host(String),
    #[error("{url}: the path must be one of {}", NEPTUNE_PATHS.join(", "))]
    Path { url: String },
    #[error("`{0}` is not an AWS region")]
    Region(String),
    #[error("{0}: user names, passwords and fragments are never part of a Neptune URL")]
    Extra(String),
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, SIGV4).to_string()
}

fn is_region(r: &str) -> bool {
    // us-east-1, eu-central-2, us-gov-west-1, cn-northwest-1, ap-southeast-5 …
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

impl NeptuneRequest {
    /// Checks `raw` is a Neptune endpoint URL and finds its region (or takes `region`).
    pub(super) fn parse(raw: &str, region: Option<&str>) -> std::result::Result<Self, NotNeptune> {
        let url = Url::parse(raw).map_err(|_| NotNeptune::Unparsable(raw.to_string()))?;
        let shown = url.as_str().to_string();
        if !matches!(url.scheme(), "https" | "wss") {
            return Err(NotNeptune::Scheme(shown));
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(NotNeptune::Extra(shown));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let labels: Vec<&str> = host.split('.').collect();
        // <name>.<cluster-…|id>.<region>.neptune.amazonaws.com(.cn)
        let suffix = if host.ends_with(".neptune.amazonaws.com") {
            3
        } else if host.ends_with(".neptune.amazonaws.com.cn") {
            4
        } else {
            return Err(NotNeptune::Host(shown));
        };
        if labels.len() < suffix + 3 || labels.iter().any(|l| l.is_empty()) {
            return Err(NotNeptune::Host(shown));
        }
        let from_host = labels[labels.len() - suffix - 1];
        if !NEPTUNE_PATHS.contains(&url.path()) {
            return Err(NotNeptune::Path { url: shown });
        }
        let region = region.unwrap_or(from_host).to_string();
        if !is_region(&region) {
            return Err(NotNeptune::Region(region));
        }
        let mut url = url;
        if let Some(query) = url.query() {
            // The query as SigV4 canonicalises it (RFC 3986 unreserved characters only), so the
            // URL printed is byte for byte the one signed: a server re-encodes what it receives
            // that way before it checks the signature.
            let canonical = url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| format!("{}={}", encode(&k), encode(&v)))
                .collect::<Vec<_>>()
                .join("&");
            url.set_query(Some(&canonical));
        }
        let mut signed = url.clone();
        if url.scheme() == "wss" {
            // wss and https share the default port 443, so the Host header is the same.
            signed
                .set_scheme("https")
                .map_err(|()| NotNeptune::Scheme(shown.clone()))?;
        }
        Ok(NeptuneRequest {
            url,
            signed,
            region,
        })
    }

    /// The Host header: the port only when not the scheme's default, as every SigV4 signer does.
    fn host(&self) -> String {
        let host = self.signed.host_str().unwrap_or_default();
        match self.signed.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }
}

/// The signature, in the shape each format prints.
#[derive(Debug)]
pub(super) struct Signed {
    method: String,
    /// The URL to use: as given, or presigned.
    url: String,
    /// Headers to send, in order (Host first).
    headers: Vec<(String, String)>,
}

/// Credentials as SigV4 needs them.
pub(super) struct Keys {
    pub(super) access_key_id: String,
    pub(super) secret_access_key: String,
    pub(super) session_token: Option<String>,
}

impl From<&Credentials> for Keys {
    fn from(c: &Credentials) -> Keys {
        Keys {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.expose().clone(),
            session_token: Some(c.session_token.expose().clone()),
        }
    }
}

/// The standard AWS environment variables (`--credentials env`).
fn keys_from_env(env: impl Fn(&str) -> Option<String>) -> Result<Keys> {
    let need = |name: &str| {
        env(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| fail(format!("--credentials env: {name} is not set")))
    };
    Ok(Keys {
        access_key_id: need("AWS_ACCESS_KEY_ID")?,
        secret_access_key: need("AWS_SECRET_ACCESS_KEY")?,
        session_token: env("AWS_SESSION_TOKEN").filter(|v| !v.is_empty()),
    })
}

/// Signs `method req` for `service` at `time`: headers, or with `presign` a URL valid that long.
pub(super) fn sign_request(
    req: &NeptuneRequest,
    method: &str,
    service: &str,
    keys: &Keys,
    time: SystemTime,
    presign: Option<Duration>,
) -> Result<Signed> {
    let identity = aws_credential_types::Credentials::new(
        &keys.access_key_id,
        &keys.secret_access_key,
        keys.session_token.clone(),
        None,
        "rolegate",
    )
    .into();
    let mut settings = SigningSettings::default();
    if let Some(expires) = presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&req.region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| fail(format!("cannot sign: {e}")))?
        .into();
    let host = req.host();
    let signable = SignableRequest::new(
        method,
        req.signed.as_str(),
        std::iter::once(("host", host.as_str())),
        SignableBody::Bytes(b""),
    )
    .map_err(|e| fail(format!("cannot sign {}: {e}", req.url)))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| fail(format!("cannot sign {}: {e}", req.url)))?
        .into_parts();
    let (headers, query) = instructions.into_parts();
    let mut out = vec![("Host".to_string(), host.clone())];
    if presign.is_none() {
        for h in &headers {
            out.push((header_name(h.name()), h.value().to_string()));
        }
        return Ok(Signed {
            method: method.to_string(),
            url: req.url.as_str().to_string(),
            headers: out,
        });
    }
    // botocore's order: the request's own query, then the auth parameters, the signature last.
    let mut url = req.url.as_str().to_string();
    let mut sep = if req.url.query().is_some() { '&' } else { '?' };
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ] {
        if let Some((_, v)) = query.iter().find(|(n, _)| *n == name) {
            url.push(sep);
            url.push_str(name);
            url.push('=');
            url.push_str(&encode(v));
            sep = '&';
        }
    }
    Ok(Signed {
        method: method.to_string(),
        url,
        headers: out,
    })
}

/// The SDK names headers in lower case; print them as Neptune's documentation and botocore do.
fn header_name(lower: &str) -> String {
    match lower {
        "authorization" => "Authorization".into(),
        "x-amz-date" => "X-Amz-Date".into(),
        "x-amz-security-token" => "X-Amz-Security-Token".into(),
        other => other.to_string(),
    }
}

/// The text `format` prints for `signed` (ends with a newline).
pub(super) fn render(signed: &Signed, format: Format) -> String {
    match format {
        Format::Headers => signed
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\n"))
            .collect(),
        Format::Url => format!("{}\n", signed.url),
        Format::Json => {
            let headers: serde_json::Map<String, serde_json::Value> = signed
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), json!(v)))
                .collect();
            format!(
                "{}\n",
                json!({"method": signed.method, "url": signed.url, "headers": headers})
            )
        }
    }
}

/// What `rolegate sign` was asked.
pub(super) struct SignArgs<'a> {
    pub(super) url: &'a str,
    pub(super) service: &'a str,
    pub(super) region: Option<&'a str>,
    pub(super) method: &'a str,
    pub(super) format: Format,
    pub(super) expires: u64,
}

/// `rolegate sign`: checks everything, gets the credentials (`credentials` is called only
/// once the request is known good), signs, prints once.
pub(super) fn run(a: &SignArgs<'_>, credentials: impl FnOnce() -> Result<Keys>) -> Result<()> {
    if a.service != "neptune-db" {
        return Err(fail(format!(
            "--service {}: only neptune-db (Neptune IAM database authentication) is signed",
            a.service
        )));
    }
    let method = a.method.to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "POST") {
        return Err(fail(format!("--method {}: use GET or POST", a.method)));
    }
    if a.expires == 0 || a.expires > MAX_EXPIRES {
        return Err(fail(format!(
            "--expires {}: between 1 and {MAX_EXPIRES} seconds",
            a.expires
        )));
    }
    let req = NeptuneRequest::parse(a.url, a.region).map_err(|e| fail(e.to_string()))?;
    let keys = credentials()?;
    let presign = matches!(a.format, Format::Url).then(|| Duration::from_secs(a.expires));
    let signed = sign_request(&req, &method, a.service, &keys, SystemTime::now(), presign)?;
    use std::io::Write;
    std::io::stdout()
        .lock()
        .write_all(render(&signed, a.format).as_bytes())?;
    Ok(())
}

/// `--credentials env`.
pub(super) fn env_keys() -> Result<Keys> {
    keys_from_env(|n| std::env::var(n).ok())
}

/// `--role R`: the brokered credentials, from the same cache as `rolegate credentials`.
pub(super) fn role_keys(broker: &Url, role: &str, duration: Option<u64>) -> Result<Keys> {
    client::credentials::get(broker, role, duration).map(|c| Keys::from(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neptune_endpoints_and_their_regions() {
        for (url, region) in [
            (
                "wss://db.cluster-abc123xyz.us-east-1.neptune.amazonaws.com:8182/gremlin",
                "us-east-1",
            ),
            (
                "https://db.cluster-ro-abc123.eu-central-1.neptune.amazonaws.com:8182/openCypher",
                "eu-central-1",
            ),
            (
                "https://i-1.abc123.cn-north-1.neptune.amazonaws.com.cn:8182/sparql",
                "cn-north-1",
            ),
            (
                "https://db.cluster-abc.us-gov-west-1.neptune.amazonaws.com:8182/openCypher?query=MATCH%20(n)%20RETURN%20n",
                "us-gov-west-1",
            ),
        ] {
            let r = NeptuneRequest::parse(url, None).unwrap();
            assert_eq!(r.region, region, "{url}");
            assert_eq!(r.signed.scheme(), "https");
            assert!(r.host().ends_with(":8182"), "{url}");
        }
        let r = NeptuneRequest::parse(
            "wss://db.cluster-abc.us-east-1.neptune.amazonaws.com:8182/gremlin",
            Some("us-west-2"),
        )
        .unwrap();
        assert_eq!(r.region, "us-west-2");
    }

    #[test]
    fn a_url_that_is_not_a_neptune_endpoint_is_refused() {
        for url in [
            "https://example.com:8182/gremlin",
            "https://neptune.amazonaws.com.attacker.example/gremlin",
            "https://db.cluster-abc.us-east-1.neptune.amazonaws.com.evil.example:8182/gremlin",
            "https://us-east-1.neptune.amazonaws.com/gremlin",
            "http://db.cluster-abc.us-east-1.neptune.amazonaws.com:8182/gremlin",
            "ws://db.cluster-abc.us-east-1.neptune.amazonaws.com:8182/gremlin",
            "https://db.cluster-abc.us-east-1.neptune.amazonaws.com:8182/admin",
            "https://u:p@db.cluster-abc.us-east-1.neptune.amazonaws.com:8182/gremlin",
            "https://db.cluster-abc.Not_A_Region.neptune.amazonaws.com:8182/gremlin",
            "not a url",
        ] {
            assert!(NeptuneRequest::parse(url, None).is_err(), "{url}");
        }
    }

    #[test]
    fn env_credentials_need_both_keys_and_take_the_token_when_set() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                vars.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(keys_from_env(env(&[("AWS_ACCESS_KEY_ID", "AKIA")])).is_err());
        let k = keys_from_env(env(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]))
        .unwrap();
        assert_eq!(k.session_token, None);
    }
}
