// The only file that talks to the shell. Every other module calls these functions, so the list
// of commands the UI uses can be read here at a glance (it matches src-tauri/src/command_list.rs).

const tauri = window.__TAURI__;

/** An error from a command, in the shell's stable `{ kind, message, ... }` shape. */
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

/** The identity provider in use: authority, client id, Graph URL, embedded or not. */
export const settings = () => call("settings");
