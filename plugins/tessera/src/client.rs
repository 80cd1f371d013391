//! The pattern's operations on [`Tessera`], for the commands and for the host's Rust code
//! alike: `app.tessera().acquire_token(…)` is what the `acquire_token` command runs.

use std::future::Future;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tauri::Runtime;
use tessera_auth::Prompt;
use tessera_config::InteractionMode;
use tessera_graph::{Profile, TokenNeed};

use crate::acquire::{self, Ask, Granted};
use crate::dto::{AccountInfo, Interaction, SignInPrompt, TokenRequest, TokenStatus};
use crate::error::CommandError;
use crate::state::Tessera;

impl<R: Runtime> Tessera<R> {
    /// A token for the active account: silent first (cache, refresh token, hidden-window
    /// SSO), then `request.interaction` if the engine says `InteractionRequired`. The result
    /// holds the token itself: it is for Rust code; the webview gets [`Granted::status`].
    pub async fn acquire_token(&self, request: TokenRequest) -> Result<Granted, CommandError> {
        let interaction = request.interaction.unwrap_or(Interaction::None);
        self.check_allowed(interaction)?;
        let ask = Ask {
            scopes: request.scopes.unwrap_or_else(|| self.options().scopes),
            need: if request.force_refresh == Some(true) {
                TokenNeed::ForceRefresh
            } else {
                TokenNeed::Any
            },
            interaction,
            prompt: None,
            // An empty field is the configured authority's tenant.
            tenant: request
                .tenant
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty()),
            explicit: true,
        };
        acquire::token(self, ask).await
    }

    /// An interactive sign-in in `mode` (the configured one by default); `select_account`
    /// adds another account.
    pub async fn sign_in(
        &self,
        mode: Option<InteractionMode>,
        prompt: Option<SignInPrompt>,
    ) -> Result<TokenStatus, CommandError> {
        let options = self.options();
        if mode == Some(InteractionMode::DeviceCode) {
            return Err(CommandError::invalid(
                "a window signs in with the sign-in window or the browser; the device code is for terminals",
            ));
        }
        let interaction = mode.unwrap_or(options.interaction_mode).into();
        self.check_allowed(interaction)?;
        let ask = Ask {
            scopes: options.scopes,
            need: TokenNeed::Any,
            interaction,
            prompt: match prompt {
                Some(SignInPrompt::Login) => Some(Prompt::Login),
                Some(SignInPrompt::SelectAccount) => Some(Prompt::SelectAccount),
                // Signed in already: "sign in" means another account, so show the picker.
                None if self.auth.active_account().is_some() => Some(Prompt::SelectAccount),
                // Otherwise an existing provider session may sign the user in at once, as
                // in MSAL.
                None => None,
            },
            tenant: None,
            explicit: true,
        };
        Ok(acquire::token(self, ask).await?.status)
    }

    /// Signs an account out of this app (its tokens are forgotten) and, with `end_session`,
    /// out of the identity provider too, where its session lives: the app's webview (a
    /// hidden window that shows itself if the provider asks which account) or the system
    /// browser it signed in with. That part is done only when the provider redirects back
    /// (RP-Initiated Logout 1.0): an account picker closed, or the time limit, is reported as
    /// such, never as a sign-out.
    pub async fn sign_out(
        &self,
        home_account_id: &str,
        end_session: bool,
    ) -> Result<Vec<AccountInfo>, CommandError> {
        let account = self
            .auth
            .account(home_account_id)
            .ok_or_else(|| tessera_auth::Error::AccountNotFound(home_account_id.to_owned()))?;
        // Built before the account goes: it names the account's ID token.
        let end_session_url = if end_session {
            self.auth.end_session_url(&account, None).await?
        } else {
            None
        };
        let place = self.sessions.place(home_account_id);
        self.auth.remove_account(&account)?;
        self.sessions.set(home_account_id, None);
        {
            let mut last = self.last_token.lock().unwrap_or_else(|p| p.into_inner());
            if last
                .as_ref()
                .is_some_and(|t| t.account.home_account_id == home_account_id)
            {
                *last = None;
            }
        }
        if let Some(url) = end_session_url {
            acquire::end_session(self, url, place).await.map_err(|e| {
                CommandError::new(
                    "end_session",
                    format!(
                        "Signed out of this app, but the identity provider did not confirm the end of its session ({e}). Sign out there too if others use this computer."
                    ),
                )
            })?;
        }
        Ok(self.accounts())
    }

    /// The active account's profile: Microsoft Graph's for Microsoft authorities, the
    /// userinfo endpoint's for others. A claims challenge or a refused token gets one new
    /// token (through `interaction` if needed and allowed) and one retry.
    pub async fn profile(&self, interaction: Interaction) -> Result<Profile, CommandError> {
        self.check_allowed(interaction)?;
        let source = self.profile_source().await?;
        let acquire = self.profile_token(source, interaction);
        Ok(source.profile(&self.auth, acquire).await?)
    }

    /// The active account's photo as a `data:` URL, or `None` when the user has none.
    pub async fn profile_photo(
        &self,
        interaction: Interaction,
    ) -> Result<Option<String>, CommandError> {
        self.check_allowed(interaction)?;
        let source = self.profile_source().await?;
        let acquire = self.profile_token(source, interaction);
        let photo = source.photo(acquire).await?;
        Ok(photo.map(|photo| {
            format!(
                "data:{};base64,{}",
                photo.content_type,
                STANDARD.encode(&photo.bytes)
            )
        }))
    }

    async fn profile_source(&self) -> Result<&tessera_host::ProfileSource, CommandError> {
        self.profiles
            .source(&self.auth)
            .await
            .map_err(|e| CommandError::new("network", e))
    }

    /// The pattern's token for the profile source, as `ProfileSource` asks for one.
    #[allow(clippy::type_complexity)]
    fn profile_token<'a>(
        &'a self,
        source: &'a tessera_host::ProfileSource,
        interaction: Interaction,
    ) -> impl FnMut(
        TokenNeed,
    ) -> std::pin::Pin<
        Box<
            dyn Future<Output = Result<tessera_auth::AuthenticationResult, CommandError>>
                + Send
                + 'a,
        >,
    > + 'a {
        move |need| {
            let scopes = source.scopes().unwrap_or_else(|| self.options().scopes);
            Box::pin(async move {
                let ask = Ask {
                    scopes,
                    need,
                    interaction,
                    prompt: None,
                    tenant: None,
                    explicit: false,
                };
                acquire::token(self, ask)
                    .await
                    .map(|granted| granted.result)
            })
        }
    }
}
