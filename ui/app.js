import { about } from "./api.js";

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

showAbout();
