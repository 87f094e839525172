//! `rolegate sessions`: the AWS sessions the broker issued to you (and, with the policy's
//! `rolegate:ListSessions`, others'), as a table or JSON; `rolegate sessions revoke` ends them
//! and reports what was done on each role's AWS side.

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
    /// Every session the caller may list.
    pub all: bool,
    /// Revoked sessions too.
    pub include_revoked: bool,
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
    if filter.all {
        query.append_pair("all", "true");
    }
    if filter.include_revoked {
        query.append_pair("include", "revoked");
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

/// What `sessions revoke` ends.
pub(crate) enum Target {
    Session(String),
    User(String),
    Idp(String),
    Role(String),
    All,
}

/// `POST /api/v1/sessions/revoke`, then the report: how many sessions ended, and per role
/// whether its Deny reached IAM (when), or why not with the policy to apply by hand.
pub(crate) fn revoke(
    broker: &Url,
    target: &Target,
    reason: &str,
    freeze: Option<u64>,
    as_json: bool,
) -> Result<std::process::ExitCode> {
    let mut body = match target {
        Target::Session(id) => serde_json::json!({ "session_id": id }),
        Target::User(u) => serde_json::json!({ "user": u }),
        Target::Idp(i) => serde_json::json!({ "idp": i }),
        Target::Role(r) => serde_json::json!({ "role": r }),
        Target::All => serde_json::json!({ "all": true }),
    };
    body["reason"] = reason.into();
    if let Some(f) = freeze {
        body["freeze_seconds"] = f.into();
    }
    let v = call(
        broker,
        reqwest::Method::POST,
        "/api/v1/sessions/revoke",
        Some(body),
    )?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_revocation(&v);
    }
    let unwritten = v["roles"]
        .as_array()
        .map_or(0, |r| r.iter().filter(|r| r["written"] != true).count());
    if unwritten > 0 {
        eprintln!(
            "rolegate: the broker refuses these sessions now, but {unwritten} role(s) were not \
             given their Deny on AWS: until the policy shown is applied, their credentials \
             keep working until they expire."
        );
        // 3: done on the broker, not on AWS — scripts can tell it from a refusal (1).
        return Ok(std::process::ExitCode::from(3));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn print_revocation(v: &Value) {
    let text = |v: &Value| for_terminal(v.as_str().unwrap_or("-"));
    let at = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(|| "-".into(), |t| when::local(t.timestamp()))
    };
    println!(
        "Ended {} session(s) at {}.",
        v["revoked"].as_u64().unwrap_or(0),
        at(&v["revoked_at"])
    );
    if v["frozen_until"].is_string() {
        println!(
            "Nothing is issued in this scope until {}.",
            at(&v["frozen_until"])
        );
    }
    let roles = v["roles"].as_array().cloned().unwrap_or_default();
    if roles.is_empty() {
        println!("No live session was on AWS: no role needed a Deny.");
        return;
    }
    let rows: Vec<Vec<String>> = roles
        .iter()
        .map(|r| {
            let side = if r["written"] == true {
                format!(
                    "Deny written at {} (IAM applies it within minutes)",
                    at(&r["written_at"])
                )
            } else {
                format!("not written: {}", text(&r["error"]))
            };
            vec![text(&r["arn"]), side]
        })
        .collect();
    println!();
    print_table(&["ROLE", "AWS SIDE"], &rows);
    for r in roles.iter().filter(|r| r["written"] != true) {
        println!(
            "\nThe Deny to add to the inline policy rolegate-revocations of {} (keep the \
             statements already there):\n{}",
            text(&r["arn"]),
            serde_json::to_string_pretty(&r["policy"]).unwrap_or_default()
        );
    }
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
        let why = s["revoked_reason"]
            .as_str()
            .map(|r| format!(" ({})", for_terminal(r)))
            .unwrap_or_default();
        state = format!("{state}; revoked by {}{why}", text("revoked_by"));
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
