// The only file that talks to the shell. Every other module calls these functions, so the list
// of commands the UI uses can be read here at a glance (it matches src-tauri/src/command_list.rs).
// No function here ever receives a token: the shell returns statuses, profiles and photos.

const tauri = window.__TAURI__;

/** An error from a command, in the shell's stable `{ kind, message, code?, classification?,
 * retry_after? }` shape. */
export class CommandError extends Error {
  constructor({ kind = "internal", message = "Something went wrong.", ...rest } = {}) {
    super(message);
    this.kind = kind;
    Object.assign(this, rest);
  }
}

async function call(command, args) {
  if (!tauri?.core?.invoke) {
    throw new CommandError({
      kind: "not_in_app",
      message: "This page must run inside the Tessera app.",
    });
  }
  try {
    return await tauri.core.invoke(command, args);
  } catch (raw) {
    throw new CommandError(typeof raw === "object" && raw !== null ? raw : { message: String(raw) });
  }
}

/** Product, version, commit and build date of the running binary. */
export const about = () => call("about");
/** The provider in use, the settings with their sources (policy = managed), and token storage. */
export const settings = () => call("settings");
/** Saves setting changes ({ authority?, clientId?, interactionMode?, scopes?, renewalOffsetSecs?,
 * interactionTimeLimitSecs?, logLevel? }); a managed or invalid one refuses them all. */
export const setSettings = (changes) => call("set_settings", { changes });
/** Signed-in accounts, the active one flagged. */
export const accounts = () => call("accounts");
/** Switches the active account. */
export const setActiveAccount = (homeAccountId) => call("set_active_account", { homeAccountId });
/** Silent first, then `interaction` ("popup" | "redirect" | "none"); resolves to a token status.
 * `tenant` (an Entra tenant id or domain) asks that tenant's authority: a guest's resource tenant. */
export const acquireToken = (interaction, forceRefresh = false, tenant = null) =>
  call("acquire_token", { interaction, forceRefresh, tenant });
/** Interactive sign-in; mode "popup" | "redirect" (default: the preference); prompt "select_account" | "login". */
export const signIn = (mode = null, prompt = null) => call("sign_in", { mode, prompt });
/** The result of a browser sign-in not yet delivered (waits while the browser is out), or null. */
export const redirectResult = () => call("redirect_result");
/** Ends the sign-in in progress with "user_cancelled". */
export const cancelSignIn = () => call("cancel_sign_in");
/** Signs an account out of the app, and out of the identity provider with endSession. */
export const signOut = (homeAccountId, endSession) => call("sign_out", { homeAccountId, endSession });
/** The active account's Graph profile; `interaction` allowed if a new sign-in is needed. */
export const profile = (interaction = "none") => call("profile", { interaction });
/** The active account's photo as a data: URL, or null. */
export const profilePhoto = (interaction = "none") => call("profile_photo", { interaction });
/** The last token's status: source, expiry, scopes, authority, correlation id. */
export const tokenStatus = () => call("token_status");

/** Calls `handler(payload)` for every engine event ({ type, ... }). */
export function onEngineEvent(handler) {
  return tauri?.event?.listen("tessera:engine", (event) => handler(event.payload));
}

/** Calls `handler()` when a system-browser sign-in has finished. */
export function onRedirectFinished(handler) {
  return tauri?.event?.listen("tessera:redirect-finished", () => handler());
}
