//! The scripted browser as the engine's agents: it fills the provider's pages over plain HTTP
//! and stops at the redirect URI, as the app's sign-in window does.

use tessera_auth::{
    AgentError, AgentRequest, BoxFuture, InteractiveAgent, SilentAgent, NATIVE_CLIENT_REDIRECT_URI,
};
use url::Url;

use crate::user_agent::{Outcome, Script, UserAgent};

/// The scripted browser as both agents, catching the native-client redirect URI. Its cookie
/// jar is the provider session that silent SSO uses.
#[derive(Debug, Clone)]
pub struct ScriptedBrowser(pub UserAgent);

impl ScriptedBrowser {
    /// A fresh browser that signs in as `username` (password `tessera`) and accepts everything.
    pub fn user(username: &str) -> ScriptedBrowser {
        ScriptedBrowser(UserAgent::new(Script::user(username)))
    }

    fn go(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
        Box::pin(async move {
            match self
                .0
                .sign_in(&request.authorize_url, request.redirect_uri.as_str())
                .await
            {
                Ok(Outcome::Redirect(url)) => Ok(url),
                Ok(other) => Err(AgentError::Failed(format!("unexpected outcome {other:?}"))),
                Err(e) => Err(AgentError::Failed(e.to_string())),
            }
        })
    }
}

fn native_client() -> Url {
    Url::parse(NATIVE_CLIENT_REDIRECT_URI).expect("a constant, valid URL")
}

impl InteractiveAgent for ScriptedBrowser {
    fn redirect_uri(&self) -> Url {
        native_client()
    }
    fn authorize(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
        self.go(request)
    }
}

impl SilentAgent for ScriptedBrowser {
    fn redirect_uri(&self) -> Url {
        native_client()
    }
    fn authorize_silently(&self, request: AgentRequest) -> BoxFuture<'_, Result<Url, AgentError>> {
        self.go(request)
    }
}
