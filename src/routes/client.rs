//! The client's address as an extractor: `ClientIp` in a handler's arguments is the address
//! policies (`aws:SourceIp`), rate limits and the audit stream see.

use crate::client_addr::{ForwardedHeader, TrustedProxies};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::IpAddr;

/// The request's client address ([`client_ip`]); `None` only when the TCP peer is unknown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// As audit lines and rate-limit keys write it: `-` when unknown.
    pub(crate) fn label(self) -> String {
        crate::rate_limit::client_label(self.0)
    }
}

impl ClientIp {
    /// The extractor's answer, without a future (it never waits and never fails).
    pub(crate) fn extract_sync(req: &HttpRequest, _: &mut Payload) -> Self {
        // Without the app's proxy list (the broker always registers one) no forwarding header
        // is believed: the peer is the client.
        let fallback = TrustedProxies::default();
        let trusted = req.app_data::<web::Data<TrustedProxies>>();
        let trusted = trusted.map_or(&fallback, |t| t.get_ref());
        ClientIp(client_ip(req, trusted))
    }
}

/// The request's `User-Agent`, recorded with an issued session (what a revoking admin reads to
/// tell a laptop from a CI runner); never used for a decision.
pub(crate) fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
}

impl FromRequest for ClientIp {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(Ok(Self::extract_sync(req, payload)))
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy — then the walk of
/// [`crate::client_addr`] through the configured forwarding header. Policies (`aws:SourceIp`),
/// rate limits and the audit stream all use this one address.
pub(crate) fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let name = match trusted.header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let lines = req.headers().get_all(name).map(|v| v.to_str().ok());
    Some(trusted.client(peer, lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn ip(
        peer: &str,
        headers: &[(&str, &str)],
        trusted: &[&str],
        header: ForwardedHeader,
    ) -> String {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        for (n, v) in headers {
            req = req.append_header((*n, *v));
        }
        let trusted = TrustedProxies {
            nets: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            header,
        };
        client_ip(&req.to_http_request(), &trusted)
            .unwrap()
            .to_string()
    }

    #[test]
    fn only_the_configured_forwarding_header_is_read() {
        let h = [
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
            ("cf-connecting-ip", "198.51.100.3"),
            ("x-real-ip", "198.51.100.4"),
        ];
        let t = &["10.0.0.0/8"];
        assert_eq!(
            ip("10.0.0.5", &h, t, ForwardedHeader::XForwardedFor),
            "198.51.100.1"
        );
        assert_eq!(
            ip("10.0.0.5", &h, t, ForwardedHeader::Forwarded),
            "198.51.100.2"
        );
        assert_eq!(
            ip("203.0.113.9", &h, t, ForwardedHeader::XForwardedFor),
            "203.0.113.9"
        );
    }

    #[test]
    fn xff_multiple_header_lines_are_read_in_order() {
        let h = [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7, 10.0.0.4"),
        ];
        assert_eq!(
            ip(
                "10.0.0.5",
                &h,
                &["10.0.0.0/8"],
                ForwardedHeader::XForwardedFor
            ),
            "198.51.100.7"
        );
    }
}
