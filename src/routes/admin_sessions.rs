//! `/admin/sessions`: the session inventory in a signed-in browser, in the picker's style and
//! without JavaScript. The list shows what `GET /api/v1/sessions` would
//! ([`Inventory::visible`]: one's own sessions, and others' on the roles where the policy grants
//! `rolegate:ListSessions`); revoking goes through a confirmation page (`GET
//! /admin/sessions/revoke`) whose form POSTs, with the session's single-use CSRF token, to
//! [`Revoker::revoke`] — the same request, rights and outcome as
//! `POST /api/v1/sessions/revoke`. The views are in [`super::admin_view`].

use super::admin_view::{self as view, Account, Filter};
use super::browser::{browser_context, not_signed_in};
use super::client::ClientIp;
use super::page::{self, Link, PageError};
use crate::error::ApiError;
use crate::inventory::{Inventory, IssuedSession, ListError};
use crate::policy::{AdminAction, Mapper, RequestContext};
use crate::revocation::preview::RevokeRights;
use crate::revocation::request::{RevokeError, RevokeRequest, Revoker};
use crate::session::{Session, Sessions};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use std::collections::BTreeMap;

/// The revoke form is a few short fields.
const MAX_FORM_BODY: usize = 16 * 1024;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/sessions", web::get().to(list)).service(
        web::resource("/admin/sessions/revoke")
            .app_data(web::PayloadConfig::new(MAX_FORM_BODY))
            .route(web::get().to(confirm))
            .route(web::post().to(revoke)),
    );
}

/// A query string or form body as `name → first value` (a repeated name keeps its first).
fn fields(encoded: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(encoded) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

fn account<'a>(state: &'a AppState, s: &'a Session) -> Account<'a> {
    Account {
        who: s.identity.display_name(),
        idp: state.config.idp_display_name(s.identity.idp.as_str()),
        csrf: &s.csrf,
    }
}

/// A refused listing or revocation as a page: the API's status, code and text (which say what
/// to fix), and the way back.
fn failure(e: impl Into<ApiError>, back: Link) -> HttpResponse {
    let e = e.into();
    page::error_with(e.status, e.code, &e.description, vec![back])
}

fn to_list() -> Link {
    Link {
        href: "/admin/sessions".into(),
        label: "Back to the sessions".into(),
    }
}

/// `GET /admin/sessions[?user=IDP:SUBJECT&role=ALIAS_OR_ARN&include=revoked&sort=-expires]`.
async fn list(
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    inventory: web::Data<Inventory>,
    (req, client): (HttpRequest, ClientIp),
) -> Result<HttpResponse, PageError> {
    let Some(s) = sessions.current(&req).await? else {
        return Ok(not_signed_in(&state, &req, None));
    };
    let q = fields(req.query_string().as_bytes());
    let text = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let filter = Filter {
        user: text("user"),
        role: text("role"),
        include_revoked: text("include") == "revoked",
        latest_first: text("sort") == "-expires",
    };
    let ctx = browser_context(&state, &s, client);
    let (status, mut listing) = match gather(&inventory, &ctx, &filter).await {
        Ok(l) => (StatusCode::OK, l),
        Err(ListError::BadUser) => (
            StatusCode::BAD_REQUEST,
            Listing {
                sessions: Vec::new(),
                refused: Some(format!("Person: {}.", ListError::BadUser)),
            },
        ),
        Err(e) => return Err(ApiError::from(e).into()),
    };
    let before = listing.sessions.len();
    listing
        .sessions
        .retain(|x| filter.include_revoked || x.revoked_at.is_none());
    let hidden_revoked = before - listing.sessions.len();
    listing
        .sessions
        .sort_by(|a, b| (a.expires_at, &a.id).cmp(&(b.expires_at, &b.id)));
    if filter.latest_first {
        listing.sessions.reverse();
    }
    let engine = state.policy.engine();
    let sees_others = engine.roles().iter().any(|r| {
        state
            .policy
            .permits(&ctx, r.arn.as_str(), AdminAction::ListSessions)
    });
    let names: BTreeMap<String, String> = engine
        .roles()
        .iter()
        .filter_map(|r| Some((r.arn.as_str().to_string(), r.account_name.clone()?)))
        .collect();
    let rights = RevokeRights::of(&state.policy, &ctx);
    let page = view::SessionsPage {
        title: "AWS sessions",
        assets: &super::assets::ASSETS,
        account: Some(account(&state, &s)),
        filter: &filter,
        scope: view::scope_sentence(sees_others),
        rows: view::rows(&listing.sessions, state.clock.unix(), &rights, &names),
        hidden_revoked,
        empty: view::empty_sentence(&filter, sees_others, hidden_revoked),
        refused: listing.refused,
        sort: Link {
            href: filter.href(!filter.latest_first),
            label: if filter.latest_first {
                "Soonest to expire first".into()
            } else {
                "Latest to expire first".into()
            },
        },
        revoke_all: rights
            .everywhere()
            .then(|| view::revoke_href("all", "true")),
    };
    Ok(page::send(status, &page, &[]))
}

/// The sessions a listing shows, and why a filter was narrowed to the caller's own.
struct Listing {
    sessions: Vec<IssuedSession>,
    refused: Option<String>,
}

/// The live sessions the caller may see that match the filter: with no filter,
/// [`Inventory::visible_all`] (their own and those of every role they may list); with one,
/// [`Inventory::visible`]'s answer what it answers for that filter — or, when it refuses the filter, the
/// caller's own sessions that match it, saying why.
async fn gather(
    inventory: &Inventory,
    ctx: &RequestContext<'_>,
    filter: &Filter,
) -> Result<Listing, ListError> {
    let user = Some(filter.user.as_str()).filter(|u| !u.is_empty());
    let role = Some(filter.role.as_str()).filter(|r| !r.is_empty());
    if user.is_some() || role.is_some() {
        return match inventory.visible(ctx, user, role).await {
            Ok(sessions) => Ok(Listing {
                sessions,
                refused: None,
            }),
            Err(e @ ListError::NotPermitted) => {
                let mut own = inventory.visible(ctx, None, None).await?;
                own.retain(|s| {
                    user.is_none_or(|u| u == format!("{}:{}", s.idp, s.subject))
                        && role.is_none_or(|r| r == s.role_alias || r == s.role_arn)
                });
                Ok(Listing {
                    sessions: own,
                    refused: Some(format!(
                        "Refused: {e}. Shown: your own sessions that match."
                    )),
                })
            }
            Err(e) => Err(e),
        };
    }
    // Everything they may list, in one read; someone who may list no role sees their own.
    let sessions = match inventory.visible_all(ctx).await {
        Ok(all) => all,
        Err(ListError::NotPermitted) => inventory.visible(ctx, None, None).await?,
        Err(e) => return Err(e),
    };
    Ok(Listing {
        sessions,
        refused: None,
    })
}

/// `GET /admin/sessions/revoke?session_id=…|user=…|role=…|all=true`: what would end, and the
/// form that ends it.
async fn confirm(
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    revoker: web::Data<Revoker>,
    (req, client): (HttpRequest, ClientIp),
) -> Result<HttpResponse, PageError> {
    let Some(s) = sessions.current(&req).await? else {
        return Ok(not_signed_in(&state, &req, None));
    };
    let q = fields(req.query_string().as_bytes());
    let get = |k: &str| q.get(k).map(String::as_str);
    let text = |k: &str| get(k).map(str::to_string);
    let asked = RevokeRequest {
        session_id: text("session_id"),
        user: text("user"),
        idp: None,
        role: text("role"),
        all: get("all").map(|a| a == "true"),
        reason: None,
        freeze_seconds: None,
    };
    let ctx = browser_context(&state, &s, client);
    match revoker.preview(&ctx, &asked).await {
        Ok(p) => {
            let page = view::confirm(account(&state, &s), &p);
            Ok(page::send(StatusCode::OK, &page, &[]))
        }
        Err(e) => Ok(failure(e, to_list())),
    }
}

/// What the confirmation page's form sends.
struct RevokeForm {
    fields: BTreeMap<String, String>,
}

impl RevokeForm {
    fn get(&self, k: &str) -> Option<&str> {
        self.fields.get(k).map(String::as_str)
    }

    /// The API's request, field for field; `freeze_seconds` empty means none.
    fn request(&self) -> Result<RevokeRequest, RevokeError> {
        let freeze_seconds = match self.get("freeze_seconds").unwrap_or_default() {
            "" => None,
            s => Some(s.parse().map_err(|_| {
                RevokeError::Invalid("freeze_seconds: none, 15 min, 1 h or 24 h".into())
            })?),
        };
        let text = |k: &str| self.get(k).map(str::to_string);
        Ok(RevokeRequest {
            session_id: text("session_id"),
            user: text("user"),
            idp: None,
            role: text("role"),
            all: self.get("all").map(|a| a == "true"),
            reason: text("reason"),
            freeze_seconds,
        })
    }

    /// The confirmation page this form came from, to fix and send it again.
    fn back(&self) -> Link {
        ["session_id", "user", "role", "all"]
            .iter()
            .find_map(|k| Some((*k, self.get(k)?)))
            .map_or_else(to_list, |(k, v)| Link {
                href: view::revoke_href(k, v),
                label: "Back to the confirmation".into(),
            })
    }
}

/// `POST /admin/sessions/revoke`: spends the CSRF token (a replayed or reloaded POST is
/// refused, never a second revocation), then [`Revoker::revoke`], then its outcome.
async fn revoke(
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    revoker: web::Data<Revoker>,
    (req, client): (HttpRequest, ClientIp),
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let Some(s) = sessions.current(&req).await? else {
        // Signed out (or expired): as the picker's POSTs, back to sign-in, nothing done.
        return Ok(HttpResponse::SeeOther()
            .insert_header((LOCATION, "/"))
            .finish());
    };
    let form = RevokeForm {
        fields: fields(&body),
    };
    let presented = form.get("csrf").unwrap_or_default();
    if !sessions.spend_csrf(&req, &s, presented).await? {
        return Ok(page::csrf_failed());
    }
    let request = match form.request() {
        Ok(r) => r,
        Err(e) => return Ok(failure(e, form.back())),
    };
    let ctx = browser_context(&state, &s, client);
    let outcome = match revoker.revoke(&ctx, &request).await {
        Ok(o) => o,
        Err(e) => return Ok(failure(e, form.back())),
    };
    // The token was spent, and the revocation may have ended this very browser session: the
    // page's sign-out form needs the session as it is now.
    let after = sessions.current(&req).await?;
    let reason = request.reason.as_deref().unwrap_or_default().trim();
    let page = view::outcome(after.as_ref().map(|a| account(&state, a)), &outcome, reason);
    Ok(page::send(StatusCode::OK, &page, &[]))
}
