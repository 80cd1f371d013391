//! The command line's grammar (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tessera from a terminal: sign in, get access tokens, read your Microsoft Graph profile.
///
/// It shares the desktop app's encrypted token cache: an account signed in in the app is
/// signed in here, and the other way round. With no configuration it uses the app's embedded
/// test identity provider (users ada@tessera.test and alan@tessera.test, password tessera).
///
/// Exit codes: 0 success, 1 other error, 2 usage or configuration, 3 interaction required
/// (sign in with `tessera-cli login`), 4 sign-in cancelled or timed out, 5 network or identity
/// provider unavailable, 6 throttled (the retry time is on standard error).
#[derive(Debug, Parser)]
#[command(name = "tessera-cli", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. Each overrides the user's settings as its environment
/// variable does; the machine's policy file overrides both.
#[derive(Debug, Args)]
pub struct Global {
    /// Authority URL: https://login.microsoftonline.com/<tenant>, or any OpenID Connect issuer.
    #[arg(long, global = true, env = "TESSERA_AUTHORITY", value_name = "URL")]
    pub authority: Option<String>,
    /// Application (client) id registered with the provider.
    #[arg(long, global = true, env = "TESSERA_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// Microsoft Graph base URL (default https://graph.microsoft.com/v1.0).
    #[arg(long, global = true, env = "TESSERA_GRAPH_URL", value_name = "URL")]
    pub graph_url: Option<String>,
    /// Folder of the token cache (default: the app's data folder, shared with the app).
    #[arg(long, global = true, env = "TESSERA_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Loopback port for the browser's answer (default: any free port).
    #[arg(
        long,
        global = true,
        env = "TESSERA_REDIRECT_PORT",
        value_name = "PORT"
    )]
    pub redirect_port: Option<u16>,
    /// Without an OS keyring, save sign-ins in an unencrypted file instead of not at all.
    #[arg(long, global = true)]
    pub insecure_plaintext_cache: bool,
    /// Say what happens on standard error: -v what was done, -vv why (the silent chain's
    /// steps), -vvv everything (the HTTP stack too). Tokens are never printed there.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in through the system browser (or with a device code) and save the account.
    Login(LoginArgs),
    /// Print an access token, silently: from the cache, else by refresh.
    Token(TokenArgs),
    /// List the signed-in accounts (* marks the default one).
    Accounts(JsonArg),
    /// Forget an account and its tokens (the default one unless --account or --all).
    Logout(LogoutArgs),
    /// Print your Microsoft Graph profile.
    Me(MeArgs),
    /// Print a shell completion script: `tessera-cli completions bash > ~/.local/share/bash-completion/completions/tessera-cli`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `--json`.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON (errors too, on standard output as well as standard error).
    #[arg(long)]
    pub json: bool,
}

/// Which account, and which scopes.
#[derive(Debug, Args)]
pub struct Target {
    /// Scopes of one resource, space- or comma-separated or repeated (default: User.Read).
    #[arg(long, value_name = "SCOPES", num_args = 1.., value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// The account: its sign-in name or home account id (default: the app's active account).
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
}

/// `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub target: Target,
    /// What the provider should ask.
    #[arg(long, value_enum)]
    pub prompt: Option<PromptArg>,
    /// Sign in on another device with a code (RFC 8628), where the provider supports it.
    #[arg(long)]
    pub device_code: bool,
    #[command(flatten)]
    pub output: JsonArg,
}

/// `prompt` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum PromptArg {
    /// Ask for credentials even with a session.
    Login,
    /// Show the consent page.
    Consent,
    /// Show the account picker.
    SelectAccount,
}

/// `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub target: Target,
    /// Skip the cached access token: redeem the refresh token now.
    #[arg(long)]
    pub force_refresh: bool,
    /// Get the token from another Entra tenant (its id or verified domain), one that invited
    /// the account as a guest, instead of the configured authority's.
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// A claims challenge (JSON) the token must satisfy, from a resource's 401.
    #[arg(long, value_name = "JSON")]
    pub claims: Option<String>,
    /// When the provider demands interaction, sign in through the browser instead of failing
    /// with exit code 3.
    #[arg(long)]
    pub interactive: bool,
    #[command(flatten)]
    pub output: JsonArg,
}

/// `logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The account: its sign-in name or home account id.
    #[arg(long, value_name = "ACCOUNT", conflicts_with = "all")]
    pub account: Option<String>,
    /// Every account.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub output: JsonArg,
}

/// `me`.
#[derive(Debug, Args)]
pub struct MeArgs {
    /// The account: its sign-in name or home account id (default: the app's active account).
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// When the provider demands interaction, sign in through the browser.
    #[arg(long)]
    pub interactive: bool,
    #[command(flatten)]
    pub output: JsonArg,
}
