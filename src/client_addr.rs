//! Which address a request came from, when proxies stand in front of the broker.
//!
//! The address feeds `aws:SourceIp` in policies and every per-IP rate limit, so it must be one
//! the client cannot choose. Each proxy appends the address it saw to the forwarding header;
//! everything left of the first hop written by a proxy we do not trust was written by whoever
//! sent the request, and is never believed. So the walk starts at the direct TCP peer and goes
//! right to left, through trusted proxies only:
//!
//! - the client is the first hop that is not a trusted proxy;
//! - a hop that cannot be parsed (or is obfuscated, RFC 7239 §6.3) ends the walk: the client is
//!   the trusted address just right of it (at worst the direct peer), never anything left of it;
//! - if every hop is a trusted proxy, the leftmost hop.
//!
//! Only one header is ever read (`[server] forwarded_header`): a client can write the other,
//! and no proxy would clean it.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr};

/// The forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, AWS ALB, Azure Application Gateway, Cloudflare, Envoy …).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=…` (HAProxy `option forwarded`, some service meshes).
    Forwarded,
}

/// `[server] trusted_proxies` and the header they write.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    pub nets: Vec<IpNet>,
    pub header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The client's address, given the direct peer and the forwarding header's lines in the
    /// order they arrived (`None` for a line that is not visible ASCII).
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        lines: impl IntoIterator<Item = Option<&'a str>>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        // Without trusted proxies, nobody's header is believed.
        if self.is_empty() || !self.contains(&peer) {
            return peer;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => hops(lines, xff_hop),
            ForwardedHeader::Forwarded => hops(lines, forwarded_hop),
        };
        self.walk(peer, &hops)
    }

    /// Right to left from the (trusted) peer; see the module comment.
    fn walk(&self, peer: IpAddr, hops: &[Option<IpAddr>]) -> IpAddr {
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = hop else {
                return client;
            };
            client = *ip;
            if !self.contains(ip) {
                return client;
            }
        }
        client
    }
}

/// Every list element of every line, in order. An unreadable line is one unparsable hop, so
/// the walk stops there rather than skipping it.
fn hops<'a>(
    lines: impl IntoIterator<Item = Option<&'a str>>,
    parse: fn(&str) -> Option<IpAddr>,
) -> Vec<Option<IpAddr>> {
    let mut out = Vec::new();
    for line in lines {
        let Some(line) = line else {
            out.push(None);
            continue;
        };
        for element in split_outside_quotes(line, ',') {
            // RFC 9110 §5.6.1: empty list elements are ignored.
            if !element.trim().is_empty() {
                out.push(parse(element).map(|ip| ip.to_canonical()));
            }
        }
    }
    out
}

/// One `X-Forwarded-For` hop: `203.0.113.5`, `203.0.113.5:51234`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:443`, with optional surrounding whitespace.
fn xff_hop(hop: &str) -> Option<IpAddr> {
    node(hop.trim())
}

/// An address with an optional port, as proxies write it (also RFC 7239's node syntax,
/// whose obfuscated `_port` is accepted and ignored).
fn node(s: &str) -> Option<IpAddr> {
    if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    // `a.b.c.d:port`; a bare IPv6 address has already parsed above.
    let (host, port) = s.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(p: &str) -> bool {
    let digits = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    let obfuscated = p.len() > 1
        && p.starts_with('_')
        && p[1..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    (digits && p.parse::<u16>().is_ok()) || obfuscated
}

/// One RFC 7239 forwarded-element: `for=192.0.2.60;proto=https;by=…`. Only `for` matters; an
/// element without it, with it twice, or naming `unknown`/`_hidden` is unparsable.
fn forwarded_hop(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_outside_quotes(element, ';') {
        if pair.trim().is_empty() {
            continue;
        }
        let (name, value) = pair.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        found = Some(unquote(value.trim())?);
    }
    node(&found?)
}

/// A token or a quoted-string (RFC 9110 §5.6.4, with `\` escapes).
fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return (!v.is_empty() && !v.contains('"')).then(|| v.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Splits on `sep` except inside a quoted-string (where `\` escapes the next character).
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies {
            nets: nets
                .iter()
                .map(|n| {
                    n.parse()
                        .unwrap_or_else(|_| IpNet::from(n.parse::<IpAddr>().unwrap()))
                })
                .collect(),
            header,
        }
    }

    fn xff(peer: &str, lines: &[&str], trusted: &[&str]) -> String {
        let t = proxies(trusted, ForwardedHeader::XForwardedFor);
        t.client(peer.parse().unwrap(), lines.iter().map(|l| Some(*l)))
            .to_string()
    }

    fn fwd(peer: &str, lines: &[&str], trusted: &[&str]) -> String {
        let t = proxies(trusted, ForwardedHeader::Forwarded);
        t.client(peer.parse().unwrap(), lines.iter().map(|l| Some(*l)))
            .to_string()
    }

    #[test]
    fn header_ignored_without_trusted_proxies() {
        assert_eq!(xff("203.0.113.9", &["1.2.3.4"], &[]), "203.0.113.9");
    }

    #[test]
    fn header_ignored_from_an_untrusted_peer() {
        assert_eq!(
            xff("203.0.113.9", &["1.2.3.4"], &["10.0.0.0/8"]),
            "203.0.113.9"
        );
    }

    #[test]
    fn forged_xff_hop_left_of_untrusted_is_ignored() {
        assert_eq!(
            xff(
                "10.0.0.5",
                &["6.6.6.6, 198.51.100.7, 10.0.0.4"],
                &["10.0.0.0/8"]
            ),
            "198.51.100.7"
        );
    }

    #[test]
    fn forged_xff_hop_left_of_ip_port_hop_is_ignored() {
        // The old parser dropped `ip:port` and believed the client-written leftmost hop.
        assert_eq!(
            xff(
                "10.0.0.5",
                &["6.6.6.6, 198.51.100.7:51234"],
                &["10.0.0.0/8"]
            ),
            "198.51.100.7"
        );
    }

    #[test]
    fn forged_xff_hop_left_of_unparsable_hop_is_ignored() {
        // The walk stops at `junk`: the client is the trusted hop right of it, never 6.6.6.6.
        assert_eq!(
            xff("10.0.0.5", &["6.6.6.6, junk, 10.1.1.1"], &["10.0.0.0/8"]),
            "10.1.1.1"
        );
        // At worst the direct peer.
        assert_eq!(
            xff("10.0.0.5", &["6.6.6.6, unknown"], &["10.0.0.0/8"]),
            "10.0.0.5"
        );
        assert_eq!(
            xff("10.0.0.5", &["6.6.6.6, 1.2.3.4:99999"], &["10.0.0.0/8"]),
            "10.0.0.5"
        );
    }

    #[test]
    fn xff_all_hops_trusted_gives_the_leftmost() {
        assert_eq!(
            xff("10.0.0.5", &["10.9.9.9, 10.1.1.1"], &["10.0.0.0/8"]),
            "10.9.9.9"
        );
        // A trusted proxy that sent no header: the proxy itself.
        assert_eq!(xff("10.0.0.5", &[], &["10.0.0.0/8"]), "10.0.0.5");
    }

    #[test]
    fn xff_from_nginx_proxy_add_x_forwarded_for() {
        // `$proxy_add_x_forwarded_for` appends `$remote_addr` to what the client sent.
        assert_eq!(
            xff("10.0.0.2", &["6.6.6.6, 198.51.100.7"], &["10.0.0.2"]),
            "198.51.100.7"
        );
        // Two nginx layers, the client forging two hops.
        assert_eq!(
            xff(
                "10.0.0.2",
                &["10.0.0.9,6.6.6.6 , 2001:db8::7,10.0.0.3"],
                &["10.0.0.0/24"]
            ),
            "2001:db8::7"
        );
    }

    #[test]
    fn xff_from_aws_alb_bare_v4_and_v6() {
        assert_eq!(
            xff("172.31.5.6", &["203.0.113.7"], &["172.31.0.0/16"]),
            "203.0.113.7"
        );
        assert_eq!(
            xff("172.31.5.6", &["6.6.6.6, 2001:db8::42"], &["172.31.0.0/16"]),
            "2001:db8::42"
        );
    }

    #[test]
    fn xff_ip_port_form_from_azure_appgw_is_parsed() {
        assert_eq!(
            xff("10.1.0.4", &["203.0.113.5:51234"], &["10.1.0.0/24"]),
            "203.0.113.5"
        );
        assert_eq!(
            xff(
                "10.1.0.4",
                &["6.6.6.6, [2001:db8::1]:443"],
                &["10.1.0.0/24"]
            ),
            "2001:db8::1"
        );
        assert_eq!(
            xff("10.1.0.4", &[" [2001:db8::2] "], &["10.1.0.0/24"]),
            "2001:db8::2"
        );
    }

    #[test]
    fn xff_from_cloudflare_walks_through_its_ranges() {
        // Cloudflare appends the client to X-Forwarded-For; CF-Connecting-IP is never read.
        assert_eq!(
            xff(
                "10.0.0.2",
                &["6.6.6.6, 198.51.100.23, 173.245.48.5"],
                &["10.0.0.2", "173.245.48.0/20"]
            ),
            "198.51.100.23"
        );
    }

    #[test]
    fn xff_multiple_header_lines_are_one_list_in_order() {
        assert_eq!(
            xff(
                "10.0.0.5",
                &["6.6.6.6", "198.51.100.7", "10.0.0.4"],
                &["10.0.0.0/8"]
            ),
            "198.51.100.7"
        );
        // An unreadable line is an unparsable hop: the walk stops there.
        let t = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let ip = t.client(
            "10.0.0.5".parse().unwrap(),
            [Some("6.6.6.6"), None, Some("10.0.0.4")],
        );
        assert_eq!(ip.to_string(), "10.0.0.4");
    }

    #[test]
    fn xff_ipv4_mapped_v6_peer_and_hops_are_v4() {
        assert_eq!(
            xff("::ffff:10.0.0.5", &["::ffff:198.51.100.7"], &["10.0.0.0/8"]),
            "198.51.100.7"
        );
    }

    #[test]
    fn forwarded_header_for_forms_are_parsed() {
        let t = &["10.0.0.0/8"];
        assert_eq!(fwd("10.0.0.5", &["for=198.51.100.7"], t), "198.51.100.7");
        assert_eq!(
            fwd("10.0.0.5", &["For=\"198.51.100.7:4711\";proto=https"], t),
            "198.51.100.7"
        );
        assert_eq!(
            fwd(
                "10.0.0.5",
                &["for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";by=10.0.0.5"],
                t
            ),
            "2001:db8:cafe::17"
        );
        assert_eq!(
            fwd("10.0.0.5", &["for=\"[2001:db8::9]\""], t),
            "2001:db8::9"
        );
        assert_eq!(
            fwd("10.0.0.5", &["for=198.51.100.7", "for=10.0.0.4"], t),
            "198.51.100.7"
        );
    }

    #[test]
    fn forged_forwarded_hop_left_of_obfuscated_identifier_is_ignored() {
        let t = &["10.0.0.0/8"];
        assert_eq!(
            fwd("10.0.0.5", &["for=6.6.6.6, for=unknown, for=10.0.0.4"], t),
            "10.0.0.4"
        );
        assert_eq!(
            fwd("10.0.0.5", &["for=6.6.6.6, for=_hidden"], t),
            "10.0.0.5"
        );
        // An element without `for`, or a quote left open, is unparsable too.
        assert_eq!(
            fwd("10.0.0.5", &["for=6.6.6.6, proto=https"], t),
            "10.0.0.5"
        );
        assert_eq!(
            fwd("10.0.0.5", &["for=6.6.6.6, for=\"1.2.3.4"], t),
            "10.0.0.5"
        );
        // A comma inside quotes does not start a new hop.
        assert_eq!(
            fwd("10.0.0.5", &["for=\"6.6.6.6, 1.2.3.4\""], t),
            "10.0.0.5"
        );
    }

    #[test]
    fn forwarded_mode_ignores_x_forwarded_for_and_vice_versa() {
        // The helper passes lines of the configured header only; what the routes read is
        // tested in tests/it/client_ip.rs. Here: an XFF-looking line is not an RFC 7239 element.
        assert_eq!(
            fwd("10.0.0.5", &["198.51.100.7"], &["10.0.0.0/8"]),
            "10.0.0.5"
        );
        assert_eq!(
            xff("10.0.0.5", &["for=198.51.100.7"], &["10.0.0.0/8"]),
            "10.0.0.5"
        );
    }
}
