//! `tessera-browser URL`: a stand-in for the system browser, for tests of the system-browser
//! sign-in. Set `BROWSER` to it and it opens the authorize URL, fills tessera-idp's pages as
//! the scripted user (`TESSERA_BROWSER_USER`, default ada@tessera.test; password
//! `TESSERA_BROWSER_PASSWORD`, default tessera; `TESSERA_BROWSER_CONSENT=decline` cancels the
//! consent page) and delivers the response to the app's
//! loopback redirect URI, as a browser would.

use std::process::ExitCode;

use tessera_test_support::user_agent::{Script, UserAgent};
use url::Url;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url] = args.as_slice() else {
        eprintln!("usage: tessera-browser AUTHORIZE_URL");
        return ExitCode::from(2);
    };
    match browse(url).await {
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

async fn browse(url: &str) -> Result<u16, String> {
    let url = Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let redirect_uri = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .ok_or("the URL has no redirect_uri")?;
    let mut script = Script::user(
        &std::env::var("TESSERA_BROWSER_USER").unwrap_or_else(|_| "ada@tessera.test".into()),
    );
    if let Ok(password) = std::env::var("TESSERA_BROWSER_PASSWORD") {
        script.password = password;
    }
    script.accept_consent = std::env::var("TESSERA_BROWSER_CONSENT").as_deref() != Ok("decline");
    let browser = UserAgent::new(script);
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
