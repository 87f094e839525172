//! Checks for paths and URLs a user supplied (`return_to`, console `destination`).
//!
//! The WHATWG URL parser — which browsers, and the `url` crate, use — silently drops tabs and
//! newlines and trims C0 controls and spaces, so `/\t/evil.example` is checked as a path but
//! becomes `//evil.example` (another host) once parsed. Such characters have no business in a
//! link a person picked, so they are refused outright, also percent-encoded (a server or a
//! console route that decodes once would see them again).

/// True when `u` names this machine (127.0.0.0/8, ::1 or `localhost`): the one place plain
/// http is accepted (dev IdPs, the STS emulator).
pub(crate) fn is_loopback_url(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// True when `s` holds a C0/C1 control, DEL or whitespace, literally or percent-encoded
/// (once or nested: `%2509` decodes to `%09`).
#[cfg(feature = "server")] // return_to and console destinations: the broker's checks
pub(crate) fn has_hidden_chars(s: &str) -> bool {
    let mut text = s.to_string();
    // Each round peels one layer of percent-encoding; three cover any real link.
    for _ in 0..3 {
        if text.chars().any(hidden) {
            return true;
        }
        let decoded = percent_decode(&text);
        if decoded == text {
            return false;
        }
        text = decoded;
    }
    text.chars().any(hidden)
}

/// `return_to` (where a sign-in goes when it ends) must stay on this site: a path, never
/// `//host`, `/\\host`, a scheme, or control characters.
#[cfg(feature = "server")] // return_to and console destinations: the broker's checks
pub(crate) fn safe_return_to(r: Option<&str>) -> Result<String, &'static str> {
    let r = r.unwrap_or("/");
    // Encoded slashes matter only in the path (a server that decodes `/%2F%2Fevil` may answer
    // `//evil`); the query may carry URLs of its own (the CLI's loopback `redirect_uri`).
    let path = r
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ok = r.starts_with('/')
        && !r.starts_with("//")
        && !r.starts_with("/\\")
        && !r.contains(['\\', '\r', '\n', '\t'])
        && !r.chars().any(char::is_control)
        && !has_hidden_chars(r)
        && !path.contains("%2f%2f")
        && !path.contains("%5c")
        && !path.starts_with("/%2f")
        && r.len() <= 2048;
    if ok {
        Ok(r.to_string())
    } else {
        Err("return_to must be a path on this site")
    }
}

#[cfg(feature = "server")] // return_to and console destinations: the broker's checks
fn hidden(c: char) -> bool {
    c.is_control() || c.is_whitespace()
}

/// `%XX` → the byte, everything else as is; invalid UTF-8 becomes U+FFFD (never hidden).
#[cfg(feature = "server")] // return_to and console destinations: the broker's checks
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).expect("two hex digits are one byte"));
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[cfg(feature = "server")]
mod tests {
    use super::*;

    #[test]
    fn controls_and_whitespace_are_found_plain_and_encoded() {
        for bad in [
            "/\t/evil.example",
            "/a\nb",
            "/a b",
            "/a\u{85}b",
            "/a\u{a0}b",
            "/a\u{2028}b",
            "/a\u{7f}",
            "/%09/evil.example",
            "/%0a",
            "/%00",
            "/%20",
            "/%c2%85",
            "/%C2%A0",
            "/%2509",
            "/%252509",
        ] {
            assert!(has_hidden_chars(bad), "{bad:?}");
        }
        for good in [
            "/",
            "/s3/buckets?region=eu-west-1",
            "/ec2/home#Instances:sort=desc",
            "/a%2Fb",
            "/caf%C3%A9",
            "/%",
            "/%zz",
        ] {
            assert!(!has_hidden_chars(good), "{good:?}");
        }
    }

    #[test]
    fn return_to_open_redirect_forms_are_refused() {
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "/\t/evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/a%5cb",
            "/a\rb",
            "javascript:alert(1)",
            "evil.example",
            "",
        ] {
            assert!(safe_return_to(Some(bad)).is_err(), "{bad:?}");
        }
        let long = format!("/{}", "a".repeat(2048));
        assert!(safe_return_to(Some(&long)).is_err());
        for good in [
            "/",
            "/credentials?role=prod",
            "/oauth2/authorize?redirect_uri=http%3A%2F%2F127.0.0.1%3A1234%2F%2Fcb",
        ] {
            assert_eq!(safe_return_to(Some(good)).as_deref(), Ok(good));
        }
        assert_eq!(safe_return_to(None).as_deref(), Ok("/"));
    }
}
