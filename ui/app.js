// @ts-check
// The window: signed out → sign in; signed in → profile, accounts, token panel; events and
// errors as they happen. Every call goes through api.js; no token ever reaches this page.

import * as api from "./api.js";

/** @type {(id: string) => any} The page's elements, by id (the markup is the page's own). */
const $ = (id) => document.getElementById(id);
const SOURCES = {
  cache: "cache (no network)",
  refresh_token: "refresh token",
  silent_sso: "silent SSO (hidden window)",
  interactive: "interactive sign-in",
};
const MAX_EVENTS = 100;

/** @type {import("tauri-plugin-tessera-api").InteractionMode} */
let preferredMode = "popup";
let lastStatus = null;
let busyReasons = 0;

// ---- busy state: buttons are disabled while a sign-in or network call is pending ----

/** The buttons a busy state disables. */
const buttons = () =>
  /** @type {NodeListOf<HTMLButtonElement>} */ (document.querySelectorAll("button:not(.keep-enabled)"));

async function busy(label, work, cancellable = false) {
  busyReasons += 1;
  $("busy-label").textContent = label;
  $("busy").hidden = false;
  $("busy-cancel").hidden = !cancellable;
  document.body.classList.add("is-busy");
  const focused = /** @type {HTMLButtonElement | null} */ (document.activeElement);
  for (const button of buttons()) {
    button.disabled = true;
  }
  // A disabled button loses the keyboard focus to the page: give it to what the user can act
  // on now (Cancel), or to the status that says what is happening.
  if (focused?.disabled) (cancellable ? $("busy-cancel") : $("busy-label")).focus();
  try {
    return await work();
  } finally {
    busyReasons -= 1;
    if (busyReasons === 0) {
      $("busy").hidden = true;
      $("busy-cancel").hidden = true;
      document.body.classList.remove("is-busy");
      for (const button of buttons()) {
        button.disabled = false;
      }
      // Back where it was, unless that went away (the screens swapped meanwhile).
      if (lostFocus() && isShown(focused)) focused.focus();
    }
  }
}

/** Whether the focus is nowhere useful: on the page itself, the busy status, or hidden. */
function lostFocus() {
  const at = document.activeElement;
  return !at || at === document.body || at.closest("#busy") !== null || !isShown(at);
}

function isShown(element) {
  return Boolean(element?.isConnected && element.getClientRects().length && !element.disabled);
}

/** A screen appeared in place of another: its heading takes a focus that had nowhere to go. */
function focusScreen(heading) {
  if (lostFocus()) heading.focus();
}

// ---- errors as banners: what happened, the provider's code, and the action that fixes it ----

let retryTimer = null;

/** The engine's messages ("the user cancelled the sign-in") as a sentence under the title. */
function sentence(text) {
  const trimmed = String(text ?? "").trim();
  if (!trimmed) return "";
  const capital = trimmed[0].toLocaleUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

function showError(err) {
  clearInterval(retryTimer);
  const banner = $("banner");
  banner.dataset.kind = err.kind;
  const titles = {
    interaction_required: "You need to sign in again.",
    user_cancelled: "Sign-in cancelled.",
    timeout: "The sign-in took too long.",
    interaction_in_progress: "A sign-in is already in progress.",
    throttled: "The service asked us to slow down.",
    network: "The network or the identity provider failed.",
    no_account: "You are not signed in.",
  };
  $("banner-title").textContent = titles[err.kind] ?? "Something went wrong.";
  $("banner-message").textContent = sentence(err.message);
  $("banner-code").textContent = err.code ?? "";
  $("banner-code").hidden = !err.code;
  const action = $("banner-action");
  action.hidden = true;
  action.onclick = null;
  if (err.kind === "interaction_required") {
    action.textContent = "Sign in again";
    action.onclick = () => run(() => signInAgain());
    action.hidden = false;
  } else if (err.kind === "no_account") {
    action.textContent = "Sign in";
    action.onclick = () => run(() => signIn(preferredMode));
    action.hidden = false;
  } else if (err.kind === "throttled" && err.retry_after) {
    let left = err.retry_after;
    action.hidden = false;
    action.disabled = true;
    const tick = () => {
      action.textContent = left > 0 ? `Try again in ${left} s` : "Try again";
      action.disabled = left > 0;
      left -= 1;
      if (left < 0) clearInterval(retryTimer);
    };
    tick();
    retryTimer = setInterval(tick, 1000);
    action.onclick = () => run(() => showProfile("none"));
  } else if (err.kind === "interaction_in_progress") {
    action.textContent = "Cancel it";
    action.onclick = () => api.cancelSignIn();
    action.hidden = false;
  } else if (err.kind === "network" || err.kind === "timeout") {
    action.textContent = "Try again";
    action.onclick = () => run(() => refresh());
    action.hidden = false;
  }
  banner.hidden = false;
}

function clearError() {
  clearInterval(retryTimer);
  $("banner").hidden = true;
  delete $("banner").dataset.kind;
}

/** Runs a user action; its failure becomes the banner. */
async function run(action) {
  clearError();
  try {
    await action();
  } catch (err) {
    showError(err);
  }
}

// ---- signed in / signed out ----

function initials(name) {
  return (name ?? "?")
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join("");
}

async function showProfile(interaction) {
  const me = await busy("Loading your profile…", () => api.profile(interaction));
  $("profile-name").textContent = me.displayName ?? me.userPrincipalName ?? "";
  $("profile-job").textContent = me.jobTitle ?? "";
  $("profile-upn").textContent = me.userPrincipalName ?? "—";
  $("profile-mail").textContent = me.mail ?? "—";
  $("profile-office").textContent = me.officeLocation ?? "—";
  $("profile-phones").textContent =
    [...(me.businessPhones ?? []), me.mobilePhone].filter(Boolean).join(", ") || "—";
  $("profile-language").textContent = me.preferredLanguage ?? "—";
  $("profile-initials").textContent = initials(me.displayName);
  const photo = await api.profilePhoto("none").catch(() => null);
  $("profile-photo").hidden = !photo;
  $("profile-initials").hidden = Boolean(photo);
  if (photo) $("profile-photo").src = photo;
  $("signed-in").hidden = false;
  $("signed-out").hidden = true;
  focusScreen($("profile-name"));
  // The first profile on screen: scripts/perf times the app's cold start up to this mark.
  if (!performance.getEntriesByName("profile-shown").length) performance.mark("profile-shown");
  await showTokenStatus();
}

async function showAccounts() {
  const list = await api.accounts();
  const select = $("accounts");
  select.replaceChildren(
    ...list.map((account) => {
      const option = document.createElement("option");
      option.value = account.homeAccountId;
      option.textContent = account.name ? `${account.name} (${account.username})` : account.username;
      option.selected = account.active;
      return option;
    }),
  );
  showTenants(list.find((account) => account.active));
  return list;
}

/** The active account's tenants: home, and those it is a guest of (Entra). */
function showTenants(account) {
  const tenants = account?.tenants ?? [];
  $("profile-tenants").textContent =
    tenants.map((t) => `${t.tenantId} (${t.home ? "home" : "guest"})`).join(", ") ||
    account?.tenantId ||
    "—";
  $("known-tenants").replaceChildren(
    ...tenants.map((t) => {
      const option = document.createElement("option");
      option.value = t.tenantId;
      option.label = t.home ? "home tenant" : "guest";
      return option;
    }),
  );
}

function showSignedOut() {
  $("signed-in").hidden = true;
  $("token-panel").hidden = true;
  $("signed-out").hidden = false;
  lastStatus = null;
  focusScreen($("welcome-title"));
}

/** Shows whatever is true now: the active account's profile, or the signed-out screen. */
async function refresh() {
  const list = await showAccounts();
  if (list.length === 0) {
    showSignedOut();
    return;
  }
  if (!list.some((account) => account.active)) {
    await api.setActiveAccount(list[0].homeAccountId);
    await showAccounts();
  }
  await showProfile("none");
}

async function signIn(mode, prompt = null) {
  const label =
    mode === "redirect"
      ? "Waiting for you to finish signing in in your browser…"
      : "Waiting for you to finish signing in in the Tessera window…";
  try {
    await busy(label, () => api.signIn(mode, prompt), true);
  } finally {
    if (mode === "redirect") {
      // Delivered here already, success or failure: take it out of the shell's redirect slot.
      await api.redirectResult().catch(() => null);
    }
  }
  await refresh();
}

async function signInAgain() {
  // What failed, again, now allowing the interaction the provider asked for. Forced past the
  // cache: a token still cached does not answer a provider that demands a new sign-in.
  // The preferred mode may be the command line's (device code): the window has its own two.
  const interaction = preferredMode === "redirect" ? "redirect" : "popup";
  await busy("Signing you in again…", () => api.acquireToken(interaction, true), true);
  await refresh();
}

// ---- the token panel ----

async function showTokenStatus() {
  lastStatus = await api.tokenStatus();
  $("token-panel").hidden = !lastStatus;
  if (!lastStatus) return;
  $("token-source").textContent = SOURCES[lastStatus.source] ?? lastStatus.source;
  $("token-source").dataset.source = lastStatus.source;
  $("token-elapsed").textContent = `${lastStatus.elapsedMs} ms`;
  $("token-scopes").textContent = lastStatus.scopes.join(" ");
  $("token-authority").textContent = lastStatus.authority;
  $("token-correlation").textContent = lastStatus.correlationId;
  tickExpiry();
}

function tickExpiry() {
  if (!lastStatus) return;
  const left = lastStatus.expiresOn - Math.floor(Date.now() / 1000);
  const text =
    left <= 0 ? "expired" : `${Math.floor(left / 60)} min ${String(left % 60).padStart(2, "0")} s`;
  $("token-expiry").textContent = text;
}

async function getToken(forceRefresh) {
  const tenant = $("token-tenant").value.trim() || null;
  await busy(forceRefresh ? "Refreshing the token…" : "Getting a token silently…", () =>
    api.acquireToken("none", forceRefresh, tenant),
  );
  await showTokenStatus();
  // A new tenant shows among the account's tenants.
  if (tenant) await showAccounts();
}

// ---- events ----

function describe(event) {
  switch (event.type) {
    case "acquire_token_start":
      return `${event.interactive ? "interactive" : "silent"} request started (${event.correlation_id})`;
    case "acquire_token_success":
      return `token from ${SOURCES[event.source] ?? event.source}`;
    case "acquire_token_failure":
      return `request failed: ${event.error}${event.classification ? ` (${event.classification})` : ""}`;
    case "account_added":
      return `account added: ${event.account.username}`;
    case "account_removed":
      return "account removed";
    case "active_account_changed":
      return event.home_account_id ? "active account changed" : "no active account";
    case "interaction_status":
      return `interaction: ${event.status}`;
    case "persistence_failed":
      return `token cache ${event.operation} failed: ${event.message}`;
    default:
      return event.type;
  }
}

/** While a sign-in waits, the exact redirect URI it waits at: what the provider must have
 * registered (a system-browser sign-in's loopback port is only known once it starts). */
function showInteraction(event) {
  if (event.type !== "interaction_status") return;
  const shown = $("busy-redirect");
  shown.textContent = event.redirect_uri ?? "";
  shown.hidden = !event.redirect_uri;
}

function logEvent(event) {
  const item = document.createElement("li");
  item.dataset.type = event.type;
  if (event.status) item.dataset.status = event.status;
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString();
  item.append(time, ` ${describe(event)}`);
  const list = $("events");
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

// ---- settings and about ----

/** The settings form's fields: element id → setting name. */
const SETTING_FIELDS = {
  "setting-authority": "authority",
  "setting-client-id": "clientId",
  "setting-mode": "interactionMode",
  "setting-scopes": "scopes",
  "setting-renewal-offset": "renewalOffsetSecs",
  "setting-time-limit": "interactionTimeLimitSecs",
  "setting-log-level": "logLevel",
};
const SOURCE_BADGES = { policy: "Managed", environment: "Set by environment" };
const STORAGE_NAMES = {
  encrypted: "encrypted, key in the OS keyring",
  plaintext: "unencrypted (asked for)",
  memory: "not saved: memory only",
};

async function showSettings() {
  const current = await api.settings();
  preferredMode = current.interactionMode;
  const provider = current.provider;
  $("authority").textContent = provider.authority;
  $("client-id").textContent = provider.clientId;
  // Microsoft Graph for Microsoft's authorities; the provider's own userinfo for the others
  // (issue 19: no screen says "Microsoft Graph" for a provider that is not Microsoft's).
  $("profile-service-name").textContent = provider.microsoft ? "Microsoft Graph" : "Profile";
  $("profile-service").textContent = provider.microsoft
    ? (provider.graphUrl ?? "the cloud's, from the provider's metadata")
    : "the provider's userinfo endpoint (OpenID Connect)";
  $("redirect-uri").textContent = provider.redirectUri;
  $("storage").textContent = STORAGE_NAMES[current.storage.kind] ?? current.storage.kind;
  $("storage").title = current.storage.location ?? "";
  const storageWarning = $("storage-warning");
  storageWarning.textContent = current.storage.warning ?? "";
  storageWarning.hidden = !current.storage.warning;
  const note = $("embedded-note");
  if (provider.embedded) {
    note.textContent =
      "This is Tessera's embedded test identity provider, running on this computer only. " +
      `Test users: ${provider.testUsers.join(", ")} (password: tessera).`;
    note.hidden = false;
  }
  $("policy-note").textContent = current.policyFile
    ? `Settings marked "Managed" are set by your organisation (${current.policyFile}).`
    : "";
  $("policy-note").hidden = !current.policyFile;

  $("setting-authority").value = current.authority ?? "";
  $("setting-client-id").value = current.clientId ?? "";
  $("setting-mode").value = current.interactionMode;
  for (const option of $("setting-mode").options) {
    option.disabled = !current.allowedInteractionModes.includes(option.value);
  }
  $("sign-in-browser").hidden = !current.allowedInteractionModes.includes("redirect");
  $("setting-scopes").value = current.scopes.join(" ");
  $("setting-renewal-offset").value = current.renewalOffsetSecs;
  $("setting-time-limit").value = current.interactionTimeLimitSecs;
  $("setting-log-level").value = current.logLevel;
  for (const [id, name] of Object.entries(SETTING_FIELDS)) {
    const badge = /** @type {HTMLElement} */ (document.querySelector(`[data-badge="${name}"]`));
    const fixedBy = SOURCE_BADGES[current.sources[name]];
    $(id).disabled = Boolean(fixedBy);
    badge.textContent = fixedBy ?? "";
    badge.hidden = !fixedBy;
  }
  $("restart-note").hidden = !current.restartNeeded;
  $("settings-warnings").textContent = current.warnings.join(" ");
  $("settings-warnings").hidden = current.warnings.length === 0;
}

/** The form's values for the settings the user may change (managed ones are left out). */
function settingChanges() {
  const read = {
    authority: () => $("setting-authority").value.trim() || null,
    clientId: () => $("setting-client-id").value.trim() || null,
    interactionMode: () => $("setting-mode").value,
    scopes: () => $("setting-scopes").value.split(/\s+/).filter(Boolean),
    renewalOffsetSecs: () => Number($("setting-renewal-offset").value),
    interactionTimeLimitSecs: () => Number($("setting-time-limit").value),
    logLevel: () => $("setting-log-level").value,
  };
  /** @type {Record<string, unknown>} */
  const changes = {};
  for (const [id, name] of Object.entries(SETTING_FIELDS)) {
    if (!$(id).disabled) changes[name] = read[name]();
  }
  return changes;
}

async function saveSettings(event) {
  event.preventDefault();
  await run(async () => {
    await api.setSettings(settingChanges());
    await showSettings();
  });
}

async function showAbout() {
  try {
    const info = await api.about();
    $("about").textContent = `${info.product} ${info.version} · commit ${info.commit} · built ${info.buildDate}`;
    $("about-title").textContent = info.product;
    $("about-version").textContent = info.version;
    $("about-commit").textContent = info.commit;
    $("about-date").textContent = info.buildDate;
  } catch (err) {
    $("about").textContent = "";
    $("error").textContent = err.message;
    $("error").hidden = false;
  }
}

// ---- wiring ----

$("about-open").onclick = () => $("about-dialog").showModal();
$("sign-in").onclick = () => run(() => signIn(preferredMode));
$("sign-in-browser").onclick = () => run(() => signIn("redirect"));
$("add-account").onclick = () => run(() => signIn(preferredMode, "select_account"));
$("accounts").onchange = (e) =>
  run(async () => {
    await api.setActiveAccount(e.target.value);
    await refresh();
  });
$("sign-out").onclick = () =>
  run(async () => {
    await busy("Signing out…", () => api.signOut($("accounts").value, false));
    await refresh();
  });
$("sign-out-everywhere").onclick = () =>
  run(async () => {
    try {
      // Cancellable: the provider may show a window asking which account to sign out.
      await busy("Signing out everywhere…", () => api.signOut($("accounts").value, true), true);
    } finally {
      // Out of Tessera either way; a failure to end the provider's session is the banner.
      await refresh();
    }
  });
$("get-token-silently").onclick = () => run(() => getToken(false));
$("force-refresh").onclick = () => run(() => getToken(true));
$("banner-dismiss").onclick = clearError;
$("busy-cancel").onclick = () => api.cancelSignIn();
$("settings-form").onsubmit = saveSettings;
setInterval(tickExpiry, 1000);

api.onEngineEvent((event) => {
  showInteraction(event);
  logEvent(event);
});
api.onRedirectFinished(() => run(() => refresh()));

showAbout();
run(async () => {
  await showSettings();
  // A browser sign-in started before this page (re)loaded: wait for it and show its outcome.
  const pending = api.redirectResult();
  await refresh();
  await pending;
});
