//! The HTML pages of the sign-in flow. Each carries `<meta name="tessera-page" content="…">`
//! so that scripted browsers know where they are, and plain forms (no script needed) with
//! stable element ids for WebDriver.

use crate::scopes::Permission;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{margin:0;font-family:"Segoe UI",system-ui,"DejaVu Sans",sans-serif;background:#f2f2f2;color:#1b1b1b}
main{max-width:440px;margin:48px auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
.brand{font-weight:600;color:#5e5e5e;margin-bottom:16px}
h1{font-size:24px;font-weight:600;margin:0 0 16px}
label{display:block;margin:12px 0 4px}
input[type=text],input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:6px 0;border:0;border-bottom:1px solid #666;font-size:15px}
.error{color:#e81123;margin:8px 0}
.actions{display:flex;gap:8px;justify-content:flex-end;margin-top:24px}
button{min-width:108px;padding:6px 12px;font-size:15px;border:0;cursor:pointer}
button.primary{background:#0067b8;color:#fff}
button.secondary{background:#ccc;color:#000}
ul{padding-left:20px}
.account{width:100%;text-align:left;background:#fff;border:1px solid #ddd;margin:4px 0;padding:10px}
.small{font-size:13px;color:#5e5e5e}
"#;

fn page(kind: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"tessera-page\" content=\"{kind}\"><title>{title}</title>\
         <style>{STYLE}</style></head><body><main><div class=\"brand\">Tessera test identity provider</div>\
         {body}</main></body></html>",
        title = escape(title)
    )
}

/// The form's error line, if there is one (the scripted browser finds it by its id).
fn error_paragraph(error: Option<&str>) -> String {
    error
        .map(|e| {
            format!(
                "<p class=\"error\" id=\"error\" role=\"alert\">{}</p>",
                escape(e)
            )
        })
        .unwrap_or_default()
}

fn hidden_tx(tx: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"tx\" value=\"{}\">",
        escape(tx)
    )
}

/// Username and password.
pub fn login(action: &str, tx: &str, username: &str, error: Option<&str>) -> String {
    let error = error_paragraph(error);
    page(
        "login",
        "Sign in to your account",
        &format!(
            "<h1>Sign in</h1>{error}<form method=\"post\" action=\"{action}\">{tx}\
             <label for=\"username\">Email or username</label>\
             <input type=\"email\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" required autofocus>\
             <label for=\"password\">Password</label>\
             <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
             <div class=\"actions\"><button class=\"primary\" id=\"next\" type=\"submit\">Sign in</button></div></form>\
             <p class=\"small\">Test users: ada@tessera.test and alan@tessera.test, password <code>tessera</code>.</p>",
            action = escape(action),
            tx = hidden_tx(tx),
            username = escape(username),
        ),
    )
}

/// "Pick an account" among the users signed in in this browser.
pub fn pick_account(action: &str, tx: &str, accounts: &[(String, String, String)]) -> String {
    let buttons: String = accounts
        .iter()
        .map(|(oid, username, name)| {
            format!(
                "<button class=\"account\" type=\"submit\" name=\"account\" value=\"{}\" data-username=\"{}\">{}<br><span class=\"small\">{}</span></button>",
                escape(oid),
                escape(username),
                escape(name),
                escape(username)
            )
        })
        .collect();
    page(
        "pick_account",
        "Pick an account",
        &format!(
            "<h1>Pick an account</h1><form method=\"post\" action=\"{action}\">{tx}{buttons}\
             <button class=\"account\" id=\"other\" type=\"submit\" name=\"account\" value=\"other\">Use another account</button></form>",
            action = escape(action),
            tx = hidden_tx(tx),
        ),
    )
}

/// The second factor: approve a (simulated) authenticator request.
/// The end-session account picker: which account to sign out.
pub fn logout_picker(
    action: &str,
    accounts: &[(String, String, String)],
    carried: &[(&str, String)],
) -> String {
    let buttons: String = accounts
        .iter()
        .map(|(oid, username, name)| {
            format!(
                "<button class=\"account\" type=\"submit\" name=\"account\" value=\"{}\" data-username=\"{}\">{}<br><span class=\"small\">{}</span></button>",
                escape(oid),
                escape(username),
                escape(name),
                escape(username)
            )
        })
        .collect();
    let hidden: String = carried
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            )
        })
        .collect();
    page(
        "logout_pick",
        "Pick an account to sign out",
        &format!(
            "<h1>Pick an account to sign out of</h1><form method=\"post\" action=\"{action}\">{hidden}{buttons}</form>",
            action = escape(action),
        ),
    )
}

pub fn mfa(action: &str, tx: &str, username: &str) -> String {
    page(
        "mfa",
        "Verify your identity",
        &format!(
            "<h1>Approve sign in request</h1><p>{username}</p>\
             <p>Your organisation requires a second verification step. Approve the request in your authenticator app.</p>\
             <form method=\"post\" action=\"{action}\">{tx}<div class=\"actions\">\
             <button class=\"primary\" id=\"approve\" type=\"submit\">Approve</button></div></form>",
            action = escape(action),
            tx = hidden_tx(tx),
            username = escape(username),
        ),
    )
}

/// Entra's "Stay signed in?".
pub fn keep_signed_in(action: &str, tx: &str) -> String {
    page(
        "kmsi",
        "Stay signed in?",
        &format!(
            "<h1>Stay signed in?</h1><p>Do this to reduce the number of times you are asked to sign in.</p>\
             <form method=\"post\" action=\"{action}\">{tx}<div class=\"actions\">\
             <button class=\"secondary\" id=\"kmsi-no\" type=\"submit\" name=\"keep\" value=\"no\">No</button>\
             <button class=\"primary\" id=\"kmsi-yes\" type=\"submit\" name=\"keep\" value=\"yes\">Yes</button></div></form>",
            action = escape(action),
            tx = hidden_tx(tx),
        ),
    )
}

/// "Permissions requested".
pub fn consent(action: &str, tx: &str, app: &str, permissions: &[&Permission]) -> String {
    let items: String = permissions
        .iter()
        .map(|p| {
            format!(
                "<li data-scope=\"{}\">{}</li>",
                escape(&p.display()),
                escape(&p.description())
            )
        })
        .collect();
    page(
        "consent",
        "Permissions requested",
        &format!(
            "<h1>Permissions requested</h1><p><strong>{app}</strong> would like to:</p><ul id=\"scopes\">{items}</ul>\
             <form method=\"post\" action=\"{action}\">{tx}<div class=\"actions\">\
             <button class=\"secondary\" id=\"cancel\" type=\"submit\" name=\"decision\" value=\"cancel\">Cancel</button>\
             <button class=\"primary\" id=\"accept\" type=\"submit\" name=\"decision\" value=\"accept\">Accept</button></div></form>",
            action = escape(action),
            tx = hidden_tx(tx),
            app = escape(app),
        ),
    )
}

/// The device flow's "Enter code" page.
pub fn device_code(action: &str, error: Option<&str>) -> String {
    let error = error_paragraph(error);
    page(
        "device_code",
        "Enter code",
        &format!(
            "<h1>Enter code</h1>{error}<p>Enter the code displayed on your app or device.</p>\
             <form method=\"post\" action=\"{action}\">\
             <label for=\"user_code\">Code</label>\
             <input type=\"text\" id=\"user_code\" name=\"user_code\" autocomplete=\"off\" required autofocus>\
             <div class=\"actions\"><button class=\"primary\" id=\"next\" type=\"submit\">Next</button></div></form>",
            action = escape(action),
        ),
    )
}

/// The last page of a device sign-in: the user goes back to the device.
pub fn device_done(title: &str, message: &str) -> String {
    page(
        "device_done",
        title,
        &format!(
            "<h1>{}</h1><p id=\"message\">{}</p>",
            escape(title),
            escape(message)
        ),
    )
}

/// An error the provider cannot send back to the client (unknown client, unregistered
/// redirect URI): shown to the user instead, as Entra does.
pub fn error(message: &str) -> String {
    page(
        "error",
        "Sign in error",
        &format!(
            "<h1>Sorry, but we're having trouble signing you in.</h1><p id=\"error\" class=\"error\">{}</p>",
            escape(message)
        ),
    )
}

/// `response_mode=form_post`: a form that posts the response to the redirect URI.
pub fn form_post(redirect_uri: &str, params: &[(&str, String)]) -> String {
    let inputs: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"tessera-page\" content=\"form_post\"><title>Working...</title></head>\
         <body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\">{inputs}\
         <noscript><p>Script is disabled. Click Submit to continue.</p><button type=\"submit\">Submit</button></noscript></form></body></html>",
        escape(redirect_uri)
    )
}

/// After `/logout`.
pub fn signed_out() -> String {
    page(
        "signed_out",
        "Signed out",
        "<h1>You signed out of your account</h1><p>It's a good idea to close all browser windows.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped_everywhere() {
        let evil = "\"><script>alert(1)</script>";
        for html in [
            login("/a", evil, evil, Some(evil)),
            mfa("/a", evil, evil),
            keep_signed_in(evil, evil),
            error(evil),
            form_post(evil, &[("state", evil.to_owned())]),
            pick_account("/a", "t", &[(evil.into(), evil.into(), evil.into())]),
        ] {
            assert!(!html.contains("<script>"), "{html}");
        }
    }
}
