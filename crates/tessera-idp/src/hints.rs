//! The opaque account values Entra hands out, which several endpoints read back: `client_info`
//! (the home account) and the `login_hint` claim.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

/// Entra's `client_info`: `{uid, utid}` as base64url JSON.
pub fn client_info(oid: &str, tid: &str) -> String {
    let info = json!({ "uid": oid, "utid": tid });
    URL_SAFE_NO_PAD.encode(info.to_string())
}

/// The opaque `login_hint` claim of a user: what it names is the provider's business.
pub fn login_hint(oid: &str, tid: &str, username: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!({ "oid": oid, "tid": tid, "upn": username }).to_string())
}

/// The object id a `login_hint` claim names, when it is one of ours.
pub fn login_hint_oid(hint: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(hint).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value["oid"].as_str().map(str::to_owned)
}
