//! Claims challenges in `WWW-Authenticate` (Continuous Access Evaluation).
//!
//! Graph answers a token revoked by a critical event, or missing an authentication context,
//! with `401` and `Bearer realm="", authorization_uri="…", error="insufficient_claims",
//! claims="<base64 of the claims JSON>"`. The claims go, decoded, into the next token request.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

/// The decoded claims JSON of a `Bearer` challenge with `error="insufficient_claims"`, or
/// `None` for any other `WWW-Authenticate` value.
pub fn claims_challenge(www_authenticate: &str) -> Option<String> {
    let params = bearer_params(www_authenticate)?;
    let value = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if value("error") != Some("insufficient_claims") {
        return None;
    }
    let claims = value("claims")?.trim();
    // Graph base64-encodes the claims; be lenient with providers that send the JSON itself.
    let decoded = STANDARD
        .decode(claims)
        .or_else(|_| URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| claims.to_owned());
    serde_json::from_str::<serde_json::Value>(&decoded)
        .ok()
        .filter(serde_json::Value::is_object)
        .map(|_| decoded)
}

/// The auth-params of the `Bearer` challenge (RFC 7235 §2.1), quoted strings unescaped.
fn bearer_params(header: &str) -> Option<Vec<(String, String)>> {
    let start = find_scheme(header, "bearer")?;
    let mut rest = &header[start + "bearer".len()..];
    let mut params = vec![];
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim();
        if name.is_empty() || name.contains(' ') {
            // The next challenge's scheme: this one's parameters are over.
            break;
        }
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            text.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    other => text.push(other),
                }
            }
            value = text;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        params.push((name.to_owned(), value));
    }
    Some(params)
}

/// Where the `scheme` token starts (case-insensitive, as a whole word).
fn find_scheme(header: &str, scheme: &str) -> Option<usize> {
    let lower = header.to_ascii_lowercase();
    lower.match_indices(scheme).map(|(i, _)| i).find(|&i| {
        let before_ok = i == 0 || matches!(lower.as_bytes()[i - 1], b' ' | b',');
        let after = lower.as_bytes().get(i + scheme.len());
        before_ok && matches!(after, Some(b' ') | None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shape Microsoft documents for CAE (claims-challenge, "Bearer authorization_uri=…").
    #[test]
    fn a_graph_cae_challenge_yields_the_decoded_claims() {
        let claims = r#"{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}"#;
        let header = format!(
            r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="{}""#,
            STANDARD.encode(claims)
        );
        assert_eq!(claims_challenge(&header).as_deref(), Some(claims));
    }

    #[test]
    fn other_challenges_are_not_claims_challenges() {
        assert_eq!(
            claims_challenge(r#"Bearer realm="", error="invalid_token""#),
            None
        );
        assert_eq!(claims_challenge(r#"Basic realm="x""#), None);
        assert_eq!(claims_challenge(""), None);
        // insufficient_claims without claims, or with claims that are not a JSON object.
        assert_eq!(
            claims_challenge(r#"Bearer error="insufficient_claims""#),
            None
        );
        assert_eq!(
            claims_challenge(r#"Bearer error="insufficient_claims", claims="bm90IGpzb24=""#),
            None
        );
    }

    #[test]
    fn plain_json_claims_and_escaped_quotes_are_accepted() {
        let header = r#"Negotiate, Bearer error="insufficient_claims", claims="{\"access_token\":{\"acrs\":{\"essential\":true,\"value\":\"c1\"}}}""#;
        assert_eq!(
            claims_challenge(header).as_deref(),
            Some(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
        );
    }
}
