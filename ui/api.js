// @ts-check
// The only file that talks to the app. The sign-in pattern is tauri-plugin-tessera's typed
// guest-js API (tauri-plugin-tessera-api, vendored in ./vendor and resolved by index.html's
// import map); the About box and the settings screen are Tessera's own three commands.
// No function here ever receives a token: the app returns statuses, profiles and photos.

import { invoke } from "@tauri-apps/api/core";
import * as tessera from "tauri-plugin-tessera-api";

/** @typedef {import("tauri-plugin-tessera-api").Interaction} Interaction */
/** @typedef {import("tauri-plugin-tessera-api").InteractionMode} InteractionMode */
/** @typedef {import("tauri-plugin-tessera-api").SignInPrompt} SignInPrompt */
/** @typedef {import("tauri-plugin-tessera-api").EngineEvent} EngineEvent */
/** @typedef {import("tauri-plugin-tessera-api").TokenStatus} TokenStatus */

/** A failed command, in the stable `{ kind, message, code?, classification?, retry_after? }`
 * shape (the plugin's `TesseraError`, which Tessera's own commands use too). */
export const CommandError = tessera.TesseraError;

/**
 * One of Tessera's own commands (`about`, `settings`, `set_settings`).
 * @param {string} command
 * @param {Record<string, unknown>} [args]
 * @returns {Promise<any>}
 */
async function call(command, args) {
  try {
    return await invoke(command, args);
  } catch (raw) {
    throw new CommandError(typeof raw === "object" && raw !== null ? raw : { message: String(raw) });
  }
}

/** Product, version, commit and build date of the running binary. */
export const about = () => call("about");
/** The provider in use, the settings with their sources (policy = managed), and token storage. */
export const settings = () => call("settings");
/** Saves setting changes ({ authority?, clientId?, interactionMode?, scopes?, renewalOffsetSecs?,
 * interactionTimeLimitSecs?, logLevel? }); a managed or invalid one refuses them all.
 * @param {Record<string, unknown>} changes */
export const setSettings = (changes) => call("set_settings", { changes });

/** Signed-in accounts, the active one flagged. */
export const accounts = tessera.accounts;
/** Switches the active account. */
export const setActiveAccount = tessera.setActiveAccount;
/** Silent first, then `interaction` ("popup" | "redirect" | "none"); resolves to a token status.
 * `tenant` (an Entra tenant id or domain) asks that tenant's authority: a guest's resource tenant.
 * @param {Interaction} interaction
 * @param {boolean} [forceRefresh]
 * @param {string | null} [tenant] */
export const acquireToken = (interaction, forceRefresh = false, tenant = null) =>
  tessera.acquireToken({ interaction, forceRefresh, ...(tenant ? { tenant } : {}) });
/** Interactive sign-in; mode "popup" | "redirect" (default: the preference); prompt "select_account" | "login".
 * @param {InteractionMode | null} [mode]
 * @param {SignInPrompt | null} [prompt] */
export const signIn = (mode = null, prompt = null) =>
  tessera.signIn({ ...(mode ? { mode } : {}), ...(prompt ? { prompt } : {}) });
/** The result of a browser sign-in not yet delivered (waits while the browser is out), or null. */
export const redirectResult = tessera.redirectResult;
/** Ends the sign-in in progress with "user_cancelled". */
export const cancelSignIn = tessera.cancelSignIn;
/** Signs an account out of the app, and out of the identity provider with endSession.
 * @param {string} homeAccountId
 * @param {boolean} endSession */
export const signOut = (homeAccountId, endSession) => tessera.signOut(homeAccountId, { endSession });
/** The active account's Graph profile; `interaction` allowed if a new sign-in is needed. */
export const profile = tessera.profile;
/** The active account's photo as a data: URL, or null. */
export const profilePhoto = tessera.profilePhoto;
/** The last token's status: source, expiry, scopes, authority, correlation id. */
export const tokenStatus = tessera.tokenStatus;
/** Calls `handler(payload)` for every engine event ({ type, ... }). */
export const onEngineEvent = tessera.onEngineEvent;
/** Calls `handler()` when a system-browser sign-in has finished. */
export const onRedirectFinished = tessera.onRedirectFinished;
