//! AWS Management Console sign-in for a custom identity broker ("Enable custom identity broker
//! access to the AWS console", IAM User Guide): temporary credentials → `getSigninToken` at the
//! partition's federation endpoint → a `login` URL the browser follows. The sign-in token is
//! valid for 15 minutes; the console session lasts `SessionDuration` (900–43,200 s, and only
//! for credentials that did not come from role chaining).

use super::Credentials;
use crate::config::Partition;
use std::time::{Duration, SystemTime};
use url::Url;

/// The federation endpoint's sign-in token lives 15 minutes (IAM User Guide).
pub(crate) const SIGNIN_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

#[derive(Debug)]
pub(crate) struct ConsoleLink {
    pub url: String,
    pub expires_at: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConsoleError {
    #[error("destination must be a path or a URL on the console host")]
    BadDestination,
    #[error("the AWS federation endpoint is unavailable")]
    Unavailable,
    #[error("the AWS federation endpoint refused the session")]
    Refused,
}

/// Where the console opens: a path on the partition's first console host, or a full URL whose
/// host is one of the partition's console hosts (no open redirect through the broker). The
/// parsed URL is what is checked — the text can mean another host after WHATWG parsing
/// (`/\t/evil.example` → `https://evil.example/`) — and hidden characters are refused first.
pub(crate) fn destination(
    partition: &Partition,
    requested: Option<&str>,
) -> Result<Url, ConsoleError> {
    let host = partition
        .console_hosts
        .first()
        .ok_or(ConsoleError::BadDestination)?;
    let base = Url::parse(&format!("https://{host}/")).map_err(|_| ConsoleError::BadDestination)?;
    let Some(r) = requested.filter(|r| !r.is_empty()) else {
        return Ok(base);
    };
    if r.len() > 2048 || crate::untrusted::has_hidden_chars(r) || r.contains('\\') {
        return Err(ConsoleError::BadDestination);
    }
    let url = if r.starts_with('/') && !r.starts_with("//") {
        base.join(r)
    } else {
        Url::parse(r)
    }
    .map_err(|_| ConsoleError::BadDestination)?;
    if on_console(partition, &url) {
        Ok(url)
    } else {
        Err(ConsoleError::BadDestination)
    }
}

/// HTTPS to one of the partition's console hosts, default port, no credentials in the URL.
fn on_console(partition: &Partition, url: &Url) -> bool {
    url.scheme() == "https"
        && url.username().is_empty()
        && url.password().is_none()
        && url.port().is_none()
        && url
            .host_str()
            .is_some_and(|h| partition.console_hosts.iter().any(|c| c == h))
}

pub(crate) struct SigninRequest<'a> {
    pub partition: &'a Partition,
    pub credentials: &'a Credentials,
    /// None for chained role credentials (the endpoint refuses SessionDuration for them).
    pub session_duration: Option<Duration>,
    pub destination: Url,
    /// Shown by AWS when the console session ends ("sign in again" link): the broker.
    pub issuer: &'a str,
    pub now: SystemTime,
}

pub(crate) async fn signin_url(
    http: &reqwest::Client,
    r: &SigninRequest<'_>,
) -> Result<ConsoleLink, ConsoleError> {
    let session = serde_json::json!({
        "sessionId": r.credentials.access_key_id,
        "sessionKey": r.credentials.secret_access_key.expose(),
        "sessionToken": r.credentials.session_token.expose(),
    })
    .to_string();
    let mut url = r.partition.federation_url.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("Action", "getSigninToken");
        if let Some(d) = r.session_duration {
            q.append_pair("SessionDuration", &d.as_secs().to_string());
        }
        q.append_pair("Session", &session);
    }
    // The URL carries the session's secret: errors are logged without it (`without_url`).
    let resp = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| {
            tracing::error!(error = %e.without_url(), "AWS federation endpoint unreachable");
            ConsoleError::Unavailable
        })?;
    let status = resp.status();
    if !status.is_success() {
        tracing::warn!(%status, "AWS federation endpoint refused getSigninToken");
        return Err(if status.is_server_error() {
            ConsoleError::Unavailable
        } else {
            ConsoleError::Refused
        });
    }
    #[derive(serde::Deserialize)]
    struct Token {
        #[serde(rename = "SigninToken")]
        signin_token: String,
    }
    let token: Token = resp.json().await.map_err(|e| {
        tracing::error!(error = %e.without_url(), "AWS federation endpoint answered something else than a SigninToken");
        ConsoleError::Unavailable
    })?;
    let mut login = r.partition.federation_url.clone();
    login
        .query_pairs_mut()
        .append_pair("Action", "login")
        .append_pair("Issuer", r.issuer)
        .append_pair("Destination", r.destination.as_str())
        .append_pair("SigninToken", &token.signin_token);
    Ok(ConsoleLink {
        url: login.to_string(),
        expires_at: r.now + SIGNIN_TOKEN_LIFETIME,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition() -> Partition {
        Partition {
            region: "us-east-1".into(),
            sts_endpoint: None,
            iam_endpoint: None,
            federation_url: Url::parse("https://signin.aws.amazon.com/federation").unwrap(),
            console_hosts: vec![
                "console.aws.amazon.com".into(),
                "us-east-1.console.aws.amazon.com".into(),
            ],
        }
    }

    #[test]
    fn destinations_stay_on_the_console() {
        let p = partition();
        assert_eq!(
            destination(&p, None).unwrap().as_str(),
            "https://console.aws.amazon.com/"
        );
        assert_eq!(
            destination(&p, Some("/s3/buckets?region=eu-west-1"))
                .unwrap()
                .as_str(),
            "https://console.aws.amazon.com/s3/buckets?region=eu-west-1"
        );
        assert!(destination(&p, Some("https://us-east-1.console.aws.amazon.com/ec2/")).is_ok());
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "http://console.aws.amazon.com/",
            "https://user@console.aws.amazon.com/",
            "https://console.aws.amazon.com.evil.example/",
            "javascript:alert(1)",
            "/\\evil.example",
            "https://console.aws.amazon.com:8443/",
        ] {
            assert_eq!(
                destination(&p, Some(bad)),
                Err(ConsoleError::BadDestination),
                "{bad}"
            );
        }
    }

    #[test]
    fn console_deep_link_with_tab_cannot_leave_the_console_host() {
        // WHATWG parsing drops the tab: `/\t/evil.example` joins to `https://evil.example/`.
        let p = partition();
        for bad in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            " //evil.example",
            "/%09/evil.example",
            "/s3/%0d%0aSet-Cookie:x",
            "/s3/buckets?search=a%20b",
            "/\u{85}/evil.example",
            "https://console.aws.amazon.com/\t/x",
            "\thttps://evil.example/",
        ] {
            assert_eq!(
                destination(&p, Some(bad)),
                Err(ConsoleError::BadDestination),
                "{bad:?}"
            );
        }
    }
}
