//! [`Builder`]: the plugin's configuration, and its registration with the app.

use std::path::PathBuf;
use std::sync::Mutex;

use tauri::plugin::TauriPlugin;
use tauri::{Manager, Runtime};
use tessera_auth::authority::AuthorityType;
use tessera_config::{Endpoints, InteractionMode, Settings};
use tessera_host::storage::Storage;
use url::Url;

use crate::sessions::SessionBook;
use crate::state::{Options, RedirectSlot, Tessera};

/// The plugin's configuration: the provider, the engine's settings, where tokens are kept and
/// which window hears the engine's events.
#[derive(Debug)]
pub struct Builder {
    client_id: String,
    authority: Url,
    authority_type: Option<AuthorityType>,
    redirect_uri: Option<Url>,
    graph_url: Option<Url>,
    settings: Settings,
    storage: Option<Storage>,
    session_file: Option<PathBuf>,
    main_window: String,
    expose_access_tokens: bool,
}

/// The plugin for `client_id` at `authority` with every default: Graph's profile scopes (or
/// the OpenID Connect ones), the sign-in window first and the browser allowed, tokens in an
/// encrypted vault in the app's data folder, events to the window labelled `main`.
pub fn init<R: Runtime>(client_id: impl Into<String>, authority: Url) -> TauriPlugin<R> {
    Builder::new(client_id, authority).build()
}

impl Builder {
    /// The plugin for `client_id`, registered with the provider at `authority` (Entra
    /// `https://login.microsoftonline.com/{tenant}`, B2C, External ID, or an OpenID Connect
    /// issuer).
    pub fn new(client_id: impl Into<String>, authority: Url) -> Builder {
        Builder {
            client_id: client_id.into(),
            authority,
            authority_type: None,
            redirect_uri: None,
            graph_url: None,
            settings: Settings::default(),
            storage: None,
            session_file: None,
            main_window: crate::labels::MAIN.to_owned(),
            expose_access_tokens: false,
        }
    }

    /// The plugin for endpoints the host resolved itself (Tessera's settings and policy).
    pub fn from_endpoints(endpoints: Endpoints) -> Builder {
        let mut builder = Builder::new(endpoints.client_id, endpoints.authority);
        builder.authority_type = endpoints.authority_type;
        builder.redirect_uri = Some(endpoints.redirect_uri);
        builder.graph_url = endpoints.graph_url;
        builder
    }

    /// What kind of provider the authority is, when its host does not say (a B2C or External
    /// ID tenant on a custom domain, an OpenID Connect provider on a Microsoft-looking host).
    pub fn authority_type(mut self, kind: AuthorityType) -> Builder {
        self.authority_type = Some(kind);
        self
    }

    /// Every engine setting at once (scopes, client capabilities, renewal offset, extra CA
    /// file, interaction modes and time limit, loopback port, the active account to restore),
    /// as `tessera_config` resolves them from a settings file and a policy.
    pub fn settings(mut self, settings: Settings) -> Builder {
        self.settings = settings;
        self
    }

    /// The scopes asked for when a request names none.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Builder {
        self.settings.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The interaction a sign-in uses by default, and those allowed at all (an IT policy).
    pub fn interaction_modes(
        mut self,
        default: InteractionMode,
        allowed: impl IntoIterator<Item = InteractionMode>,
    ) -> Builder {
        self.settings.interaction_mode = default;
        self.settings.allowed_interaction_modes = allowed.into_iter().collect();
        self
    }

    /// The redirect URI the sign-in window intercepts before it loads. Default: Entra's
    /// native-client URI for Microsoft authorities, `{identifier}:/oauth2redirect` (RFC 8252
    /// §7.1, the app's identifier as the private-use scheme) for others.
    pub fn redirect_uri(mut self, redirect_uri: Url) -> Builder {
        self.redirect_uri = Some(redirect_uri);
        self
    }

    /// Microsoft Graph's base URL (`…/v1.0`) for the profile, when it is not the authority's
    /// cloud's (a national cloud's Graph, or a test double).
    pub fn graph_url(mut self, graph_url: Url) -> Builder {
        self.graph_url = Some(graph_url);
        self
    }

    /// Where tokens are kept. Default: the encrypted vault in the app's data folder, its key
    /// in the OS keyring (memory only when there is no keyring).
    pub fn storage(mut self, storage: Storage) -> Builder {
        self.storage = Some(storage);
        self
    }

    /// The JSON file that records where each account's provider session lives (default:
    /// `tessera-sessions.json` in the app's data folder).
    pub fn session_file(mut self, file: PathBuf) -> Builder {
        self.session_file = Some(file);
        self
    }

    /// The window label that hears the engine's events and that sign-in windows open over
    /// (default `main`). The sign-in windows themselves never hear them.
    pub fn main_window(mut self, label: impl Into<String>) -> Builder {
        self.main_window = label.into();
        self
    }

    /// Lets the `access_token` command hand the access token itself to the webview (still
    /// only to windows whose capability grants `tessera:allow-access-token`). Off by default:
    /// a page that only shows who is signed in has no use for it. Refresh and ID tokens never
    /// cross, whatever this says.
    pub fn expose_access_tokens(mut self) -> Builder {
        self.expose_access_tokens = true;
        self
    }

    /// The plugin, to pass to `tauri::Builder::plugin`. The engine is built when the app
    /// starts; a configuration the engine refuses stops the app with the reason.
    pub fn build<R: Runtime>(self) -> TauriPlugin<R> {
        tauri::plugin::Builder::<R>::new("tessera")
            .invoke_handler(tauri::generate_handler![
                crate::commands::accounts,
                crate::commands::set_active_account,
                crate::commands::acquire_token,
                crate::commands::access_token,
                crate::commands::sign_in,
                crate::commands::redirect_result,
                crate::commands::cancel_sign_in,
                crate::commands::sign_out,
                crate::commands::profile,
                crate::commands::profile_photo,
                crate::commands::token_status,
            ])
            .setup(move |app, _api| {
                let tessera = self.into_state(app)?;
                app.manage(tessera);
                crate::events::forward(app.clone());
                Ok(())
            })
            .build()
    }

    fn into_state<R: Runtime>(
        self,
        app: &tauri::AppHandle<R>,
    ) -> Result<Tessera<R>, Box<dyn std::error::Error>> {
        let authority_type = self.authority_type;
        let microsoft =
            tessera_auth::authority::Authority::parse_as(self.authority.as_str(), authority_type)?
                .is_microsoft();
        let redirect_uri = match self.redirect_uri {
            Some(uri) => uri,
            None if microsoft => tessera_auth::NATIVE_CLIENT_REDIRECT_URI.parse()?,
            None => format!("{}:/oauth2redirect", app.config().identifier).parse()?,
        };
        let endpoints = Endpoints {
            authority: self.authority,
            authority_type,
            client_id: self.client_id,
            graph_url: self.graph_url,
            redirect_uri,
        };
        let data_dir = || app.path().app_data_dir();
        let storage = match self.storage {
            Some(storage) => storage,
            None => Storage::open(&data_dir()?, false),
        };
        let session_file = match self.session_file {
            Some(file) => file,
            None => data_dir()?.join("tessera-sessions.json"),
        };
        let auth = tessera_host::build_engine(&endpoints, &self.settings, &storage)?;
        Ok(Tessera {
            app: app.clone(),
            auth,
            profiles: tessera_host::Profiles::new(endpoints.clone()),
            endpoints,
            storage,
            options: Mutex::new(Options::from(&self.settings)),
            last_token: Mutex::new(None),
            redirect: RedirectSlot::default(),
            sessions: SessionBook { file: session_file },
            main_window: self.main_window,
            expose_access_tokens: self.expose_access_tokens,
        })
    }
}
