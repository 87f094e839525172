//! `rolegate sessions`: the AWS sessions the broker issued to you (and, with the policy's
//! `rolegate:ListSessions`, others'), as a table or JSON.

use super::commands::call;
use super::{Result, when};
use crate::domain::text::for_terminal;
use serde_json::Value;
use url::Url;

/// What to list: the caller's own by default.
pub(crate) struct Filter<'a> {
    /// `IDP:SUBJECT`.
    pub user: Option<&'a str>,
    /// A role's alias or ARN.
    pub role: Option<&'a str>,
}

pub(crate) fn list(broker: &Url, filter: &Filter<'_>, as_json: bool) -> Result<()> {
    let mut path = String::from("/api/v1/sessions");
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(u) = filter.user {
        query.append_pair("user", u);
    }
    if let Some(r) = filter.role {
        query.append_pair("role", r);
    }
    let query = query.finish();
    if !query.is_empty() {
        path = format!("{path}?{query}");
    }
    let v = call(broker, reqwest::Method::GET, &path, None)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let sessions = v["sessions"].as_array().cloned().unwrap_or_default();
    if sessions.is_empty() {
        eprintln!("No live AWS session from {broker}.");
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Vec<String>> = sessions.iter().map(|s| row(s, now)).collect();
    print_table(
        &["USER", "ROLE", "CLIENT", "ISSUED", "EXPIRES", "FROM", "ID"],
        &rows,
    );
    Ok(())
}

/// One session as a table row; the broker's strings reach the terminal escaped.
fn row(s: &Value, now: i64) -> Vec<String> {
    let text = |k: &str| for_terminal(s[k].as_str().unwrap_or("-"));
    let at = |k: &str| {
        s[k].as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp())
    };
    let expires = at("expires_at").map_or_else(
        || "-".into(),
        |t| {
            let left = u64::try_from(t - now).unwrap_or(0);
            format!("{} ({} left)", when::local(t), when::human(left))
        },
    );
    let mut state = expires;
    if s["revoked_at"].is_string() {
        state = format!("revoked by {}", text("revoked_by"));
    }
    vec![
        format!("{}:{}", text("idp"), text("subject")),
        text("role"),
        format!("{}/{}", text("client"), text("action")),
        at("issued_at").map_or_else(|| "-".into(), when::local),
        state,
        text("client_ip"),
        text("id"),
    ]
}

/// Columns padded to their widest cell, two spaces apart; the last one unpadded.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let line = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    (*c).to_string()
                } else {
                    format!("{c:w$}", w = widths[i])
                }
            })
            .collect();
        println!("{}", padded.join("  "));
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
