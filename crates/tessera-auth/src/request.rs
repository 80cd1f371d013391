//! The authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636, and OIDC's nonce) and the
//! strict parsing of its response (state in constant time, provider errors typed, RFC 9207 `iss`).

use serde_json::{json, Value};
use url::Url;

use crate::authority::Metadata;
use crate::error::{Error, OAuthError, Result};
use crate::secret::{AuthorizationCode, CsrfState, Nonce, PkceCodeVerifier};
use crate::token_client::oauth_client;

/// An authorize request in flight: what the response will be checked against.
#[derive(Debug)]
pub(crate) struct PendingAuthorization {
    pub url: Url,
    pub redirect_uri: Url,
    pub state: CsrfState,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl PendingAuthorization {
    /// What an agent is asked to do for this request.
    pub fn agent_request(&self) -> crate::agent::AgentRequest {
        crate::agent::AgentRequest {
            authorize_url: self.url.clone(),
            redirect_uri: self.redirect_uri.clone(),
        }
    }
}

/// The options of one authorize request.
#[derive(Debug, Default)]
pub(crate) struct AuthorizeOptions<'a> {
    pub scopes: &'a [String],
    pub prompt: Option<&'a str>,
    pub login_hint: Option<&'a str>,
    /// The session id (`sid` claim) for `prompt=none`, when there is no `login_hint` claim.
    pub sid: Option<&'a str>,
    pub domain_hint: Option<&'a str>,
    pub claims: Option<&'a str>,
    pub client_info: bool,
    /// `query` unless the agent asks for `form_post`.
    pub response_mode: Option<&'a str>,
    /// More parameters (the correlation id and library facts MSAL sends Microsoft).
    pub extra: &'a [(&'static str, String)],
}

/// What a successful authorization response carries.
#[derive(Debug)]
pub(crate) struct AuthorizationResponse {
    pub code: AuthorizationCode,
    /// Entra's `client_info` (asked for with `client_info=1`): the account, before any token.
    pub client_info: Option<String>,
}

/// Builds the authorize URL with fresh PKCE (S256), state and nonce.
pub(crate) fn authorize(
    metadata: &Metadata,
    client_id: &str,
    redirect_uri: &Url,
    options: AuthorizeOptions<'_>,
) -> PendingAuthorization {
    let state = CsrfState::generate();
    let nonce = Nonce::generate();
    let verifier = PkceCodeVerifier::generate();
    let challenge = oauth2::PkceCodeChallenge::from_code_verifier_sha256(
        &oauth2::PkceCodeVerifier::new(verifier.secret().to_owned()),
    );
    let client = oauth_client(metadata, client_id, redirect_uri);
    let state_value = state.secret().to_owned();
    let mut request = client
        .authorize_url(move || oauth2::CsrfToken::new(state_value))
        .add_scopes(options.scopes.iter().map(|s| oauth2::Scope::new(s.clone())))
        .set_pkce_challenge(challenge)
        .add_extra_param("nonce", nonce.secret().to_owned())
        .add_extra_param(
            "response_mode",
            options.response_mode.unwrap_or("query").to_owned(),
        );
    for (name, value) in [
        ("prompt", options.prompt),
        ("login_hint", options.login_hint),
        ("sid", options.sid),
        ("domain_hint", options.domain_hint),
        ("claims", options.claims),
    ] {
        if let Some(value) = value {
            request = request.add_extra_param(name, value.to_owned());
        }
    }
    if options.client_info {
        request = request.add_extra_param("client_info", "1");
    }
    for (name, value) in options.extra {
        request = request.add_extra_param(*name, value.clone());
    }
    let (url, _) = request.url();
    PendingAuthorization {
        url,
        redirect_uri: redirect_uri.clone(),
        state,
        nonce,
        verifier,
    }
}

/// Checks a redirect against its request and returns the code.
pub(crate) fn parse_redirect(
    redirect: &Url,
    pending: &PendingAuthorization,
    metadata: &Metadata,
) -> Result<AuthorizationResponse> {
    let expected = &pending.redirect_uri;
    let same_target = redirect.scheme() == expected.scheme()
        && redirect.host_str() == expected.host_str()
        && redirect.port_or_known_default() == expected.port_or_known_default()
        && redirect.path().trim_end_matches('/') == expected.path().trim_end_matches('/');
    if !same_target {
        return Err(Error::InvalidResponse(
            "the response did not come back to our redirect URI".into(),
        ));
    }
    // Query for response_mode=query; the fragment as a fallback for providers that use it.
    let mut params: Vec<(String, String)> = redirect.query_pairs().into_owned().collect();
    if params.is_empty() {
        if let Some(fragment) = redirect.fragment() {
            params = url::form_urlencoded::parse(fragment.as_bytes())
                .into_owned()
                .collect();
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match get("state") {
        Some(state) if pending.state.matches(state) => {}
        _ => return Err(Error::StateMismatch),
    }
    if metadata.authorization_response_iss_parameter_supported {
        // RFC 9207 §2.4: a provider that advertises `iss` must send it, and it must match.
        if get("iss") != Some(metadata.issuer.as_str()) {
            return Err(Error::InvalidResponse(
                "the response's iss is missing or not the provider's issuer (RFC 9207)".into(),
            ));
        }
    }
    if let Some(error) = get("error") {
        let suberror = get("error_subcode").or(get("suberror"));
        // A user's cancel is `access_denied` with `error_subcode=cancel` (MSAL.NET
        // `AuthorizationResult`); any other `access_denied` is the provider's refusal
        // (AADSTS50105: not assigned to the app), whose reason the user must see.
        if error == "access_denied" && suberror == Some("cancel") {
            return Err(Error::UserCancelled);
        }
        let oauth = OAuthError {
            error: error.to_owned(),
            error_description: get("error_description").map(str::to_owned),
            error_uri: get("error_uri").map(str::to_owned),
            suberror: suberror.map(str::to_owned),
            ..OAuthError::default()
        };
        return Err(Error::from_oauth(oauth));
    }
    let code = get("code")
        .filter(|c| !c.is_empty())
        .map(AuthorizationCode::new)
        .ok_or_else(|| {
            Error::InvalidResponse("the response has neither a code nor an error".into())
        })?;
    Ok(AuthorizationResponse {
        code,
        client_info: get("client_info").map(str::to_owned),
    })
}

/// Merges a claims request with the client's capabilities, as MSAL does: capabilities go to
/// `access_token.xms_cc.values`, the rest of the claims JSON is kept.
pub(crate) fn merge_claims(
    claims: Option<&str>,
    capabilities: &[String],
) -> Result<Option<String>> {
    let mut merged: Value = match claims.map(str::trim).filter(|c| !c.is_empty()) {
        Some(text) => {
            let value: Value = serde_json::from_str(text).map_err(|e| {
                Error::Configuration(format!("the claims request is not JSON: {e}"))
            })?;
            if !value.is_object() {
                return Err(Error::Configuration(
                    "the claims request must be a JSON object".into(),
                ));
            }
            value
        }
        None if capabilities.is_empty() => return Ok(None),
        None => json!({}),
    };
    if !capabilities.is_empty() {
        if !merged["access_token"].is_object() {
            merged["access_token"] = json!({});
        }
        merged["access_token"]["xms_cc"] = json!({ "values": capabilities });
    }
    Ok(Some(merged.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(iss_param: bool) -> Metadata {
        serde_json::from_value(json!({
            "issuer": "https://idp.example",
            "authorization_endpoint": "https://idp.example/authorize",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
            "authorization_response_iss_parameter_supported": iss_param,
        }))
        .unwrap()
    }

    fn pending() -> PendingAuthorization {
        let options = AuthorizeOptions {
            scopes: &["User.Read".into(), "openid".into()],
            prompt: Some("select_account"),
            login_hint: Some("ada@tessera.test"),
            claims: Some(r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#),
            client_info: true,
            ..Default::default()
        };
        authorize(
            &metadata(false),
            "client-1",
            &Url::parse("http://localhost:8400").unwrap(),
            options,
        )
    }

    #[test]
    fn the_authorize_url_carries_pkce_state_nonce_and_options() {
        let p = pending();
        let q: std::collections::HashMap<String, String> =
            p.url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "client-1");
        assert_eq!(q["redirect_uri"], "http://localhost:8400/");
        assert_eq!(q["scope"], "User.Read openid");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], p.verifier.s256_challenge());
        assert_eq!(q["state"], p.state.secret());
        assert_eq!(q["nonce"], p.nonce.secret());
        assert_eq!(q["prompt"], "select_account");
        assert_eq!(q["login_hint"], "ada@tessera.test");
        assert_eq!(q["client_info"], "1");
        assert!(q["claims"].contains("cp1"));
    }

    #[test]
    fn redirects_are_parsed_strictly() {
        let p = pending();
        let m = metadata(false);
        let at = |query: &str| Url::parse(&format!("http://localhost:8400/?{query}")).unwrap();
        let state = p.state.secret().to_owned();
        let code = parse_redirect(&at(&format!("code=abc&state={state}")), &p, &m).unwrap();
        assert_eq!(code.code.secret(), "abc");
        assert!(matches!(
            parse_redirect(&at("code=abc&state=forged"), &p, &m),
            Err(Error::StateMismatch)
        ));
        assert!(matches!(
            parse_redirect(&at("code=abc"), &p, &m),
            Err(Error::StateMismatch)
        ));
        let other = Url::parse(&format!("http://localhost:9999/?code=abc&state={state}")).unwrap();
        assert!(matches!(
            parse_redirect(&other, &p, &m),
            Err(Error::InvalidResponse(_))
        ));
        let err = parse_redirect(
            &at(&format!(
                "error=login_required&error_description=AADSTS50058%3A+no+user&state={state}"
            )),
            &p,
            &m,
        )
        .unwrap_err();
        assert_eq!(
            err.classification(),
            Some(crate::error::Classification::LoginRequired)
        );
        let err = parse_redirect(
            &at(&format!(
                "error=invalid_request&error_description=bad&state={state}"
            )),
            &p,
            &m,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Server(_)), "{err}");
        assert!(matches!(
            parse_redirect(
                &at(&format!(
                    "error=access_denied&error_subcode=cancel&state={state}"
                )),
                &p,
                &m
            ),
            Err(Error::UserCancelled)
        ));
        assert!(matches!(
            parse_redirect(&at(&format!("state={state}")), &p, &m),
            Err(Error::InvalidResponse(_))
        ));
    }

    // Issue 20, point 5: every access_denied was taken for a cancel, hiding the reason
    // (AADSTS50105: the user is not assigned to the app).
    #[test]
    fn access_denied_is_a_cancel_only_with_the_cancel_subcode() {
        let p = pending();
        let m = metadata(false);
        let state = p.state.secret().to_owned();
        let url = Url::parse(&format!(
            "http://localhost:8400/?error=access_denied&error_description=AADSTS50105%3A+Your+administrator+has+configured+the+application+to+block+users+unless+they+are+specifically+granted+access&state={state}"
        ))
        .unwrap();
        match parse_redirect(&url, &p, &m) {
            Err(Error::Server(oauth)) => {
                assert_eq!(oauth.aadsts(), Some(50105));
                assert_eq!(oauth.error, "access_denied");
            }
            other => panic!("the provider's refusal, not a cancel: {other:?}"),
        }
    }

    #[test]
    fn rfc_9207_iss_is_required_when_advertised() {
        let p = pending();
        let m = metadata(true);
        let state = p.state.secret().to_owned();
        let with = |iss: &str| {
            Url::parse(&format!("http://localhost:8400/?code=c&state={state}{iss}")).unwrap()
        };
        assert!(parse_redirect(&with("&iss=https%3A%2F%2Fidp.example"), &p, &m).is_ok());
        assert!(parse_redirect(&with("&iss=https%3A%2F%2Fevil.example"), &p, &m).is_err());
        assert!(parse_redirect(&with(""), &p, &m).is_err());
    }

    #[test]
    fn claims_merge_with_capabilities() {
        let caps = vec!["cp1".to_owned()];
        assert_eq!(merge_claims(None, &[]).unwrap(), None);
        let merged: Value =
            serde_json::from_str(&merge_claims(None, &caps).unwrap().unwrap()).unwrap();
        assert_eq!(
            merged,
            json!({ "access_token": { "xms_cc": { "values": ["cp1"] } } })
        );
        let challenge = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
        let merged: Value =
            serde_json::from_str(&merge_claims(Some(challenge), &caps).unwrap().unwrap()).unwrap();
        assert_eq!(merged["access_token"]["nbf"]["value"], "1700000000");
        assert_eq!(merged["access_token"]["xms_cc"]["values"][0], "cp1");
        assert!(merge_claims(Some("[1]"), &caps).is_err());
        assert!(merge_claims(Some("{oops"), &caps).is_err());
    }
}
