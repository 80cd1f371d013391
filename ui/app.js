import { about, settings } from "./api.js";

const aboutLine = document.getElementById("about");
const errorLine = document.getElementById("error");

function showError(err) {
  errorLine.textContent = err.message;
  errorLine.hidden = false;
}

async function showAbout() {
  try {
    const info = await about();
    aboutLine.textContent = `${info.product} ${info.version} · commit ${info.commit} · built ${info.buildDate}`;
  } catch (err) {
    aboutLine.textContent = "";
    showError(err);
  }
}

async function showProvider() {
  try {
    const current = await settings();
    document.getElementById("authority").textContent = current.authority;
    document.getElementById("client-id").textContent = current.clientId;
    document.getElementById("graph-url").textContent = current.graphUrl;
    const note = document.getElementById("embedded-note");
    if (current.embeddedProvider) {
      note.textContent =
        "This is Tessera's embedded test identity provider, running on this computer only. " +
        `Test users: ${current.testUsers.join(", ")} (password: tessera).`;
      note.hidden = false;
    }
  } catch (err) {
    showError(err);
  }
}

showAbout();
showProvider();
