// @ts-check
// The example's one page: everything it does is tauri-plugin-tessera's public guest-js API.

import { accounts, acquireToken, signIn, signOut } from "tauri-plugin-tessera-api";

/** @type {(id: string) => any} */
const $ = (id) => document.getElementById(id);

/** Shows who is signed in (the active account), or the sign-in button. */
async function show() {
  const active = (await accounts()).find((account) => account.active);
  $("who").textContent = active ? `Hello, ${active.name ?? active.username}` : "Signed out";
  $("sign-in").hidden = Boolean(active);
  $("token").hidden = $("sign-out").hidden = !active;
  return active;
}

/** @param {() => Promise<string>} work */
async function run(work) {
  try {
    $("status").textContent = await work();
  } catch (error) {
    $("status").textContent = `${error.kind}: ${error.message}`;
  }
}

$("sign-in").onclick = () =>
  run(async () => {
    const status = await signIn({ mode: "popup" });
    await show();
    return `Signed in (${status.source})`;
  });
$("token").onclick = () =>
  run(async () => {
    const status = await acquireToken({ interaction: "none" });
    return `Token from ${status.source}, valid until ${new Date(status.expiresOn * 1000).toLocaleTimeString()}`;
  });
$("sign-out").onclick = () =>
  run(async () => {
    const active = await show();
    if (active) await signOut(active.homeAccountId);
    await show();
    return "Signed out";
  });

show();
