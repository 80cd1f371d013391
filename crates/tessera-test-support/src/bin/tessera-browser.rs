//! `tessera-browser URL`: a stand-in for the system browser, for tests of the system-browser
//! sign-in. Set `BROWSER` to it and it opens the authorize URL, fills tessera-idp's pages as
//! the scripted user (`TESSERA_BROWSER_USER`, default ada@tessera.test; password
//! `TESSERA_BROWSER_PASSWORD`, default tessera; `TESSERA_BROWSER_CONSENT=decline` cancels the
//! consent page) and delivers the response to the app's
//! loopback redirect URI, as a browser would. Given an end-session URL it follows it to the
//! post-logout redirect URI the same way. `tessera-browser --device VERIFICATION_URL USER_CODE`
//! enters a device code on tessera-idp's device login page as the same user.
//! `TESSERA_BROWSER_BACKGROUND=1` makes it return at once, as a desktop browser does.

use std::process::ExitCode;

use tessera_test_support::user_agent::{Script, UserAgent};
use url::Url;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.as_slice() {
        [url] if std::env::var_os(BACKGROUND).is_some() => return open_in_background(url),
        [url] => browse(url).await,
        [flag, verification, code] if flag == "--device" => {
            enter_device_code(verification, code).await.map(|()| 200)
        }
        _ => {
            eprintln!("usage: tessera-browser AUTHORIZE_URL | --device VERIFICATION_URL USER_CODE");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(status) => {
            eprintln!("tessera-browser: the app answered HTTP {status}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("tessera-browser: {message}");
            ExitCode::FAILURE
        }
    }
}

/// With this variable set, it returns at once and signs in from a process of its own, as a
/// desktop browser hands the URL to its running instance: Python's `webbrowser` waits for the
/// command, and MSAL Python serves its redirect URI on that same thread.
const BACKGROUND: &str = "TESSERA_BROWSER_BACKGROUND";

fn open_in_background(url: &str) -> ExitCode {
    let spawned = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .arg(url)
            .env_remove(BACKGROUND)
            .stdin(std::process::Stdio::null())
            .spawn()
    });
    match spawned {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera-browser: could not start in the background: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The scripted user, from the environment.
fn script() -> Script {
    let mut script = Script::user(
        &std::env::var("TESSERA_BROWSER_USER").unwrap_or_else(|_| "ada@tessera.test".into()),
    );
    if let Ok(password) = std::env::var("TESSERA_BROWSER_PASSWORD") {
        script.password = password;
    }
    script.accept_consent = std::env::var("TESSERA_BROWSER_CONSENT").as_deref() != Ok("decline");
    script
}

async fn enter_device_code(verification: &str, code: &str) -> Result<(), String> {
    let verification =
        Url::parse(verification).map_err(|e| format!("{verification:?} is not a URL: {e}"))?;
    UserAgent::new(script())
        .device_sign_in(&verification, code)
        .await
        .map(|_| ())
        .map_err(|e| format!("the device sign-in failed: {e}"))
}

async fn browse(url: &str) -> Result<u16, String> {
    let url = Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    // An authorize URL names its redirect URI; an end-session URL its post-logout one.
    let redirect_uri = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri" || k == "post_logout_redirect_uri")
        .map(|(_, v)| v.into_owned())
        .ok_or("the URL has no redirect_uri or post_logout_redirect_uri")?;
    let browser = UserAgent::new(script());
    let outcome = browser
        .sign_in(&url, &redirect_uri)
        .await
        .map_err(|e| format!("sign-in failed: {e}"))?;
    let (status, _body) = browser
        .deliver(&outcome)
        .await
        .map_err(|e| format!("could not deliver the response to {redirect_uri}: {e}"))?;
    Ok(status)
}
