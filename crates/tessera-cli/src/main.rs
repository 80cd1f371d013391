//! `tessera-cli`: Tessera's engine and token cache from a terminal, for developers and IT
//! scripts (`az account get-access-token`'s role). No webview: sign-in goes through the system
//! browser with a loopback redirect (RFC 8252), or a device code (RFC 8628).
//!
//! Standard output carries only what was asked for (a token, a profile, JSON); messages go to
//! standard error. Nothing printed ever contains a refresh token or an ID token, and the
//! access token only where it is the command's output.

// A failure travels up once per process, to be printed: its size is of no consequence, and
// boxing it would only add noise to every `?`.
#![allow(clippy::result_large_err)]

mod cli;
mod failure;
mod session;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use serde_json::{json, Value};
use tessera_auth::{
    Account, AuthenticationResult, DeviceCodeRequest, InteractiveRequest, LoopbackAgent, Prompt,
    SilentRequest,
};
use tessera_config::InteractionMode;
use tessera_graph::{Profile, TokenNeed};

use cli::{Cli, Command, Global, LoginArgs, LogoutArgs, MeArgs, PromptArg, TokenArgs};
use failure::{Exit, Failure};
use session::Session;

#[tokio::main]
async fn main() -> ExitCode {
    // clap exits by itself: 0 for --help and --version, 2 for bad usage.
    let cli = Cli::parse();
    start_logging(cli.global.verbose);
    let json = match &cli.command {
        Command::Login(a) => a.output.json,
        Command::Token(a) => a.output.json,
        Command::Accounts(a) => a.json,
        Command::Logout(a) => a.output.json,
        Command::Me(a) => a.output.json,
        Command::Completions { .. } => false,
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(json),
    }
}

/// The engine's `log` lines on standard error, at the level `-v` asks for (`RUST_LOG`, as
/// env_logger reads it, when there is no `-v`); without either, none.
fn start_logging(verbose: u8) {
    let level = match verbose {
        0 if std::env::var_os("RUST_LOG").is_some() => None,
        0 => return,
        1 => Some(log::LevelFilter::Info),
        2 => Some(log::LevelFilter::Debug),
        _ => Some(log::LevelFilter::Trace),
    };
    let mut logger = env_logger::Builder::from_default_env();
    if let Some(level) = level {
        logger.filter_level(level);
    }
    let _ = logger.format_timestamp_millis().try_init();
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let global = &cli.global;
    match cli.command {
        Command::Login(args) => login(global, args).await,
        Command::Token(args) => token(global, args).await,
        Command::Accounts(args) => accounts(global, args.json).await,
        Command::Logout(args) => logout(global, args).await,
        Command::Me(args) => me(global, args).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "tessera-cli",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

/// Runs `work` with a session and closes it whatever the outcome, so that an embedded
/// provider this process runs stops cleanly.
async fn with_session<T>(
    global: &Global,
    online: bool,
    work: impl AsyncFnOnce(&Session) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let session = Session::open(global, online).await?;
    let outcome = work(&session).await;
    session.close().await;
    outcome
}

async fn login(global: &Global, args: LoginArgs) -> Result<(), Failure> {
    with_session(global, true, async |session| {
        if let Some(reason) = &session.memory_only {
            return Err(Failure::new(
                Exit::Other,
                "storage",
                format!("a sign-in could not be saved ({reason}); add --insecure-plaintext-cache to save it unencrypted"),
            ));
        }
        let scopes = scopes(session, &args.target.scopes);
        let result = if args.device_code {
            if !session
                .settings
                .allowed_interaction_modes
                .contains(&InteractionMode::DeviceCode)
            {
                return Err(Failure::usage(
                    "the policy file does not allow signing in with a device code",
                ));
            }
            let request = DeviceCodeRequest {
                scopes,
                claims: None,
            };
            session
                .auth
                .acquire_token_with_device_code(request, |code| eprintln!("{}", code.message))
                .await?
        } else {
            let request = InteractiveRequest {
                scopes,
                prompt: args.prompt.map(|p| match p {
                    PromptArg::Login => Prompt::Login,
                    PromptArg::Consent => Prompt::Consent,
                    PromptArg::SelectAccount => Prompt::SelectAccount,
                }),
                login_hint: args.target.account.clone(),
                ..InteractiveRequest::default()
            };
            browser_sign_in(session, request).await?
        };
        session.check_saved()?;
        session.make_default(&result.account);
        if args.output.json {
            print_json(&json!({
                "account": account_json(&result.account, true),
                "scopes": result.scopes,
                "source": result.source,
                "correlation_id": result.correlation_id,
            }));
        } else {
            eprintln!("Signed in as {}.", describe(&result.account));
        }
        Ok(())
    })
    .await
}

async fn token(global: &Global, args: TokenArgs) -> Result<(), Failure> {
    with_session(global, true, async |session| {
        let need = match &args.claims {
            Some(claims) => TokenNeed::Claims(claims.clone()),
            None if args.force_refresh => TokenNeed::ForceRefresh,
            None => TokenNeed::Any,
        };
        let result = acquire(
            session,
            args.target.account.as_deref(),
            scopes(session, &args.target.scopes),
            need,
            args.interactive,
            args.tenant.as_deref(),
        )
        .await?;
        session.check_saved()?;
        if args.output.json {
            let default = session
                .account(None)
                .is_ok_and(|a| a.home_account_id == result.account.home_account_id);
            print_json(&token_json(&result, default));
        } else {
            println!("{}", result.access_token.secret());
        }
        Ok(())
    })
    .await
}

async fn accounts(global: &Global, json: bool) -> Result<(), Failure> {
    with_session(global, false, async |session| {
        let default = session.account(None).ok().map(|a| a.home_account_id);
        let accounts = session.auth.accounts();
        let is_default = |a: &Account| default.as_deref() == Some(a.home_account_id.as_str());
        if json {
            let list: Vec<Value> = accounts
                .iter()
                .map(|a| account_json(a, is_default(a)))
                .collect();
            print_json(&json!(list));
        } else if accounts.is_empty() {
            eprintln!("No account is signed in. Sign in with `tessera-cli login`.");
        } else {
            for account in &accounts {
                let mark = if is_default(account) { '*' } else { ' ' };
                println!(
                    "{mark} {}\t{}\t{}",
                    account.username,
                    account.name.as_deref().unwrap_or("-"),
                    account.home_account_id
                );
            }
        }
        Ok(())
    })
    .await
}

async fn logout(global: &Global, args: LogoutArgs) -> Result<(), Failure> {
    with_session(global, false, async |session| {
        let leaving: Vec<Account> = if args.all {
            session.auth.accounts()
        } else {
            match session.account(args.account.as_deref()) {
                Ok(account) => vec![account],
                // Nothing to forget is not a failure, unless a named account was asked for.
                Err(_) if args.account.is_none() => vec![],
                Err(failure) => return Err(failure),
            }
        };
        for account in &leaving {
            session.auth.remove_account(account)?;
        }
        session.check_saved()?;
        if args.output.json {
            let names: Vec<&str> = leaving.iter().map(|a| a.username.as_str()).collect();
            print_json(&json!({ "signed_out": names }));
        } else if leaving.is_empty() {
            eprintln!("No account was signed in.");
        } else {
            for account in &leaving {
                eprintln!(
                    "Signed out {} (its tokens are deleted here and in the app; the browser's session at the provider is left as it is).",
                    describe(account)
                );
            }
        }
        Ok(())
    })
    .await
}

async fn me(global: &Global, args: MeArgs) -> Result<(), Failure> {
    with_session(global, true, async |session| {
        let source = session
            .profiles
            .source(&session.auth)
            .await
            .map_err(|e| Failure::new(Exit::Unavailable, "network", e))?;
        let scopes = source.scopes().unwrap_or_default();
        let named = args.account.as_deref();
        let token = |need: TokenNeed| {
            let scopes = scopes.clone();
            async move { acquire(session, named, scopes, need, args.interactive, None).await }
        };
        let profile = source
            .profile(&session.auth, token)
            .await
            .map_err(|e| match e {
                tessera_graph::CallError::Token(failure) => failure,
                tessera_graph::CallError::Graph(error) => Failure::from(error),
            })?;
        session.check_saved()?;
        if args.output.json {
            print_json(&json!(profile));
        } else {
            print_profile(&profile);
        }
        Ok(())
    })
    .await
}

/// A token for the `named` account (else the default one): silently, and when the provider
/// demands interaction and `interactive` allows it, through the browser with the provider's
/// claims.
async fn acquire(
    session: &Session,
    named: Option<&str>,
    scopes: Vec<String>,
    need: TokenNeed,
    interactive: bool,
    tenant: Option<&str>,
) -> Result<AuthenticationResult, Failure> {
    let claims = match &need {
        TokenNeed::Claims(claims) => Some(claims.clone()),
        _ => None,
    };
    let silent = match session.account(named) {
        Ok(account) => {
            let mut request = SilentRequest::new(account, scopes.clone());
            request.force_refresh = need == TokenNeed::ForceRefresh;
            request.claims = claims.clone();
            request.tenant = tenant.map(str::to_owned);
            session
                .auth
                .acquire_token_silent(request, None)
                .await
                .map_err(Failure::from)
        }
        Err(no_account) => Err(no_account),
    };
    match silent {
        Err(failure) if interactive && failure.exit == Exit::InteractionRequired => {
            let request = InteractiveRequest {
                scopes,
                login_hint: named.map(str::to_owned),
                claims: failure.claims.clone().or(claims),
                tenant: tenant.map(str::to_owned),
                ..InteractiveRequest::default()
            };
            browser_sign_in(session, request).await
        }
        silent => silent,
    }
}

/// An interactive sign-in through the system browser and a loopback listener.
async fn browser_sign_in(
    session: &Session,
    request: InteractiveRequest,
) -> Result<AuthenticationResult, Failure> {
    if !session
        .settings
        .allowed_interaction_modes
        .contains(&InteractionMode::Redirect)
    {
        return Err(Failure::usage(
            "the policy file does not allow signing in through the system browser",
        ));
    }
    let time_limit = Duration::from_secs(session.settings.interaction_time_limit_secs);
    let agent = LoopbackAgent::bind_port(
        session.auth.authority().is_microsoft(),
        session.redirect_port,
    )
    .await
    .map_err(|e| {
        Failure::usage(format!(
            "cannot listen on 127.0.0.1 port {} for the browser's answer: {e}",
            session.redirect_port
        ))
    })?
    .with_time_limit(time_limit);
    // The exact URI, for a provider that matches redirect URIs exactly: it is what to
    // register (with --redirect-port, or the redirectPort setting, to keep it).
    eprintln!(
        "Sign in in your browser (waiting up to {} min for {}; press Ctrl-C to cancel)…",
        time_limit.as_secs().div_ceil(60),
        tessera_auth::InteractiveAgent::redirect_uri(&agent)
    );
    Ok(session
        .auth
        .acquire_token_interactive(request, &agent)
        .await?)
}

/// The scopes asked for (space- or comma-separated, or repeated), else the `scopes` setting,
/// else the engine's defaults.
fn scopes(session: &Session, given: &[String]) -> Vec<String> {
    let split: Vec<String> = given
        .iter()
        .flat_map(|s| s.split_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if split.is_empty() {
        session.settings.scopes.clone()
    } else {
        split
    }
}

fn describe(account: &Account) -> String {
    match &account.name {
        Some(name) => format!("{} ({name})", account.username),
        None => account.username.clone(),
    }
}

fn account_json(account: &Account, default: bool) -> Value {
    json!({
        "username": account.username,
        "name": account.name,
        "home_account_id": account.home_account_id,
        "tenant_id": account.realm,
        // Its home tenant and those it is a guest of, as far as tokens have shown.
        "tenants": account
            .tenant_profiles
            .iter()
            .map(|p| json!({ "tenant_id": p.tenant_id, "home": p.is_home_tenant }))
            .collect::<Vec<_>>(),
        "environment": account.environment,
        "default": default,
    })
}

/// `token --json`: the access token and what is known about it; never the refresh or ID token.
fn token_json(result: &AuthenticationResult, default: bool) -> Value {
    json!({
        "access_token": result.access_token.secret(),
        "token_type": tessera_auth::TOKEN_TYPE,
        "expires_on": result.expires_on,
        "scopes": result.scopes,
        "account": account_json(&result.account, default),
        "source": result.source,
        "correlation_id": result.correlation_id,
    })
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

fn print_profile(profile: &Profile) {
    let fields = [
        ("Name", profile.display_name.clone()),
        ("Sign-in name", profile.user_principal_name.clone()),
        ("Mail", profile.mail.clone()),
        ("Job title", profile.job_title.clone()),
        ("Office", profile.office_location.clone()),
        (
            "Business phones",
            Some(profile.business_phones.join(", ")).filter(|p| !p.is_empty()),
        ),
        ("Mobile phone", profile.mobile_phone.clone()),
        ("Language", profile.preferred_language.clone()),
        ("Picture", profile.picture.clone()),
        ("Object id", Some(profile.id.clone())),
    ];
    for (label, value) in fields {
        if let Some(value) = value {
            println!("{label:<16}{value}");
        }
    }
}
