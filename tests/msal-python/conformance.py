"""MSAL Python, Microsoft's own client, against tessera-idp: the emulator as a real client
that nobody here wrote sees it.

Run by crates/tessera-idp/tests/idp/msal_python.rs, which starts the emulator over TLS and sets:
  AUTHORITY  the emulator's Entra authority (https://127.0.0.1:{port}/common)
  GRAPH      its Graph base URL (https://127.0.0.1:{port}/v1.0)
  CONTROL    its control API
  CA_FILE    the emulator's throw-away CA (PEM), trusted through MSAL's documented `verify`
  BROWSER    tessera-browser, which Python's webbrowser module runs as the system browser;
             it fills the emulator's pages as ada@tessera.test and delivers the redirect to
             MSAL's own loopback listener
  CLIENT_ID  the app registration

Only MSAL's documented options are used (`instance_discovery=False`, `verify`,
`client_capabilities`); its traffic is not patched. Each step prints what it checked; the first
failure raises and exits non-zero with the reason.
"""

import base64
import json
import os
import re
import subprocess
import sys
import time

import msal
import requests

AUTHORITY = os.environ["AUTHORITY"]
GRAPH = os.environ["GRAPH"].rstrip("/")
CONTROL = os.environ["CONTROL"].rstrip("/")
CA_FILE = os.environ["CA_FILE"]
CLIENT_ID = os.environ["CLIENT_ID"]
BROWSER = os.environ["BROWSER"]
USER = "ada@tessera.test"
SCOPES = ["User.Read"]
DEFAULT_LIFETIME = 3600
# MSAL Python takes an access token within 5 minutes of its expiry as expired
# (application.py, `if expires_in < 5*60`): a token this long-lived is cached, then expires.
SHORT_LIFETIME = 5 * 60 + 25


def step(text):
    print(f"msal-python: {text}", flush=True)


def check(condition, what, detail=None):
    if not condition:
        raise AssertionError(f"{what}: {json.dumps(detail, default=str) if detail else ''}")


def control(method, path, body=None):
    # State-changing control calls must be JSON (the emulator answers 415 otherwise).
    response = requests.request(
        method, f"{CONTROL}/{path}", json=body if body is not None else {}, verify=CA_FILE
    )
    check(response.ok, f"control {method} {path} answered {response.status_code}", response.text)
    return response.json() if response.content else None


def stats():
    return requests.get(f"{CONTROL}/stats", verify=CA_FILE).json()


def counter(name):
    return stats().get(name, 0)


def claims_of(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def graph_me(access_token):
    return requests.get(
        f"{GRAPH}/me",
        headers={"Authorization": f"Bearer {access_token}"},
        verify=CA_FILE,
    )


def interactive(app, **kwargs):
    result = app.acquire_token_interactive(SCOPES, timeout=90, **kwargs)
    check("access_token" in result, "the interactive sign-in gave no access token", result)
    return result


def main():
    app = msal.PublicClientApplication(
        CLIENT_ID,
        authority=AUTHORITY,
        # A documented option: the emulator's host is not one of Microsoft's, so MSAL must not
        # ask login.microsoftonline.com's instance discovery about it.
        instance_discovery=False,
        verify=CA_FILE,
        # CP1: the app handles claims challenges, so Graph may send it CAE challenges
        # (Microsoft Learn, "How to use Continuous Access Evaluation enabled APIs").
        client_capabilities=["CP1"],
    )
    control("POST", "lifetimes", {"access_token": SHORT_LIFETIME})

    step("1. the interactive auth-code flow (PKCE) in the browser, through MSAL's loopback listener")
    first = interactive(app, login_hint=USER)
    check(first.get("token_source") == "identity_provider", "not from the provider", first)
    id_claims = first.get("id_token_claims", {})
    check(id_claims.get("preferred_username") == USER, "the ID token's user", id_claims)
    received_at = time.time()
    accounts = app.get_accounts(username=USER)
    check(len(accounts) == 1, "MSAL keeps one account for the user", accounts)
    account = accounts[0]
    # MSAL builds home_account_id from the client_info the emulator returned: uid.utid.
    check(
        account["home_account_id"].count(".") == 1
        and account["home_account_id"].split(".")[1] == id_claims.get("tid"),
        "the home account id from client_info",
        account,
    )
    me = graph_me(first["access_token"])
    check(me.status_code == 200, "Graph /me with the token", [me.status_code, me.text])

    step("2. silent: the access token from MSAL's cache, no request")
    before = counter("token")
    cached = app.acquire_token_silent_with_error(SCOPES, account)
    check(cached and cached.get("token_source") == "cache", "not from the cache", cached)
    check(cached["access_token"] == first["access_token"], "another token than the cached one")
    check(counter("token") == before, "a token request for a cached token")

    step("3. expiry: MSAL takes the token as expired 5 minutes before its end")
    wait = received_at + SHORT_LIFETIME - 5 * 60 + 1 - time.time()
    if wait > 0:
        time.sleep(wait)
    control("POST", "lifetimes", {"access_token": DEFAULT_LIFETIME})

    step("4. refresh: MSAL redeems its refresh token")
    refreshes = counter("token:refresh_token")
    refreshed = app.acquire_token_silent_with_error(SCOPES, account)
    check(refreshed and "access_token" in refreshed, "the refresh failed", refreshed)
    check(refreshed.get("token_source") == "identity_provider", "not refreshed", refreshed)
    check(refreshed["access_token"] != first["access_token"], "the same access token again")
    check(counter("token:refresh_token") == refreshes + 1, "one refresh-token request")

    step("5. a revoked refresh token: MSAL's own classification says interaction is required")
    control("POST", f"users/{USER}/refresh-tokens/revoke")
    revoked = app.acquire_token_silent_with_error(SCOPES, account, force_refresh=True)
    check(revoked and revoked.get("error") == "invalid_grant", "not invalid_grant", revoked)
    # MSAL suppresses bad_token (application.py, "Suppress these suberrors, per #57"): an
    # empty classification, which MSAL's callers treat as "sign in again".
    check(revoked.get("suberror") == "bad_token", "the suberror", revoked)
    check(revoked.get("classification") == "", "MSAL's classification", revoked)
    check("AADSTS50173" in revoked.get("error_description", ""), "the AADSTS code", revoked)
    account = app.get_accounts(username=USER)[0]
    interactive(app, login_hint=USER)

    step("6. MFA required: the claims come back, and an interactive sign-in with them satisfies it")
    control("POST", f"users/{USER}/mfa", {"required": True})
    mfa = app.acquire_token_silent_with_error(SCOPES, account, force_refresh=True)
    check(mfa and mfa.get("error") == "invalid_grant", "not invalid_grant", mfa)
    check(mfa.get("classification") == "basic_action", "MSAL's classification", mfa)
    check(mfa.get("claims"), "no claims to take to the interactive request", mfa)
    pages = counter("login:mfa")
    with_mfa = interactive(app, login_hint=USER, claims_challenge=mfa["claims"])
    check(counter("login:mfa") == pages + 1, "the MFA page was not shown")
    check("mfa" in claims_of(with_mfa["access_token"]).get("amr", []), "no mfa in amr", with_mfa)
    control("POST", f"users/{USER}/mfa", {"required": False})
    after_mfa = app.acquire_token_silent_with_error(SCOPES, account, force_refresh=True)
    check(after_mfa and "access_token" in after_mfa, "the MFA refresh token refreshes", after_mfa)

    step("7. consent withdrawn: MSAL classifies consent_required")
    control("DELETE", f"users/{USER}/consent")
    consent = app.acquire_token_silent_with_error(SCOPES, account, force_refresh=True)
    check(consent and consent.get("error") == "invalid_grant", "not invalid_grant", consent)
    check(consent.get("classification") == "consent_required", "MSAL's classification", consent)
    interactive(app, login_hint=USER)

    step("8. device code: the code entered on another screen, MSAL polling")
    control("POST", "device-code", {"enabled": True, "interval": 1})
    flow = app.initiate_device_flow(scopes=SCOPES)
    check("user_code" in flow, "no device code", flow)
    browser = subprocess.Popen([BROWSER, "--device", flow["verification_uri"], flow["user_code"]])
    device = app.acquire_token_by_device_flow(flow)
    check(browser.wait(timeout=60) == 0, "tessera-browser could not enter the code")
    check("access_token" in device, "the device flow gave no token", device)
    check(device["id_token_claims"]["preferred_username"] == USER, "the device flow's user")

    step("9. a CAE claims challenge from Graph, answered by MSAL with the claims")
    account = app.get_accounts(username=USER)[0]
    current = app.acquire_token_silent_with_error(SCOPES, account)
    check(current and "access_token" in current, "no token before the challenge", current)
    # The revocation event comes after the token was issued: the emulator's `nbf` challenge
    # refuses tokens issued before the second it was set.
    time.sleep(1.1)
    control("POST", f"users/{USER}/claims-challenge", {"kind": "nbf"})
    refused = graph_me(current["access_token"])
    token_claims = claims_of(current["access_token"])
    check(
        refused.status_code == 401,
        "Graph did not challenge",
        [refused.status_code, {k: token_claims.get(k) for k in ("iat", "xms_cc")}],
    )
    header = refused.headers.get("WWW-Authenticate", "")
    found = re.search(r'claims="([^"]+)"', header)
    check(found and "insufficient_claims" in header, "no claims challenge", header)
    challenge = base64.b64decode(found.group(1)).decode()
    answered = app.acquire_token_silent_with_error(SCOPES, account, claims_challenge=challenge)
    check(answered and "access_token" in answered, "MSAL could not answer the challenge", answered)
    check(answered.get("token_source") == "identity_provider", "a cached token", answered)
    check(graph_me(answered["access_token"]).status_code == 200, "Graph refused the new token")

    step(f"all steps passed with msal {msal.__version__}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"msal-python: FAILED: {failure}", file=sys.stderr, flush=True)
        sys.exit(1)
