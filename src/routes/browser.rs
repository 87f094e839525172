//! The browser surface after sign-in: the role picker (`GET /`), console sign-in and
//! credentials for a role, favourites, sign-out. Every POST carries the session's CSRF token;
//! a POST without a live session goes back to the sign-in page and changes nothing.

use super::assets::ASSETS;
use super::page::{self, Link, PageError};
use super::picker;
use crate::config::IdpKind;
use crate::domain::ClientKind;
use crate::error::ApiError;
use crate::favourites::Favourites;
use crate::issue::Issuance;
use crate::policy::Mapper;
use crate::policy::{Action, RequestContext};
use crate::present;
use crate::routes::client::{ClientIp, user_agent};
use crate::session::{self, Session, Sessions};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

/// The picker is one form: every role's duration field comes along with each POST. This bounds
/// it (about 30 bytes per role: ~2,000 roles).
const MAX_FORM_BODY: usize = 64 * 1024;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    let form = || web::PayloadConfig::new(MAX_FORM_BODY);
    cfg.route("/", web::get().to(home))
        .service(
            web::resource("/credentials/{role}")
                .app_data(form())
                .route(web::post().to(credentials)),
        )
        .service(
            web::resource("/console/{role}")
                .app_data(form())
                .route(web::post().to(console)),
        )
        .service(
            web::resource("/fav/{role}")
                .app_data(form())
                .route(web::post().to(favourite)),
        )
        .service(
            web::resource("/logout")
                .app_data(form())
                .route(web::post().to(logout)),
        );
}

#[derive(Deserialize)]
struct HomeQuery {
    #[serde(default)]
    q: String,
    destination: Option<String>,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage<'a> {
    title: &'a str,
    assets: &'a super::assets::Assets,
    idps: Vec<Link>,
    destination: Option<&'a str>,
}

/// The partitions' federation origins: the Console button's POST answers with a redirect
/// there, which the CSP's `form-action` must allow.
fn federation_origins(state: &AppState) -> Vec<String> {
    state
        .config
        .aws
        .partitions
        .values()
        .map(|p| p.federation_url.origin().ascii_serialization())
        .collect()
}

fn display_name<'a>(state: &'a AppState, id: &'a str) -> &'a str {
    state.config.idp_display_name(id)
}

async fn home(
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    favourites: web::Data<Favourites>,
    (req, client): (HttpRequest, ClientIp),
    query: web::Query<HomeQuery>,
) -> Result<HttpResponse, PageError> {
    let query = query.into_inner();
    let destination = query.destination.as_deref().filter(|d| !d.is_empty());
    let Some(s) = sessions.current(&req).await? else {
        return Ok(not_signed_in(&state, &req, destination));
    };
    let roles = state.policy.roles(&browser_context(&state, &s, client));
    let favourites = favourites.list(&s.identity).await?;
    let page = picker_page(&state, &s, &query.q, destination, &roles, &favourites);
    Ok(page::send(
        StatusCode::OK,
        &page,
        &federation_origins(&state),
    ))
}

/// A page (`GET /`, `/admin/sessions` …) without a session: the sign-in page, or straight to
/// the only IdP; either way back to this page, with its query, afterwards.
pub(super) fn not_signed_in(
    state: &AppState,
    req: &HttpRequest,
    destination: Option<&str>,
) -> HttpResponse {
    let here = match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    };
    // One IdP: straight to it — unless the user just signed out or came back from a
    // cancel or refusal at the IdP (the marker cookie): Back after "Signed out" would
    // otherwise sign them in again silently at an IdP whose session lives on, and a
    // refusing IdP would loop. Those pages link to the IdP explicitly instead.
    if let [only] = signin_idps(state)[..]
        && req.cookie(SIGNED_OUT_COOKIE).is_none()
    {
        return HttpResponse::SeeOther()
            .insert_header((LOCATION, login_href(only, &here)))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish();
    }
    signin(state, &here, destination)
}

/// What the policy sees of a browser request.
pub(super) fn browser_context<'a>(
    state: &AppState,
    s: &'a Session,
    client: ClientIp,
) -> RequestContext<'a> {
    RequestContext {
        aws_session: None,
        identity: &s.identity,
        client: ClientKind::Browser,
        source_ip: client.0,
        now: state.clock.now(),
    }
}

/// The role picker for a signed-in user.
fn picker_page<'a>(
    state: &'a AppState,
    s: &'a Session,
    query: &'a str,
    destination: Option<&'a str>,
    roles: &'a [crate::policy::RoleSummary],
    favourites: &'a std::collections::BTreeSet<String>,
) -> picker::PickerPage<'a> {
    let who = s.identity.display_name();
    let mut page = picker::build(&picker::Input {
        who,
        idp: display_name(state, s.identity.idp.as_str()),
        csrf: &s.csrf,
        query: query.trim(),
        destination,
        roles,
        favourites,
    });
    if roles.is_empty() {
        page.no_role = Some(picker::NoRole {
            idp_id: s.identity.idp.as_str().to_string(),
            subject: s.identity.subject.clone(),
            groups: s.identity.groups.clone(),
        });
    }
    let ends = s.ends_at(state.config.session.lifetime);
    page.session_ends = u64::try_from(ends)
        .ok()
        .map(|secs| page::expiry(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)));
    page
}

/// Set when the user signs out, cancels at the IdP or is refused there: while present, `GET /`
/// shows the sign-in page rather than going straight to the only IdP. Cleared when a sign-in
/// starts (`/login/{idp}`). Not a secret: a planted one only costs a click.
pub(crate) const SIGNED_OUT_COOKIE: &str = "rolegate_signed_out";

/// The marker cookie (12 hours), or with `set == false` its removal.
pub(crate) fn signed_out_cookie(state: &AppState, set: bool) -> actix_web::cookie::Cookie<'static> {
    let mut c = actix_web::cookie::Cookie::build(SIGNED_OUT_COOKIE, "1")
        .path("/")
        .http_only(true)
        .secure(state.public_url.scheme() != "http")
        .same_site(actix_web::cookie::SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::hours(12))
        .finish();
    if !set {
        c.make_removal();
    }
    c
}

/// Where a "Sign in again" link goes: the only IdP's sign-in, else the chooser.
pub(crate) fn sign_in_again_href(state: &AppState) -> String {
    match signin_idps(state)[..] {
        [only] => login_href(only, "/"),
        _ => "/".into(),
    }
}

/// The IdPs a browser can sign in with, in the chooser's order.
fn signin_idps(state: &AppState) -> Vec<&str> {
    let saml = state.saml.idps.iter().map(|i| i.id.as_str());
    let oidc = state
        .idps
        .oidc()
        .iter()
        .filter(|i| i.endpoints().is_some())
        .map(|i| i.id.as_str());
    saml.chain(oidc).collect()
}

/// `/login/{id}`, coming back to `here` (a local path with its query) after sign-in.
fn login_href(id: &str, here: &str) -> String {
    if here == "/" {
        format!("/login/{id}")
    } else {
        let return_to: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
        format!("/login/{id}?return_to={return_to}")
    }
}

/// Sign-in the user asked for (the CLI's `rolegate login`, a device code): with one IdP,
/// straight to it, else the chooser; either way back to `here` afterwards.
pub(crate) fn sign_in_first(state: &AppState, here: &str) -> HttpResponse {
    match signin_idps(state)[..] {
        [only] => HttpResponse::SeeOther()
            .insert_header((LOCATION, login_href(only, here)))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish(),
        _ => signin(state, here, None),
    }
}

/// The IdP chooser; each link comes back to `here` (a local path with its query) after sign-in.
pub(crate) fn signin(state: &AppState, here: &str, destination: Option<&str>) -> HttpResponse {
    let idps = signin_idps(state)
        .into_iter()
        .map(|id| Link {
            href: login_href(id, here),
            label: display_name(state, id).to_string(),
        })
        .collect();
    page::send(
        StatusCode::OK,
        &SigninPage {
            title: "Sign in",
            assets: &ASSETS,
            idps,
            destination,
        },
        &[],
    )
}

/// What the picker's form sends: the clicked button's `formaction` carries `?r=<row>`, whose
/// session length in minutes is `m<row>`; other clients may send `duration_seconds` directly.
#[derive(Default)]
struct ActionForm {
    csrf: String,
    duration_seconds: Option<u64>,
    destination: Option<String>,
    q: String,
}

impl ActionForm {
    /// What this form asks the issuance for, for the signed-in user.
    fn asks<'a>(
        &self,
        s: &'a Session,
        client: ClientIp,
        role: &'a str,
        action: Action,
        user_agent: Option<&'a str>,
    ) -> crate::issue::Request<'a> {
        crate::issue::Request {
            identity: &s.identity,
            client: ClientKind::Browser,
            ip: client.0,
            role,
            duration_seconds: self.duration_seconds,
            action,
            user_agent,
            reason: None,
        }
    }

    fn parse(body: &[u8], query: &str) -> Result<ActionForm, ApiError> {
        let mut f = ActionForm::default();
        let row = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "r")
            .map(|(_, v)| v.into_owned());
        let mut durations = Vec::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            match k.as_ref() {
                "csrf" if f.csrf.is_empty() => f.csrf = v.into_owned(),
                "duration_seconds" => f.duration_seconds = Some(seconds(&v)?),
                "destination" if !v.is_empty() => f.destination = Some(v.into_owned()),
                "q" => f.q = v.into_owned(),
                k if k.starts_with('m') && k[1..].bytes().all(|b| b.is_ascii_digit()) => {
                    durations.push((k[1..].to_string(), v.into_owned()));
                }
                _ => {}
            }
        }
        if f.duration_seconds.is_none()
            && let Some(row) = row
            && let Some((_, v)) = durations.iter().find(|(r, _)| *r == row)
        {
            let minutes = seconds(v)?;
            f.duration_seconds = Some(minutes.saturating_mul(60));
        }
        Ok(f)
    }
}

fn seconds(v: &str) -> Result<u64, ApiError> {
    v.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_request",
            "the session length must be a number of seconds",
        )
    })
}

/// Whether a POST spends the page's CSRF token: console and credentials do (a replayed or
/// double-submitted form issues nothing more); starring a role does not.
#[derive(Clone, Copy, PartialEq)]
enum Csrf {
    SingleUse,
    Reusable,
}

/// The live session and a matching CSRF token, or the response to send instead.
async fn authorized(
    sessions: &Sessions,
    req: &HttpRequest,
    body: &[u8],
    csrf: Csrf,
) -> Result<Result<(Session, ActionForm), HttpResponse>, PageError> {
    let Some(s) = sessions.current(req).await? else {
        // Signed out (or expired): a replayed or back-button POST lands on the sign-in page.
        return Ok(Err(HttpResponse::SeeOther()
            .insert_header((LOCATION, "/"))
            .finish()));
    };
    let form = match ActionForm::parse(body, req.query_string()) {
        Ok(f) => f,
        Err(e) => return Ok(Err(page::error(e.status, e.code, &e.description))),
    };
    let ok = match csrf {
        Csrf::SingleUse => sessions.spend_csrf(req, &s, &form.csrf).await?,
        Csrf::Reusable => session::csrf_ok(&s, &form.csrf),
    };
    if !ok {
        return Ok(Err(page::csrf_failed()));
    }
    Ok(Ok((s, form)))
}

/// Browser actions answer with a page, not the API's JSON, whatever went wrong.
fn failure(e: ApiError) -> HttpResponse {
    page::error(e.status, e.code, &e.description)
}

async fn console(
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    issuance: web::Data<Issuance>,
    (req, client): (HttpRequest, ClientIp),
    role: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (s, form) = match authorized(&sessions, &req, &body, Csrf::SingleUse).await? {
        Ok(x) => x,
        Err(resp) => return Ok(resp),
    };
    if let Some(federation) = console_out_of_reach(&state, &role) {
        return Ok(console_needs_real_aws(&state, &federation));
    }
    let asked = form.asks(&s, client, &role, Action::Console, user_agent(&req));
    let link = issuance.console(&asked, form.destination.as_deref()).await;
    match link {
        // The sign-in URL carries a 15-minute token: never cached, never logged.
        Ok(link) => Ok(HttpResponse::SeeOther()
            .insert_header((LOCATION, link.url))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish()),
        Err(e) => Ok(failure(e.into())),
    }
}

/// The page `serve --dev` shows instead of a console sign-in that could only fail. 200: an
/// explanation, not a failure to retry.
fn console_needs_real_aws(state: &AppState, federation: &str) -> HttpResponse {
    let at = super::api::dev_sts_emulator(state)
        .map(|u| {
            let u = u.as_str().trim_end_matches('/').to_string();
            format!(" at {u} (export AWS_ENDPOINT_URL_STS={u})")
        })
        .unwrap_or_default();
    page::message(
        StatusCode::OK,
        "The AWS console cannot open in dev mode",
        &format!(
            "This broker runs with serve --dev: its credentials come from a local STS \
             emulator, not from AWS. Opening the console goes through AWS's sign-in \
             federation endpoint ({federation}), which needs real AWS and does not accept \
             credentials from an emulator, so this button cannot work here. Credentials \
             work: use them with the AWS CLI against the emulator{at}. To open the console, \
             run the broker with a real configuration and AWS account."
        ),
        vec![Link {
            href: "/".into(),
            label: "Back to your roles".into(),
        }],
    )
}

/// In `serve --dev` with STS on a loopback emulator, the console sign-in can only fail: the
/// federation endpoint (real AWS) never accepts an emulator's credentials. Returns that
/// endpoint's origin, to name it; None when the console may work (real STS, or a federation
/// endpoint on loopback too, as tests use).
pub(super) fn console_out_of_reach(state: &AppState, role: &str) -> Option<String> {
    if !state.config.dev {
        return None;
    }
    let partition = state
        .policy
        .engine()
        .role(role)
        .map(|r| r.arn.partition().to_string())?;
    let p = state.config.aws.partitions.get(&partition)?;
    let loopback = crate::config::is_loopback_url;
    let emulated = p.sts_endpoint.as_ref().is_some_and(loopback);
    (emulated && !loopback(&p.federation_url))
        .then(|| p.federation_url.origin().ascii_serialization())
}

#[derive(Template)]
#[template(path = "credentials.html")]
struct CredentialsPage<'a> {
    title: &'a str,
    assets: &'a super::assets::Assets,
    alias: &'a str,
    arn: &'a str,
    session: &'a str,
    until: page::Expiry,
    /// The Presenter's formats (askama escapes them here, see `present::html`).
    blocks: Vec<present::html::Section>,
    /// `serve --dev`: the local STS emulator these credentials belong to.
    dev_sts: Option<String>,
}

async fn credentials(
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    issuance: web::Data<Issuance>,
    (req, client): (HttpRequest, ClientIp),
    role: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (s, form) = match authorized(&sessions, &req, &body, Csrf::SingleUse).await? {
        Ok(x) => x,
        Err(resp) => return Ok(resp),
    };
    let asked = form.asks(&s, client, &role, Action::Credentials, user_agent(&req));
    match issuance.credentials(&asked).await {
        Ok((keys, plan)) => Ok(credentials_page(&state, keys, &plan)),
        Err(e) => Ok(failure(e.into())),
    }
}

/// The page that shows issued credentials in every format the Presenter writes.
fn credentials_page(
    state: &AppState,
    keys: crate::aws::Credentials,
    plan: &crate::aws::limits::SessionPlan,
) -> HttpResponse {
    let role = plan.grant().role();
    let region = state.config.aws.region(role.arn.partition());
    let creds = present::Credentials::issued(keys, plan, region);
    let blocks = match present::html::sections(&creds, &role.alias) {
        Ok(b) => b,
        Err(e) => {
            // Only STS (or its emulator) can send a value no format holds: its answer is bad.
            tracing::warn!(reason = %e, "STS credentials that cannot be shown");
            return failure(e.into());
        }
    };
    let page = CredentialsPage {
        title: "Temporary AWS credentials",
        assets: &ASSETS,
        alias: &role.alias,
        arn: role.arn.as_str(),
        session: plan.session_name(),
        until: page::expiry(creds.expiration),
        blocks,
        dev_sts: super::api::dev_sts_emulator(state)
            .map(|u| u.as_str().trim_end_matches('/').to_string()),
    };
    page::send(StatusCode::OK, &page, &[])
}

/// Stars or unstars a role, then back to the picker (with its search).
async fn favourite(
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    favourites: web::Data<Favourites>,
    (req, client): (HttpRequest, ClientIp),
    role: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let (s, form) = match authorized(&sessions, &req, &body, Csrf::Reusable).await? {
        Ok(x) => x,
        Err(resp) => return Ok(resp),
    };
    // Only roles the user may see can be starred: the store never holds arbitrary input.
    let ctx = browser_context(&state, &s, client);
    if !state.policy.roles(&ctx).iter().any(|r| r.alias == *role) {
        return Ok(page::error(
            StatusCode::FORBIDDEN,
            "access_denied",
            "That role is not granted to you.",
        ));
    }
    favourites.toggle(&s.identity, &role).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, back_to_picker(&form)))
        .finish())
}

/// The picker again, with the search and destination the form came from.
fn back_to_picker(form: &ActionForm) -> String {
    let mut back = url::form_urlencoded::Serializer::new(String::new());
    if !form.q.is_empty() {
        back.append_pair("q", &form.q);
    }
    if let Some(d) = &form.destination {
        back.append_pair("destination", d);
    }
    let back = back.finish();
    if back.is_empty() {
        "/".to_string()
    } else {
        format!("/?{back}")
    }
}

/// Ends the broker session. The IdP's own session lives on, so the page offers to end that
/// too (an explicit link: signing out of Okta also ends the user's other apps).
async fn logout(
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let current = sessions.current(&req).await?;
    if let Some(s) = &current
        && !ActionForm::parse(&body, "").is_ok_and(|f| session::csrf_ok(s, &f.csrf))
    {
        return Ok(page::csrf_failed());
    }
    let gone = sessions.end(&req).await?;
    let links = signed_out_links(&state, current.as_ref());
    let mut resp = page::message(
        StatusCode::OK,
        "Signed out",
        "You are signed out of rolegate. Credentials already issued stay valid until they expire.",
        links,
    );
    resp.add_cookie(&gone).map_err(|_| ApiError::internal())?;
    resp.add_cookie(&signed_out_cookie(&state, true))
        .map_err(|_| ApiError::internal())?;
    Ok(resp)
}

/// "Sign in again", and the IdP's own sign-out when it has one.
fn signed_out_links(state: &AppState, ended: Option<&Session>) -> Vec<Link> {
    let mut links = vec![Link {
        href: sign_in_again_href(state),
        label: "Sign in again".into(),
    }];
    if let Some(s) = ended
        && let Some(url) = idp_logout_url(state, s)
    {
        links.push(Link {
            href: url,
            label: format!(
                "Also sign out of {}",
                display_name(state, s.identity.idp.as_str())
            ),
        });
    }
    links
}

/// The IdP's sign-out: `logout_url` from config, else the OIDC `end_session_endpoint`
/// (RP-Initiated Logout 1.0 §2: `client_id` names us, the IdP asks the user to confirm).
fn idp_logout_url(state: &AppState, s: &Session) -> Option<String> {
    let id = s.identity.idp.as_str();
    let cfg = state.config.idps.iter().find(|i| i.id.as_str() == id)?;
    if let Some(u) = &cfg.logout_url {
        return Some(u.to_string());
    }
    let IdpKind::Oidc(oidc) = &cfg.kind else {
        return None;
    };
    let idp = state.idps.oidc_by_id(id)?;
    let mut url = idp.endpoints()?.end_session?;
    url.query_pairs_mut()
        .append_pair("client_id", &oidc.client_id);
    Some(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"</pre><script>alert(1)</script>"'&amp;<img/src=x/onerror=alert(2)>"#;

    /// What a browser shows for `html` escaped text: the five entities askama writes.
    fn unescape(html: &str) -> String {
        html.replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#38;", "&")
    }

    fn render(blocks: Vec<present::html::Section>, alias: &str) -> String {
        CredentialsPage {
            title: "Temporary AWS credentials",
            assets: &ASSETS,
            alias,
            arn: HOSTILE,
            session: HOSTILE,
            until: page::expiry(std::time::SystemTime::UNIX_EPOCH),
            blocks,
            dev_sts: Some(HOSTILE.to_string()),
        }
        .render()
        .unwrap()
    }

    #[test]
    fn a_session_token_that_closes_the_pre_and_opens_a_script_stays_text() {
        let c = present::Credentials::for_tests("ASIA", HOSTILE, HOSTILE, None);
        let blocks = present::html::sections(&c, "prod-ro").unwrap();
        let shown: Vec<String> = blocks.iter().map(|b| b.text.clone()).collect();
        let html = render(blocks, "prod-ro");
        assert!(
            !html.contains("<script>alert") && !html.contains("<img"),
            "{html}"
        );
        // Each <pre> decodes to exactly the Presenter's text: what the copy button copies.
        for (id, text) in ["sh", "ps", "profile", "json"].iter().zip(shown) {
            let open = format!(r#"<pre id="{id}" aria-labelledby="h-{id}" tabindex="0">"#);
            let inner = html
                .split(&open)
                .nth(1)
                .unwrap()
                .split("</pre>")
                .next()
                .unwrap();
            assert_eq!(unescape(inner), text, "{id}");
        }
    }

    #[test]
    fn a_file_name_or_link_that_would_close_its_attribute_is_escaped() {
        let blocks = vec![present::html::Section {
            id: "json",
            title: "JSON",
            text: String::new(),
            download: Some(present::html::Download {
                file_name: format!("x\" onclick=\"alert(1){HOSTILE}"),
                data_url: format!("data:,\" onmouseover=\"alert(2){HOSTILE}"),
            }),
        }];
        let html = render(blocks, HOSTILE);
        assert!(!html.contains("\" onclick=") && !html.contains("\" onmouseover="));
        assert!(html.contains(r#"download="x&#34; onclick=&#34;alert(1)&#60;/pre&#62;"#));
        assert!(
            !html.contains("<script>alert") && !html.contains("<img"),
            "{html}"
        );
    }
}
