//! A scripted browser for tests: follows the provider's redirects, keeps its cookies, and
//! fills its sign-in pages as a user would, over plain HTTP. It stands in for the user in the
//! engine's, the CLI's and this crate's tests (the "headless agent").
//!
//! It stops at the redirect URI without requesting it ([`UserAgent::sign_in`]), like the
//! app's popup window, or delivers the response there like a system browser would
//! ([`UserAgent::deliver`]).

use std::time::Duration;

use tessera_auth::http::HttpConfig;
use url::Url;

/// The password of the emulator's built-in users (`tessera_idp::DEFAULT_PASSWORD`; a test of
/// tessera-idp checks that the two agree).
pub const DEFAULT_PASSWORD: &str = "tessera";

/// How the scripted user answers each page.
#[derive(Debug, Clone)]
pub struct Script {
    /// Typed into the sign-in form.
    pub username: String,
    /// Typed into the sign-in form.
    pub password: String,
    /// "Stay signed in?": yes or no.
    pub keep_signed_in: bool,
    /// Accept the consent page (otherwise cancel).
    pub accept_consent: bool,
    /// Approve the MFA request (otherwise give up with an error).
    pub approve_mfa: bool,
}

impl Script {
    /// Signs in as `username` with the built-in password, says yes to everything.
    pub fn user(username: &str) -> Script {
        Script {
            username: username.into(),
            password: DEFAULT_PASSWORD.into(),
            keep_signed_in: true,
            accept_consent: true,
            approve_mfa: true,
        }
    }
}

/// Where a sign-in ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A redirect to the redirect URI (query or fragment response).
    Redirect(Url),
    /// A `form_post` response: the redirect URI and the fields to post to it.
    FormPost {
        /// The redirect URI.
        action: Url,
        /// The fields (`code`, `state`, or `error`…).
        fields: Vec<(String, String)>,
    },
}

impl Outcome {
    /// The response parameters, wherever they are (query, fragment or form).
    pub fn params(&self) -> Vec<(String, String)> {
        match self {
            Outcome::FormPost { fields, .. } => fields.clone(),
            Outcome::Redirect(url) => {
                let from_fragment = url
                    .fragment()
                    .map(|f| {
                        url::form_urlencoded::parse(f.as_bytes())
                            .into_owned()
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                url.query_pairs()
                    .into_owned()
                    .chain(from_fragment)
                    .collect()
            }
        }
    }

    /// One response parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Why the scripted sign-in stopped.
#[derive(Debug, thiserror::Error)]
pub enum UserAgentError {
    /// An HTTP failure.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The provider showed an error page or an error on a form.
    #[error("the page says: {0}")]
    Page(String),
    /// The script does not answer this page (MFA not approved, for instance).
    #[error("the script stops at the {0} page")]
    Stopped(String),
    /// A page this agent does not know, or an unexpected status.
    #[error("unexpected response: {0}")]
    Unexpected(String),
}

/// The scripted browser. Cookies persist across calls, like a browser profile.
#[derive(Debug, Clone)]
pub struct UserAgent {
    http: reqwest::Client,
    /// The answers it gives.
    pub script: Script,
}

impl UserAgent {
    /// A browser with an empty cookie jar, trusting what the system trusts (and
    /// `SSL_CERT_FILE`, when set, as the engine does).
    pub fn new(script: Script) -> UserAgent {
        Self::with_http(script, &HttpConfig::default())
    }

    /// A browser on the engine's network stack as `config` sets it up: a provider's CA, a
    /// resolver that sends a public host name to a local provider.
    pub fn with_http(script: Script, config: &HttpConfig) -> UserAgent {
        let config = HttpConfig {
            timeout: Duration::from_secs(30),
            ..config.clone()
        };
        let http = tessera_auth::http::client_builder(&config)
            .and_then(|builder| {
                builder
                    .cookie_store(true)
                    .build()
                    .map_err(|e| tessera_auth::Error::Configuration(e.to_string()))
            })
            .unwrap_or_default();
        UserAgent { http, script }
    }

    /// The same browser (cookies shared) driven by another script: a second user signing in
    /// in the same browser profile.
    pub fn with_script(&self, script: Script) -> UserAgent {
        UserAgent {
            http: self.http.clone(),
            script,
        }
    }

    /// Opens `authorize_url` and answers pages until the provider sends the browser to a URL
    /// starting with `redirect_uri` (which is not requested).
    pub async fn sign_in(
        &self,
        authorize_url: &Url,
        redirect_uri: &str,
    ) -> Result<Outcome, UserAgentError> {
        let response = self.http.get(authorize_url.clone()).send().await?;
        match self
            .answer_pages(response, Some(redirect_uri), None)
            .await?
        {
            Ended::Outcome(outcome) => Ok(outcome),
            Ended::DeviceDone(message) => Err(UserAgentError::Unexpected(format!(
                "a device sign-in page where a redirect was expected: {message}"
            ))),
        }
    }

    /// Opens the device flow's `verification_uri`, types `user_code`, and answers the sign-in
    /// pages until the provider says the device is signed in; returns what the last page says.
    pub async fn device_sign_in(
        &self,
        verification_uri: &Url,
        user_code: &str,
    ) -> Result<String, UserAgentError> {
        let response = self.http.get(verification_uri.clone()).send().await?;
        match self.answer_pages(response, None, Some(user_code)).await? {
            Ended::DeviceDone(message) => Ok(message),
            Ended::Outcome(outcome) => Err(UserAgentError::Unexpected(format!(
                "a redirect where the device sign-in's last page was expected: {outcome:?}"
            ))),
        }
    }

    async fn answer_pages(
        &self,
        mut response: reqwest::Response,
        redirect_uri: Option<&str>,
        user_code: Option<&str>,
    ) -> Result<Ended, UserAgentError> {
        let mut credentials_sent = false;
        let mut user_code_sent = false;
        for _ in 0..20 {
            let url = response.url().clone();
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        UserAgentError::Unexpected("redirect without Location".into())
                    })?;
                let next = url.join(location).map_err(|e| {
                    UserAgentError::Unexpected(format!("bad Location {location}: {e}"))
                })?;
                if redirect_uri.is_some_and(|r| next.as_str().starts_with(r)) {
                    return Ok(Ended::Outcome(Outcome::Redirect(next)));
                }
                response = self.http.get(next).send().await?;
                continue;
            }
            let html = response.text().await?;
            if !status.is_success() {
                return Err(match page_kind(&html).as_deref() {
                    Some("device_code") => UserAgentError::Page(error_text(&html)),
                    Some("error") => UserAgentError::Page(error_text(&html)),
                    _ => UserAgentError::Unexpected(format!("HTTP {status}: {}", truncate(&html))),
                });
            }
            let kind = page_kind(&html)
                .or_else(|| generic_kind(&html))
                .ok_or_else(|| UserAgentError::Unexpected(truncate(&html)))?;
            let action = form_action(&html, &url)?;
            let mut fields = hidden_fields(&html);
            // Another provider's form posting the response to the redirect URI (form_post).
            if redirect_uri.is_some_and(|r| action.as_str().starts_with(r)) {
                return Ok(Ended::Outcome(Outcome::FormPost { action, fields }));
            }
            match kind.as_str() {
                // A provider whose pages are not tessera-idp's: a user types the name and the
                // password into the form's text and password fields, and confirms other
                // forms (consent, "continue").
                "generic_login" => {
                    if credentials_sent {
                        return Err(UserAgentError::Stopped("a second sign-in form".into()));
                    }
                    credentials_sent = true;
                    for input in tags(&html, "input") {
                        let Some(name) = attr(input, "name") else {
                            continue;
                        };
                        match attr(input, "type").as_deref() {
                            Some("password") => fields.push((name, self.script.password.clone())),
                            Some("text" | "email") | None => {
                                fields.push((name, self.script.username.clone()))
                            }
                            _ => {}
                        }
                    }
                }
                "generic_confirm" if self.script.accept_consent => {}
                "logout_pick" => {
                    let choice = account_button(&html, &self.script.username)
                        .ok_or_else(|| UserAgentError::Stopped(kind.clone()))?;
                    fields.push(("account".into(), choice));
                }
                "login" => {
                    if credentials_sent {
                        if let Some(error) = find_error(&html) {
                            return Err(UserAgentError::Page(error));
                        }
                    }
                    credentials_sent = true;
                    fields.push(("username".into(), self.script.username.clone()));
                    fields.push(("password".into(), self.script.password.clone()));
                }
                "pick_account" => {
                    let choice = account_button(&html, &self.script.username)
                        .unwrap_or_else(|| "other".into());
                    fields.push(("account".into(), choice));
                }
                "mfa" if self.script.approve_mfa => {}
                "kmsi" => fields.push((
                    "keep".into(),
                    if self.script.keep_signed_in {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                )),
                "consent" => fields.push((
                    "decision".into(),
                    if self.script.accept_consent {
                        "accept"
                    } else {
                        "cancel"
                    }
                    .into(),
                )),
                "form_post" => return Ok(Ended::Outcome(Outcome::FormPost { action, fields })),
                "device_code" => match user_code {
                    Some(code) if !user_code_sent => {
                        user_code_sent = true;
                        fields.push(("user_code".into(), code.to_owned()));
                    }
                    _ => return Err(UserAgentError::Stopped(kind)),
                },
                "device_done" => return Ok(Ended::DeviceDone(message_text(&html))),
                "error" => return Err(UserAgentError::Page(error_text(&html))),
                other => return Err(UserAgentError::Stopped(other.into())),
            }
            response = self.http.post(action).form(&fields).send().await?;
        }
        Err(UserAgentError::Unexpected("more than 20 pages".into()))
    }

    /// Delivers an outcome to its redirect URI as a browser would (GET the redirect, or POST
    /// the form) and returns the status and body the receiver answered with.
    pub async fn deliver(&self, outcome: &Outcome) -> Result<(u16, String), UserAgentError> {
        let response = match outcome {
            Outcome::Redirect(url) => self.http.get(url.clone()).send().await?,
            Outcome::FormPost { action, fields } => {
                self.http.post(action.clone()).form(fields).send().await?
            }
        };
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// Visits a URL with this browser's cookies (for `/logout`, say) and returns the status.
    pub async fn visit(&self, url: &Url) -> Result<u16, UserAgentError> {
        Ok(self.http.get(url.clone()).send().await?.status().as_u16())
    }

    /// The page at a URL, with this browser's cookies.
    pub async fn page(&self, url: &Url) -> Result<String, UserAgentError> {
        Ok(self.http.get(url.clone()).send().await?.text().await?)
    }
}

/// Where [`UserAgent::answer_pages`] stopped.
enum Ended {
    /// At the redirect URI.
    Outcome(Outcome),
    /// At the device flow's last page, with its message.
    DeviceDone(String),
}

fn message_text(html: &str) -> String {
    let Some(start) = html.find("id=\"message\"") else {
        return truncate(html);
    };
    let text_start = html[start..].find('>').map_or(start, |i| start + i + 1);
    let end = html[text_start..]
        .find('<')
        .map_or(html.len(), |i| text_start + i);
    unescape(&html[text_start..end])
}

fn truncate(text: &str) -> String {
    text.chars().take(300).collect()
}

/// Each `<tag …>` opening in `html`, as its attribute text.
fn tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag} ");
    html.match_indices(&open)
        .filter_map(|(at, _)| html[at..].find('>').map(|end| &html[at..at + end]))
        .collect()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// What a page of another provider asks, from its first form: credentials (it has a password
/// field) or a confirmation (it has only buttons and hidden fields).
fn generic_kind(html: &str) -> Option<String> {
    let form = tags(html, "form").into_iter().next()?;
    let _ = form;
    let inputs = tags(html, "input");
    if inputs
        .iter()
        .any(|i| attr(i, "type").as_deref() == Some("password"))
    {
        return Some("generic_login".into());
    }
    let visible = inputs
        .iter()
        .any(|i| !matches!(attr(i, "type").as_deref(), Some("hidden" | "submit")));
    (!visible).then(|| "generic_confirm".into())
}

fn page_kind(html: &str) -> Option<String> {
    tags(html, "meta")
        .into_iter()
        .find(|t| attr(t, "name").as_deref() == Some("tessera-page"))
        .and_then(|t| attr(t, "content"))
}

fn form_action(html: &str, base: &Url) -> Result<Url, UserAgentError> {
    match tags(html, "form").first().and_then(|t| attr(t, "action")) {
        Some(action) => base
            .join(&action)
            .map_err(|e| UserAgentError::Unexpected(format!("form action {action}: {e}"))),
        None => Ok(base.clone()),
    }
}

fn hidden_fields(html: &str) -> Vec<(String, String)> {
    tags(html, "input")
        .into_iter()
        .filter(|t| attr(t, "type").as_deref() == Some("hidden"))
        .filter_map(|t| Some((attr(t, "name")?, attr(t, "value").unwrap_or_default())))
        .collect()
}

fn account_button(html: &str, username: &str) -> Option<String> {
    tags(html, "button")
        .into_iter()
        .find(|t| attr(t, "data-username").is_some_and(|u| u.eq_ignore_ascii_case(username)))
        .and_then(|t| attr(t, "value"))
}

fn find_error(html: &str) -> Option<String> {
    let start = html.find("id=\"error\"")?;
    let text_start = html[start..].find('>')? + start + 1;
    let end = html[text_start..].find('<')? + text_start;
    Some(unescape(&html[text_start..end]))
}

fn error_text(html: &str) -> String {
    find_error(html).unwrap_or_else(|| truncate(html))
}
