//! `RawConfig` → `Config`. Each check names the key path it rejects.

use super::raw::*;
use super::*;
use crate::client_addr::{ForwardedHeader, TrustedProxies};
use crate::domain::text;

type R<T> = Result<T, ConfigError>;

fn err<T>(path: impl Into<String>, message: impl Into<String>) -> R<T> {
    Err(ConfigError {
        path: path.into(),
        message: message.into(),
    })
}

/// STS accepts DurationSeconds from 900 s to 43,200 s (AssumeRole API reference).
const MIN_SESSION: Duration = Duration::from_secs(900);
const MAX_SESSION: Duration = Duration::from_secs(43_200);
/// Clock skew up to 60 s by default, never more than 300 s.
const MAX_SKEW: Duration = Duration::from_secs(300);

pub(super) fn validate(raw: RawConfig, dev: bool, base: &Path) -> R<Config> {
    let server = server(raw.server)?;
    let store = store(raw.store, base)?;
    let aws = aws(raw.aws, dev, base)?;
    let issuer = match raw.issuer {
        Some(i) => Some(issuer(i, dev, base)?),
        None if aws.mode == AwsMode::WebIdentity && !dev => {
            return err(
                "issuer",
                "aws.mode = \"web_identity\" needs an [issuer] section",
            );
        }
        None => None,
    };
    let mut idps = Vec::new();
    for (i, r) in raw.idp.into_iter().enumerate() {
        let idp = idp(r, i, dev, base)?;
        if let IdpKind::Oidc(o) = &idp.kind
            && idps
                .iter()
                .any(|x: &IdpConfig| matches!(&x.kind, IdpKind::Oidc(y) if y.issuer == o.issuer))
        {
            // A token names its issuer; two IdPs with one issuer would make that ambiguous.
            return err(
                format!("idp[{i}].issuer"),
                format!("another [[idp]] already uses issuer `{}`", o.issuer),
            );
        }
        if idps.iter().any(|x: &IdpConfig| x.id == idp.id) {
            return err(
                format!("idp[{i}].id"),
                format!("duplicate IdP id `{}`", idp.id),
            );
        }
        idps.push(idp);
    }
    let saml = saml_sp(raw.saml, base)?;
    let mut roles: Vec<RoleConfig> = Vec::new();
    for (i, r) in raw.role.into_iter().enumerate() {
        let role = role(r, i)?;
        if roles
            .iter()
            .any(|x| x.alias == role.alias || x.arn == role.arn)
        {
            return err(
                format!("role[{i}]"),
                format!("role `{}` is listed twice", role.alias),
            );
        }
        roles.push(role);
    }
    let mut maps = Vec::new();
    for (i, m) in raw.map.into_iter().enumerate() {
        maps.push(map(m, i, &idps, &roles)?);
    }
    let limits = Limits {
        credentials_per_minute: raw.limits.credentials_per_minute.unwrap_or(60),
        requests_per_minute_per_ip: raw.limits.requests_per_minute_per_ip.unwrap_or(0),
        logins_per_minute_per_ip: raw.limits.logins_per_minute_per_ip.unwrap_or(30),
        saml_acs_per_minute_per_ip: raw.limits.saml_acs_per_minute_per_ip.unwrap_or(60),
        oidc_callbacks_per_minute_per_ip: raw.limits.oidc_callbacks_per_minute_per_ip.unwrap_or(60),
        token_requests_per_minute_per_ip: raw
            .limits
            .token_requests_per_minute_per_ip
            .unwrap_or(120),
    };
    let session = session(raw.session)?;
    let cli = cli(raw.cli)?;
    let audit = match (raw.audit.output.as_deref().unwrap_or("log"), raw.audit.file) {
        ("log", None) => AuditOutput::Log,
        ("stdout", None) => AuditOutput::Stdout,
        ("file", Some(f)) => AuditOutput::File(base.join(f)),
        ("file", None) => return err("audit.file", "required with output = \"file\""),
        ("log" | "stdout", Some(_)) => {
            return err("audit.file", "only with output = \"file\"");
        }
        (o, _) => {
            return err(
                "audit.output",
                format!("`{o}`: use \"log\", \"stdout\" or \"file\""),
            );
        }
    };
    let mut policy_files = Vec::new();
    for (i, f) in raw.policy.files.iter().enumerate() {
        let shown = f.display().to_string();
        if shown.contains(['*', '?', '[']) {
            return err(
                format!("policy.files[{i}]"),
                "list policy files one by one: with a glob, a deleted Deny file would silently widen access",
            );
        }
        let path = base.join(f);
        if !path.is_file() {
            return err(
                format!("policy.files[{i}]"),
                format!("{} does not exist", path.display()),
            );
        }
        policy_files.push(path);
    }
    let admin_token = secret_from(
        "admin.token",
        None,
        raw.admin.token_file.map(|f| base.join(f)),
        raw.admin.token_env,
    )?;
    if admin_token.as_ref().is_some_and(|t| t.expose().len() < 32) {
        return err(
            "admin.token",
            "use at least 32 random characters (openssl rand -hex 32)",
        );
    }
    let metrics_token = metrics_token(raw.metrics, base)?;
    let revocation = revocation(raw.revocation, base)?;
    Ok(Config {
        revocation,
        saml,
        policy_files,
        admin_token,
        metrics_token,
        server,
        store,
        aws,
        issuer,
        idps,
        roles,
        maps,
        limits,
        session,
        cli,
        audit,
        source: None,
        dev,
    })
}

fn session(r: RawSession) -> R<SessionConfig> {
    let lifetime = match r.lifetime {
        Some(s) => parse_duration("session.lifetime", &s)?,
        None => Duration::from_secs(12 * 3600),
    };
    let idle_timeout = match r.idle_timeout {
        Some(s) => parse_duration("session.idle_timeout", &s)?,
        None => Duration::from_secs(3600),
    };
    // A week bounds how long a deprovisioned user's browser can keep its access.
    if !(Duration::from_secs(300)..=Duration::from_secs(7 * 86_400)).contains(&lifetime) {
        return err("session.lifetime", "must be between 5m and 7 days");
    }
    // Idle is checked against a last-use mark written at most once a minute.
    if idle_timeout < Duration::from_secs(120) || idle_timeout > lifetime {
        return err(
            "session.idle_timeout",
            "must be at least 2m and at most session.lifetime",
        );
    }
    Ok(SessionConfig {
        lifetime,
        idle_timeout,
    })
}

fn cli(r: RawCli) -> R<CliConfig> {
    let token_lifetime = match r.token_lifetime {
        Some(s) => parse_duration("cli.token_lifetime", &s)?,
        None => Duration::from_secs(3600),
    };
    let session_lifetime = match r.session_lifetime {
        Some(s) => parse_duration("cli.session_lifetime", &s)?,
        None => Duration::from_secs(12 * 3600),
    };
    if !(Duration::from_secs(300)..=Duration::from_secs(24 * 3600)).contains(&token_lifetime) {
        return err("cli.token_lifetime", "must be between 5m and 24h");
    }
    if session_lifetime < token_lifetime || session_lifetime > Duration::from_secs(30 * 86_400) {
        return err(
            "cli.session_lifetime",
            "must be at least cli.token_lifetime and at most 30 days",
        );
    }
    Ok(CliConfig {
        device_flow: r.device_flow.unwrap_or(true),
        verification_uri_complete: r.verification_uri_complete.unwrap_or(false),
        token_lifetime,
        session_lifetime,
        user_code_attempts_per_minute: r.user_code_attempts_per_minute.unwrap_or(10),
    })
}

fn server(r: RawServer) -> R<ServerConfig> {
    let listen = r.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
    let public_url = match r.public_url {
        Some(u) => Some(http_url("server.public_url", &u)?),
        None => None,
    };
    let mut trusted_proxies = Vec::new();
    for (i, p) in r.trusted_proxies.iter().enumerate() {
        let net = p
            .parse::<IpNet>()
            .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from));
        match net {
            Ok(n) => trusted_proxies.push(n),
            Err(_) => {
                return err(
                    format!("server.trusted_proxies[{i}]"),
                    format!("`{p}` is not an IP address or CIDR"),
                );
            }
        }
    }
    let trusted_proxies = TrustedProxies {
        nets: trusted_proxies,
        header: forwarded_header(r.forwarded_header.as_deref())?,
    };
    for (i, o) in r.cors_origins.iter().enumerate() {
        let u = http_url(&format!("server.cors_origins[{i}]"), o)?;
        if u.path() != "/" || u.query().is_some() {
            return err(
                format!("server.cors_origins[{i}]"),
                "an origin is scheme://host[:port] with no path",
            );
        }
    }
    let log_format = match r.log_format.as_deref() {
        None | Some("pretty") => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some(o) => {
            return err(
                "server.log_format",
                format!("`{o}`: use \"pretty\" or \"json\""),
            );
        }
    };
    let shutdown_timeout = match r.shutdown_timeout {
        Some(s) => parse_duration("server.shutdown_timeout", &s)?,
        None => Duration::from_secs(30),
    };
    Ok(ServerConfig {
        listen,
        public_url,
        trusted_proxies,
        cors_origins: r.cors_origins,
        log_format,
        shutdown_timeout,
    })
}

fn metrics_token(r: RawMetrics, base: &Path) -> R<Option<Secret<String>>> {
    let token = secret_from(
        "metrics.token",
        None,
        r.token_file.map(|f| base.join(f)),
        r.token_env,
    )?;
    if token.as_ref().is_some_and(|t| t.expose().len() < 32) {
        return err(
            "metrics.token",
            "use at least 32 random characters (openssl rand -hex 32)",
        );
    }
    Ok(token)
}

fn forwarded_header(h: Option<&str>) -> R<ForwardedHeader> {
    match h.map(str::to_ascii_lowercase).as_deref() {
        None | Some("x-forwarded-for") => Ok(ForwardedHeader::XForwardedFor),
        Some("forwarded") => Ok(ForwardedHeader::Forwarded),
        Some(o) => err(
            "server.forwarded_header",
            format!("`{o}`: use \"x-forwarded-for\" or \"forwarded\""),
        ),
    }
}

fn store(r: RawStore, base: &Path) -> R<StoreConfig> {
    let (backend, url, url_file, url_env, sentinels, sentinel_master) = match r {
        RawStore::Memory(_) => return Ok(StoreConfig::Memory),
        RawStore::Redis(r) => (
            "redis",
            r.redis_url,
            r.redis_url_file,
            r.redis_url_env,
            r.sentinels,
            r.sentinel_master,
        ),
        RawStore::RedisCluster(r) => (
            "redis_cluster",
            r.redis_url,
            r.redis_url_file,
            r.redis_url_env,
            Vec::new(),
            None,
        ),
    };
    // Both Redis backends take their URL(s) as a secret: they may carry a password.
    let Some(url) = secret_from(
        "store.redis_url",
        url,
        url_file.map(|p| base.join(p)),
        url_env,
    )?
    else {
        return err(
            "store.redis_url",
            format!(
                "backend = \"{backend}\" needs redis_url, redis_url_file or redis_url_env (a cluster: its seed nodes, comma-separated)"
            ),
        );
    };
    if backend == "redis_cluster" {
        let bad = url
            .expose()
            .split(',')
            .any(|n| !matches!(n.trim().split("://").next(), Some("redis" | "rediss")));
        if bad {
            return err(
                "store.redis_url",
                "cluster seed nodes must be redis:// or rediss:// URLs",
            );
        }
        return Ok(StoreConfig::RedisCluster { nodes: url });
    }
    let scheme = url.expose().split("://").next().unwrap_or_default();
    if !matches!(scheme, "redis" | "rediss" | "redis+unix" | "unix") {
        return err("store.redis_url", "must be a redis:// or rediss:// URL");
    }
    let sentinel = match (sentinels.is_empty(), sentinel_master) {
        (true, None) => None,
        (false, Some(master)) if !master.is_empty() => {
            for (i, a) in sentinels.iter().enumerate() {
                let ok = a
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !ok {
                    return err(format!("store.sentinels[{i}]"), "use host:port");
                }
            }
            Some(SentinelConfig {
                addrs: sentinels,
                master,
            })
        }
        _ => {
            return err(
                "store.sentinel_master",
                "Sentinel needs both `sentinels` (host:port list) and `sentinel_master` (the monitored name)",
            );
        }
    };
    Ok(StoreConfig::Redis { url, sentinel })
}

fn aws(r: RawAws, dev: bool, base: &Path) -> R<AwsConfig> {
    let mode = match r.mode.as_deref().unwrap_or("assume_role") {
        "assume_role" => AwsMode::AssumeRole,
        "web_identity" => AwsMode::WebIdentity,
        o => {
            return err(
                "aws.mode",
                format!("`{o}`: use \"assume_role\" or \"web_identity\""),
            );
        }
    };
    let default_duration = session_duration(
        "aws.default_duration",
        r.default_duration.as_deref().unwrap_or("1h"),
    )?;
    let role_chaining = match r.role_chaining.as_deref().unwrap_or("auto") {
        "auto" => RoleChaining::Auto,
        "true" => RoleChaining::Yes,
        "false" => RoleChaining::No,
        o => {
            return err(
                "aws.role_chaining",
                format!("`{o}`: use \"auto\", \"true\" or \"false\""),
            );
        }
    };
    let mut partitions = BTreeMap::new();
    for (name, region, fed, console) in [
        (
            "aws",
            "us-east-1",
            "https://signin.aws.amazon.com/federation",
            "console.aws.amazon.com",
        ),
        (
            "aws-cn",
            "cn-north-1",
            "https://signin.amazonaws.cn/federation",
            "console.amazonaws.cn",
        ),
        (
            "aws-us-gov",
            "us-gov-west-1",
            "https://signin.amazonaws-us-gov.com/federation",
            "console.amazonaws-us-gov.com",
        ),
    ] {
        partitions.insert(
            name.to_string(),
            Partition {
                region: region.into(),
                sts_endpoint: None,
                iam_endpoint: None,
                federation_url: Url::parse(fed).expect("static URL"),
                console_hosts: vec![console.into()],
            },
        );
    }
    for (name, p) in r.partitions {
        let path = format!("aws.partitions.{name}");
        let Some(slot) = partitions.get_mut(&name) else {
            return err(path, "unknown partition: use aws, aws-cn or aws-us-gov");
        };
        if let Some(region) = p.region {
            slot.region = region;
        }
        if let Some(e) = p.sts_endpoint {
            slot.sts_endpoint = Some(http_url(&format!("{path}.sts_endpoint"), &e)?);
        }
        if let Some(e) = p.iam_endpoint {
            slot.iam_endpoint = Some(http_url(&format!("{path}.iam_endpoint"), &e)?);
        }
        if let Some(f) = p.federation_url {
            slot.federation_url = http_url(&format!("{path}.federation_url"), &f)?;
        }
        if let Some(hosts) = p.console_hosts {
            slot.console_hosts = hosts;
        }
    }
    let key_id = secret_from(
        "aws.access_key_id",
        None,
        r.access_key_id_file.map(|f| base.join(f)),
        r.access_key_id_env,
    )?;
    let secret = secret_from(
        "aws.secret_access_key",
        None,
        r.secret_access_key_file.map(|f| base.join(f)),
        r.secret_access_key_env,
    )?;
    let static_credentials = match (key_id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Some(StaticCredentials {
            access_key_id,
            secret_access_key,
        }),
        (None, None) => {
            let emulated = partitions["aws"]
                .sts_endpoint
                .as_ref()
                .is_some_and(is_loopback_url);
            (dev && emulated).then(|| StaticCredentials {
                access_key_id: Secret::new("rolegate-dev".into()),
                secret_access_key: Secret::new("rolegate-dev".into()),
            })
        }
        _ => {
            return err(
                "aws.access_key_id_file",
                "give both the access key id and the secret access key, or neither",
            );
        }
    };
    Ok(AwsConfig {
        mode,
        default_duration,
        role_chaining,
        partitions,
        static_credentials,
    })
}

fn revocation(r: RawRevocation, base: &Path) -> R<RevocationConfig> {
    let key_id = secret_from(
        "revocation.access_key_id",
        None,
        r.access_key_id_file.map(|f| base.join(f)),
        r.access_key_id_env,
    )?;
    let secret = secret_from(
        "revocation.secret_access_key",
        None,
        r.secret_access_key_file.map(|f| base.join(f)),
        r.secret_access_key_env,
    )?;
    let credentials = match (key_id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Some(StaticCredentials {
            access_key_id,
            secret_access_key,
        }),
        (None, None) => None,
        _ => {
            return err(
                "revocation.access_key_id_file",
                "give both the access key id and the secret access key, or neither",
            );
        }
    };
    let write_iam = r.write_iam.unwrap_or(true);
    if !write_iam && credentials.is_some() {
        return err(
            "revocation.write_iam",
            "keys are given but write_iam = false: remove the keys, or the switch",
        );
    }
    Ok(RevocationConfig {
        write_iam,
        credentials,
    })
}

fn issuer(r: RawIssuer, dev: bool, base: &Path) -> R<IssuerConfig> {
    let url = http_url("issuer.url", &r.url)?;
    // AWS fetches discovery from the issuer over HTTPS (IAM OIDC provider requirements).
    if url.scheme() != "https" && !dev {
        return err(
            "issuer.url",
            "must be https:// (AWS fetches discovery and JWKS from it)",
        );
    }
    if r.audience.trim().is_empty() {
        return err("issuer.audience", "must not be empty");
    }
    let signing_key_file = r.signing_key_file.map(|p| base.join(p));
    match &signing_key_file {
        Some(p) if !p.is_file() => {
            return err(
                "issuer.signing_key_file",
                format!("{} does not exist", p.display()),
            );
        }
        None if !dev => return err("issuer.signing_key_file", "required outside --dev"),
        _ => {}
    }
    let mut previous_signing_key_files = Vec::new();
    for (i, f) in r.previous_signing_key_files.into_iter().enumerate() {
        let p = base.join(f);
        if !p.is_file() {
            return err(
                format!("issuer.previous_signing_key_files[{i}]"),
                format!("{} does not exist", p.display()),
            );
        }
        previous_signing_key_files.push(p);
    }
    Ok(IssuerConfig {
        url,
        signing_key_file,
        previous_signing_key_files,
        audience: r.audience,
    })
}

fn idp(r: RawIdp, i: usize, dev: bool, base: &Path) -> R<IdpConfig> {
    let p = |k: &str| format!("idp[{i}].{k}");
    let (id, display_name, logout_url) = match &r {
        RawIdp::Oidc(o) => (&o.id, &o.display_name, &o.logout_url),
        RawIdp::Saml(s) => (&s.id, &s.display_name, &s.logout_url),
        RawIdp::Dev(d) => (&d.id, &d.display_name, &d.logout_url),
    };
    let display_name = display_name.clone().unwrap_or_else(|| id.clone());
    let id = IdpId::parse(id).or_else(|m| err(p("id"), m.to_string()))?;
    let logout_url = match logout_url {
        Some(u) => {
            let url = http_url(&p("logout_url"), u)?;
            if url.scheme() != "https" && !is_loopback_url(&url) {
                return err(p("logout_url"), "must be https (or a loopback test IdP)");
            }
            Some(url)
        }
        None => None,
    };
    let kind = match r {
        RawIdp::Oidc(o) => IdpKind::Oidc(Box::new(oidc(o, &p, base)?)),
        RawIdp::Dev(d) if dev => {
            let text = match &d.users_file {
                Some(f) => std::fs::read_to_string(base.join(f)).or_else(|e| {
                    err(p("users_file"), format!("cannot read {}: {e}", f.display()))
                })?,
                None => DEV_USERS.to_string(),
            };
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Users {
                user: Vec<DevUser>,
            }
            let users: Users =
                toml::from_str(&text).or_else(|e| err(p("users_file"), e.to_string()))?;
            IdpKind::Dev(DevIdpConfig { users: users.user })
        }
        RawIdp::Dev(_) => {
            return err(
                p("kind"),
                "the dev IdP exists only under `rolegate serve --dev`",
            );
        }
        RawIdp::Saml(s) => IdpKind::Saml(Box::new(saml_idp(s, &p, base)?)),
    };
    Ok(IdpConfig {
        id,
        display_name,
        kind,
        logout_url,
    })
}

fn oidc(r: RawOidcIdp, p: &dyn Fn(&str) -> String, base: &Path) -> R<OidcIdpConfig> {
    let Some(issuer) = r.issuer else {
        return err(p("issuer"), "required for kind = \"oidc\"");
    };
    let iss_url = http_url(&p("issuer"), &issuer)?;
    if iss_url.scheme() != "https" && !is_loopback_url(&iss_url) {
        return err(
            p("issuer"),
            "must be https:// (plain http only for a loopback test IdP)",
        );
    }
    let Some(client_id) = r.client_id else {
        return err(p("client_id"), "required for kind = \"oidc\"");
    };
    let client_secret = secret_from(
        &p("client_secret"),
        None,
        r.client_secret_file.map(|f| base.join(f)),
        r.client_secret_env,
    )?;
    let clock_skew = match r.clock_skew {
        Some(s) => parse_duration(&p("clock_skew"), &s)?,
        None => Duration::from_secs(60),
    };
    if clock_skew > MAX_SKEW {
        return err(p("clock_skew"), "at most 300s");
    }
    let jwks_file = r.jwks_file.map(|f| base.join(f));
    if let Some(f) = &jwks_file
        && !f.is_file()
    {
        return err(p("jwks_file"), format!("{} does not exist", f.display()));
    }
    let defaults = OidcIdpConfig::new(issuer, client_id);
    Ok(OidcIdpConfig {
        client_secret,
        audiences: r.audiences,
        groups_claim: r.groups_claim.unwrap_or(defaults.groups_claim),
        username_claim: r.username_claim.unwrap_or(defaults.username_claim),
        required_claims: r.required_claims,
        jwks_file,
        clock_skew,
        mfa_amr_values: r.mfa_amr_values.unwrap_or(defaults.mfa_amr_values),
        mfa_acr_values: r.mfa_acr_values,
        insecure_trust_unverified_email: r.insecure_trust_unverified_email,
        ..defaults
    })
}

fn saml_idp(r: RawSamlIdp, p: &dyn Fn(&str) -> String, base: &Path) -> R<SamlIdpConfig> {
    let metadata = match (r.metadata_file, r.metadata_url) {
        (Some(f), None) => {
            let f = base.join(f);
            if !f.is_file() {
                return err(
                    p("metadata_file"),
                    format!("{} does not exist", f.display()),
                );
            }
            MetadataSource::File(f)
        }
        (None, Some(u)) => {
            let url = http_url(&p("metadata_url"), &u)?;
            // Unsigned metadata fetched over plain HTTP would let anyone on the path swap the
            // pinned certificate.
            if url.scheme() != "https" && !is_loopback_url(&url) {
                return err(
                    p("metadata_url"),
                    "must be https:// (plain http only for a loopback test IdP)",
                );
            }
            MetadataSource::Url(url)
        }
        (Some(_), Some(_)) => {
            return err(
                p("metadata_url"),
                "set metadata_file or metadata_url, not both",
            );
        }
        (None, None) => {
            return err(
                p("metadata_file"),
                "kind = \"saml\" needs metadata_file or metadata_url",
            );
        }
    };
    let clock_skew = match r.clock_skew {
        Some(s) => parse_duration(&p("clock_skew"), &s)?,
        None => Duration::from_secs(60),
    };
    if clock_skew > MAX_SKEW {
        return err(p("clock_skew"), "at most 300s");
    }
    let metadata_refresh = match r.metadata_refresh {
        Some(s) => parse_duration(&p("metadata_refresh"), &s)?,
        None => Duration::from_secs(3600),
    };
    if metadata_refresh < Duration::from_secs(60) {
        return err(p("metadata_refresh"), "at least 60s");
    }
    let d = SamlIdpConfig::new(metadata);
    Ok(SamlIdpConfig {
        metadata_refresh,
        groups_attribute: r.groups_attribute.unwrap_or(d.groups_attribute.clone()),
        groups_split_commas: r.groups_split_commas,
        email_attribute: r.email_attribute.unwrap_or(d.email_attribute.clone()),
        username_attribute: r.username_attribute.unwrap_or(d.username_attribute.clone()),
        mfa_authn_contexts: r.mfa_authn_contexts.unwrap_or(d.mfa_authn_contexts.clone()),
        trust_email: r.trust_email,
        allow_idp_initiated: r.allow_idp_initiated,
        insecure_allow_sha1: r.insecure_allow_sha1,
        force_authn: r.force_authn,
        clock_skew,
        ..d
    })
}

fn saml_sp(r: RawSaml, base: &Path) -> R<SamlSpConfig> {
    let file = |key: &str, f: Option<PathBuf>| -> R<Option<PathBuf>> {
        match f.map(|f| base.join(f)) {
            Some(f) if !f.is_file() => err(
                format!("saml.{key}"),
                format!("{} does not exist", f.display()),
            ),
            other => Ok(other),
        }
    };
    let sp_key_file = file("sp_key_file", r.sp_key_file)?;
    let sp_cert_file = file("sp_cert_file", r.sp_cert_file)?;
    if sp_key_file.is_some() != sp_cert_file.is_some() {
        return err(
            "saml.sp_cert_file",
            "set sp_key_file and sp_cert_file together",
        );
    }
    if let Some(e) = &r.entity_id
        && e.trim().is_empty()
    {
        return err("saml.entity_id", "must not be empty");
    }
    Ok(SamlSpConfig {
        entity_id: r.entity_id,
        sp_key_file,
        sp_cert_file,
    })
}

fn role(r: RawRole, i: usize) -> R<RoleConfig> {
    let arn = RoleArn::parse(&r.arn).or_else(|m| err(format!("role[{i}].arn"), m.to_string()))?;
    let alias = role_alias(r.alias, &arn, i)?;
    if let Some(name) = &r.account_name {
        account_name(name, i)?;
    }
    let max_duration = session_duration(
        &format!("role[{i}].max_duration"),
        r.max_duration.as_deref().unwrap_or("1h"),
    )?;
    Ok(RoleConfig {
        arn,
        alias,
        account_name: r.account_name,
        max_duration,
    })
}

/// The alias becomes the AWS CLI profile name `rolegate setup` writes (see [`text`]).
fn role_alias(alias: Option<String>, arn: &RoleArn, i: usize) -> R<String> {
    let explicit = alias.is_some();
    let alias = alias.unwrap_or_else(|| arn.name().to_string());
    if text::is_profile_name(&alias) {
        return Ok(alias);
    }
    let hint = if explicit {
        ""
    } else {
        " (it defaults to the role name; set `alias` explicitly)"
    };
    err(
        format!("role[{i}].alias"),
        format!(
            "must be {}: it becomes an AWS CLI profile name{hint}",
            text::PROFILE_NAME_RULE
        ),
    )
}

/// Free text written into `~/.aws/config` as a comment: no character that could end the line.
fn account_name(name: &str, i: usize) -> R<()> {
    match text::line_breaking_char(name) {
        None => Ok(()),
        Some(c) => err(
            format!("role[{i}].account_name"),
            format!(
                "holds the control character {}; it is written into ~/.aws/config, where a line break adds keys",
                text::describe(c)
            ),
        ),
    }
}

fn map(m: RawMap, i: usize, idps: &[IdpConfig], roles: &[RoleConfig]) -> R<MapRule> {
    let p = |k: &str| format!("map[{i}].{k}");
    let idp = IdpId::parse(&m.idp).or_else(|e| err(p("idp"), e.to_string()))?;
    if !idps.iter().any(|x| x.id == idp) {
        return err(p("idp"), format!("no [[idp]] has id `{idp}`"));
    }
    if m.groups.is_empty() {
        return err(p("groups"), "list at least one group");
    }
    let mut aliases = Vec::new();
    for (j, r) in m.roles.iter().enumerate() {
        match roles.iter().find(|x| &x.alias == r || x.arn.as_str() == r) {
            Some(role) => aliases.push(role.alias.clone()),
            None => {
                return err(
                    format!("map[{i}].roles[{j}]"),
                    format!("`{r}` is not in the role catalogue ([[role]])"),
                );
            }
        }
    }
    let max_duration = match m.max_duration {
        Some(d) => Some(session_duration(&p("max_duration"), &d)?),
        None => None,
    };
    for k in &m.transitive_tag_keys {
        if !m.tags.contains_key(k) {
            return err(
                p("transitive_tag_keys"),
                format!("`{k}` is not one of this rule's tags"),
            );
        }
    }
    Ok(MapRule {
        idp,
        groups: m.groups,
        roles: aliases,
        max_duration,
        tags: m.tags,
        transitive_tag_keys: m.transitive_tag_keys,
    })
}

fn session_duration(path: &str, s: &str) -> R<Duration> {
    let d = parse_duration(path, s)?;
    if d < MIN_SESSION || d > MAX_SESSION {
        return err(path, "must be between 15m and 12h (the STS session range)");
    }
    Ok(d)
}

fn http_url(path: &str, s: &str) -> R<Url> {
    match Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        _ => err(path, format!("`{s}` is not an http(s) URL")),
    }
}

/// A secret given inline (discouraged), in a file, or in an environment variable.
fn secret_from(
    path: &str,
    inline: Option<String>,
    file: Option<PathBuf>,
    env: Option<String>,
) -> R<Option<Secret<String>>> {
    let given = u8::from(inline.is_some()) + u8::from(file.is_some()) + u8::from(env.is_some());
    if given > 1 {
        return err(path, "give only one of the value, *_file or *_env");
    }
    if let Some(f) = file {
        let text = std::fs::read_to_string(&f).or_else(|e| {
            err(
                format!("{path}_file"),
                format!("cannot read {}: {e}", f.display()),
            )
        })?;
        return Ok(Some(Secret::new(text.trim_end().to_string())));
    }
    if let Some(var) = env {
        return match std::env::var(&var) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
            _ => err(
                format!("{path}_env"),
                format!("environment variable {var} is not set"),
            ),
        };
    }
    Ok(inline.map(Secret::new))
}
