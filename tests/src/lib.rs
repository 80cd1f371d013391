//! Harness for driving the real `tessera` binary through WebDriver.
//!
//! `tauri-driver` translates WebDriver sessions into launches of the app under Debian's
//! `WebKitWebDriver`. The harness checks its environment first and fails loudly when anything
//! is missing: a display, the driver, or the app binary. `scripts/test` provides all three.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fantoccini::wd::{TimeoutConfiguration, WindowHandle};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
pub use tessera_test_support::workspace_binary;
use tokio::sync::{Mutex, MutexGuard};

/// How long a new WebDriver session (starting the app) may take before it is retried.
const SESSION_TIME_LIMIT: Duration = Duration::from_secs(45);

/// How long WebDriver waits for a page to load: well under its default (300 s), so that a
/// stuck navigation fails the test in seconds instead of holding the suite.
const PAGE_LOAD_LIMIT: Duration = Duration::from_secs(30);

/// How long one app may run under one driver before the harness stops it. WebDriver calls have
/// no time limit of their own on this side, so an app that froze (as one did, in a deadlock of
/// the window-state plugin) held the CI job until its 90-minute limit; stopping the app makes
/// the pending call fail, and the test with it. No test keeps one app this long.
const APP_TIME_LIMIT: Duration = Duration::from_secs(300);

/// One app on the display at a time: two would fight over focus and the 2-core CPU.
static ONE_APP_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// A running app under WebDriver. Dropping it stops the driver (and so the app).
#[derive(Debug)]
pub struct App {
    /// The WebDriver client, pointed at the app's main window.
    pub client: Client,
    /// The main window's WebDriver handle.
    pub main: WindowHandle,
    driver: Driver,
    binary: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
    launched_at: SystemTime,
    _data_home: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl App {
    /// Starts `tauri-driver` and the app, with its data, config and cache folders in a fresh
    /// temporary directory so that no test sees another's state or the developer's.
    pub async fn launch() -> App {
        App::launch_with_env(&[]).await
    }

    /// Like [`App::launch`], with extra environment variables for the app (`TESSERA_*`).
    pub async fn launch_with_env(env: &[(&str, &str)]) -> App {
        App::launch_with_args(env, &[]).await
    }

    /// Like [`App::launch_with_env`], with command-line arguments for the app.
    pub async fn launch_with_args(env: &[(&str, &str)], args: &[&str]) -> App {
        App::launch_binary(&app_binary(), env, args).await
    }

    /// Like [`App::launch_with_args`], for another build of the app (one installed from a
    /// package, say).
    pub async fn launch_binary(binary: &Path, env: &[(&str, &str)], args: &[&str]) -> App {
        let turn = ONE_APP_AT_A_TIME.lock().await;
        let data_home = tempfile::tempdir().expect("a temporary directory for the app's data");
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        App::launch_in(binary.to_owned(), data_home, turn, env, args).await
    }

    /// Quits the app and starts it again with the same folders and environment, as a user who
    /// closes the app and opens it later.
    pub async fn restart(self) -> App {
        let App {
            client,
            main: _,
            driver,
            binary,
            env,
            args,
            launched_at: _,
            _data_home,
            _turn,
        } = self;
        let _ = client.close().await;
        drop(driver);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        App::launch_in(binary, _data_home, _turn, &env, args).await
    }

    async fn launch_in(
        binary: PathBuf,
        data_home: tempfile::TempDir,
        turn: MutexGuard<'static, ()>,
        env: &[(&str, &str)],
        args: Vec<String>,
    ) -> App {
        require_environment();
        stop_leftover_apps(&binary);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("wry"));
        // Bounds every WebDriver wait well under the defaults (page load 300 s), so a stuck
        // command fails the test in seconds instead of holding the suite.
        capabilities.insert(
            "timeouts".into(),
            json!({
                "pageLoad": PAGE_LOAD_LIMIT.as_millis() as u64,
                "script": 30_000,
                "implicit": 0
            }),
        );
        capabilities.insert(
            "tauri:options".into(),
            json!({ "application": binary.to_string_lossy(), "args": args }),
        );
        // WebKitWebDriver sometimes drops the new-session request on a loaded machine (seen as
        // "connection reset" in CI). That is the driver, not the app: start a fresh driver and
        // try again, saying so, at most three times. Assertions are never retried.
        let mut attempt = 1;
        let (client, driver, launched_at) = loop {
            let driver = match Driver::start(data_home.path(), env) {
                Ok(driver) => driver,
                Err(err) if attempt < 3 => {
                    eprintln!("tessera-e2e: attempt {attempt}: {err}; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    attempt += 1;
                    continue;
                }
                Err(err) => panic!("{err}, {attempt} times"),
            };
            // Plain HTTP: the driver listens on loopback, so no TLS stack is compiled in.
            let mut builder = ClientBuilder::new(HttpConnector::new());
            builder.capabilities(capabilities.clone());
            let url = format!("http://127.0.0.1:{}", driver.port);
            let launched_at = SystemTime::now();
            let connect = builder.connect(&url);
            // A new session normally takes about a second; one that hangs is retried like one
            // that fails (seen once: WebKitWebDriver sat on the request for five minutes).
            let session = match tokio::time::timeout(SESSION_TIME_LIMIT, connect).await {
                Ok(session) => session.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {SESSION_TIME_LIMIT:?}")),
            };
            match session {
                Ok(client) => break (client, driver, launched_at),
                Err(err) if attempt < 3 => {
                    eprintln!(
                        "tessera-e2e: WebDriver session attempt {attempt} failed ({err}); retrying with a fresh tauri-driver"
                    );
                    drop(driver);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    stop_leftover_apps(&binary);
                    attempt += 1;
                }
                Err(err) => panic!(
                    "WebDriver session with {} failed {attempt} times: {err}",
                    binary.display()
                ),
            }
        };
        let main = client.window().await.expect("the main window's handle");
        App {
            client,
            main,
            driver,
            binary,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args,
            launched_at,
            _data_home: data_home,
            _turn: turn,
        }
    }

    /// The app's processes as (pid, name): the one running the app binary under this app's
    /// driver, then its descendants (WebKit's web and network processes, their sandbox).
    pub fn processes(&self) -> Vec<(u32, String)> {
        let binary = self
            .binary
            .canonicalize()
            .unwrap_or_else(|_| self.binary.clone());
        let marker = self.driver.app_marker.as_bytes();
        let main = pids_where(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary)
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == marker))
        });
        let [main] = main.as_slice() else {
            panic!("expected one app process, found {main:?}");
        };
        process_tree(main.parse().expect("a process id"))
    }

    /// Milliseconds from the WebDriver request that launched the app to the UI's
    /// `profile-shown` performance mark, and from the launch to the page's navigation start
    /// (process and webview start-up). Waits for the mark (30 s at most).
    pub async fn cold_start_ms(&self) -> (f64, f64) {
        let marks = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                (function poll() {
                  const mark = performance.getEntriesByName("profile-shown")[0];
                  if (mark) done([performance.timeOrigin + mark.startTime, performance.timeOrigin]);
                  else setTimeout(poll, 10);
                })();"#,
                vec![],
            )
            .await
            .expect("the profile-shown mark within the script time limit");
        let epoch_ms = |value: &Value| value.as_f64().expect("a time in milliseconds");
        let launched = self
            .launched_at
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64()
            * 1000.0;
        (
            epoch_ms(&marks[0]) - launched,
            epoch_ms(&marks[1]) - launched,
        )
    }

    /// Clicks "Sign in", signs `username` in (password `tessera`) in the popup, and waits for
    /// the profile.
    pub async fn sign_in_with_popup(&self, username: &str) {
        // Visible (and so clickable) once the window has found nobody signed in.
        self.wait_for_text("#sign-in", Duration::from_secs(20), |t| t == "Sign in")
            .await;
        self.client
            .find(Locator::Css("#sign-in"))
            .await
            .expect("the Sign in button")
            .click()
            .await
            .expect("click Sign in");
        let popup = self.wait_for_popup(Duration::from_secs(20)).await;
        self.sign_in_in_popup(&popup, username, "tessera").await;
        self.wait_for_text("#profile-upn", Duration::from_secs(20), |t| t == username)
            .await;
    }

    /// Clicks the element `css` once it exists (30 s at most).
    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Waits (30 s at most) until `css`'s attribute `name` satisfies `test` (absent is `None`).
    pub async fn wait_for_attribute(
        &self,
        css: &str,
        name: &str,
        test: impl Fn(Option<&str>) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let current = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.attr(name).await.ok().flatten(),
                Err(_) => None,
            };
            if test(current.as_deref()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css}[{name}] is still {current:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The folder holding the app's XDG data, config and cache folders.
    pub fn data_home(&self) -> &Path {
        self._data_home.path()
    }

    /// Calls a command from the main window, as the UI does (Tessera's own by name, the sign-in
    /// plugin's as `plugin:tessera|<name>`), and returns its value or its `CommandError` as
    /// JSON.
    pub async fn invoke(&self, command: &str, args: Value) -> Result<Value, Value> {
        let command = if ["about", "settings", "set_settings"].contains(&command) {
            command.to_owned()
        } else {
            format!("plugin:tessera|{command}")
        };
        let command = command.as_str();
        let answer = self
            .client
            .execute_async(
                "const [command, args, done] = arguments;\
                 window.__TAURI_INTERNALS__.invoke(command, args)\
                   .then((ok) => done({ ok: ok ?? null }), (err) => done({ err }));",
                vec![json!(command), args],
            )
            .await
            .unwrap_or_else(|e| panic!("invoke {command}: {e}"));
        match answer.get("ok") {
            Some(value) => Ok(value.clone()),
            None => Err(answer["err"].clone()),
        }
    }

    /// The handles of every window WebDriver sees, the main one included.
    pub async fn windows(&self) -> Vec<WindowHandle> {
        self.client.windows().await.expect("list windows")
    }

    /// Waits for the sign-in popup (a window other than the main one, shown on screen) and
    /// returns its handle. The hidden silent-SSO window, which WebDriver lists too, is never
    /// mapped on the X server, so it is not taken for the popup.
    pub async fn wait_for_popup(&self, timeout: Duration) -> WindowHandle {
        self.wait_for_shown_window("Sign in \u{2014} ", timeout)
            .await
    }

    /// Waits for the sign-out window to show itself (it opens hidden, and shows when the
    /// provider shows a page, such as Entra's account picker) and returns its handle.
    pub async fn wait_for_sign_out_window(&self, timeout: Duration) -> WindowHandle {
        self.wait_for_shown_window("Sign out \u{2014} ", timeout)
            .await
    }

    async fn wait_for_shown_window(&self, title_prefix: &str, timeout: Duration) -> WindowHandle {
        let deadline = Instant::now() + timeout;
        loop {
            let shown = shown_x11_windows(title_prefix).unwrap_or(0);
            let others: Vec<WindowHandle> = self
                .windows()
                .await
                .into_iter()
                .filter(|w| *w != self.main)
                .collect();
            if shown > 0 && others.len() == 1 {
                return others.into_iter().next().expect("one other window");
            }
            assert!(
                Instant::now() < deadline,
                "no window titled {title_prefix:?}… was shown within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Closes the window `handle`, titled `title`, the way a user's click on its close button
    /// does: the window manager sends it `WM_DELETE_WINDOW` (there is no window manager under
    /// Xvfb, so the test sends it, again every few seconds until the window is gone).
    pub async fn close_window_as_user(&self, handle: &WindowHandle, title: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut attempt = 0;
        while self.is_open(handle).await {
            assert!(
                Instant::now() < deadline,
                "the window {title:?} did not close after {attempt} WM_DELETE_WINDOW messages"
            );
            if attempt > 0 {
                eprintln!("tessera-e2e: {title:?} still open; sending WM_DELETE_WINDOW again");
            }
            let sent = close_x11_window(title)
                .unwrap_or_else(|e| panic!("close the window {title:?}: {e}"));
            attempt += 1;
            let next = Instant::now() + Duration::from_secs(3);
            while Instant::now() < next && self.is_open(handle).await {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if sent > 1 {
                eprintln!("tessera-e2e: {sent} X windows are titled {title:?}");
            }
        }
    }

    /// Whether `window` still exists.
    pub async fn is_open(&self, window: &WindowHandle) -> bool {
        self.windows().await.contains(window)
    }

    /// Plays the user in the sign-in window: types `username` and `password` into tessera-idp's
    /// sign-in page and says yes to the pages after it, until the window closes (the app caught
    /// the redirect). WebDriver is pointed back at the main window afterwards.
    pub async fn sign_in_in_popup(&self, popup: &WindowHandle, username: &str, password: &str) {
        self.client
            .switch_to_window(popup.clone())
            .await
            .expect("switch to the sign-in window");
        for _ in 0..10 {
            let Some(page) = self.idp_page(popup).await else {
                break;
            };
            eprintln!("tessera-e2e: the sign-in window shows {page}");
            match page.as_str() {
                "login" => {
                    self.type_into("#username", username).await;
                    self.type_into("#password", password).await;
                    self.submit("#next", popup).await;
                }
                "kmsi" => self.submit("#kmsi-yes", popup).await,
                "consent" => self.submit("#accept", popup).await,
                "mfa" => self.submit("#approve", popup).await,
                "pick_account" => {
                    let css = format!("button[data-username=\"{username}\"]");
                    let known = self.client.find(Locator::Css(&css)).await.is_ok();
                    let choice = if known { css } else { "#other".to_owned() };
                    self.submit(&choice, popup).await;
                }
                // Entra's sign-out picker: the account to sign out.
                "logout_pick" => {
                    let css = format!("button[data-username=\"{username}\"]");
                    self.submit(&css, popup).await;
                }
                other => panic!("the sign-in window shows an unexpected page: {other}"),
            }
        }
        assert!(
            !self.is_open(popup).await,
            "the sign-in window should have closed once the provider redirected"
        );
        self.client
            .switch_to_window(self.main.clone())
            .await
            .expect("switch back to the main window");
    }

    /// The `tessera-page` marker of the provider page in `window`, once loaded; `None` when the
    /// window has closed.
    async fn idp_page(&self, window: &WindowHandle) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if !self.is_open(window).await {
                return None;
            }
            let marker = self
                .client
                .execute(
                    "const m = document.querySelector('meta[name=tessera-page]');\
                     return document.readyState === 'complete' && m ? m.content : null;",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            if marker.is_some() {
                return marker;
            }
            assert!(Instant::now() < deadline, "the sign-in page never loaded");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Types `text` into the field `css` of the current window's page, replacing its value.
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} on the page: {e}"));
        field.clear().await.ok();
        field.send_keys(text).await.expect("type");
    }

    /// Clicks a submit button and waits until the page has been replaced (or the window
    /// closed), so the next look is at the next page.
    async fn submit(&self, css: &str, window: &WindowHandle) {
        eprintln!("tessera-e2e: submit {css}");
        // The click is made by the page itself, after this script has returned: WebDriver's
        // own click waits for the navigation it starts, and the last one ends with the window
        // destroyed (the app caught the redirect), which WebKitWebDriver may wait on for its
        // whole page-load time limit.
        let clicked = self
            .client
            .execute(
                "const button = document.querySelector(arguments[0]);\
                 if (!button) return false;\
                 window.__tesseraPageSeen = true;\
                 setTimeout(() => button.click(), 0);\
                 return true;",
                vec![json!(css)],
            )
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        assert_eq!(clicked, json!(true), "{css} is not on the sign-in page");
        // WebKitWebDriver runs a script only once the navigation in progress has finished, and
        // waits for that up to the page-load limit. The navigation to the redirect never
        // finishes (the app cancels it and destroys the window), so a look that landed in it
        // waited the whole 30 s (1 run in 5 of a sign-in test). While the page changes, the
        // limit is a second: a look cut short means the page is changing, and the next page
        // is read under the full limit.
        self.set_page_load_limit(Duration::from_secs(1)).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut changed = false;
        while !changed && Instant::now() < deadline && self.is_open(window).await {
            let same_page = self
                .client
                .execute("return window.__tesseraPageSeen === true;", vec![])
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            changed = !same_page;
            if !changed {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        self.set_page_load_limit(PAGE_LOAD_LIMIT).await;
        assert!(
            changed || !self.is_open(window).await,
            "clicking {css} led nowhere in 20 s"
        );
    }

    /// Sets how long WebDriver waits for a page to load (the session's `pageLoad` timeout).
    async fn set_page_load_limit(&self, limit: Duration) {
        self.client
            .update_timeouts(TimeoutConfiguration::new(None, Some(limit), None))
            .await
            .expect("WebDriver sets its page-load limit");
    }

    /// Waits up to `timeout` for the element's text to satisfy `accept`, and returns it.
    ///
    /// The element is looked up afresh each time: a handle found once goes stale when the page
    /// reloads, and would read as empty for ever (how a CAE test once failed in CI).
    pub async fn wait_for_text(
        &self,
        css: &str,
        timeout: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.ok(),
                Err(_) => None,
            };
            if let Some(text) = text.as_deref().filter(|t| accept(t)) {
                return text.to_owned();
            }
            if Instant::now() > deadline {
                let shown = match text {
                    Some(text) => format!("still shows {text:?}"),
                    None => "never appeared".to_owned(),
                };
                panic!(
                    "{css} {shown} after {timeout:?}; the page says {}",
                    self.page_state().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the page shows besides the content a test waits for (the banner, the error line),
    /// for failure messages.
    async fn page_state(&self) -> String {
        let script = "const shown = id => { const e = document.getElementById(id); \
                      return e && !e.hidden ? e.textContent.trim() : null; }; \
                      return JSON.stringify({ banner: shown('banner'), error: shown('error') });";
        match self.client.execute(script, vec![]).await {
            Ok(value) => value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
            Err(err) => format!("nothing readable ({err})"),
        }
    }

    /// Reloads the main window's page and waits until the new document has replaced the old
    /// one (`location.reload()` returns before the old page is gone).
    pub async fn reload(&self) {
        self.client
            .execute("window.__tesseraOldPage = true; location.reload();", vec![])
            .await
            .expect("reload the page");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let old = self
                .client
                .execute("return window.__tesseraOldPage === true;", vec![])
                .await;
            // An error means the page is between documents: keep waiting.
            if matches!(old, Ok(Value::Bool(false))) {
                return;
            }
            assert!(Instant::now() < deadline, "the page did not reload in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the current window to `screenshots/<name>.png` at the workspace root.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // WebKit snapshots the last painted frame: wait for two animation frames so that what
        // the test just asserted is on it.
        self.client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 requestAnimationFrame(() => requestAnimationFrame(() => done()));",
                vec![],
            )
            .await
            .expect("wait for a repaint");
        let png = self
            .client
            .screenshot()
            .await
            .expect("WebDriver screenshot");
        let dir = workspace_root().join("screenshots");
        std::fs::create_dir_all(&dir).expect("create screenshots/");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Ends the WebDriver session (closing the app) and stops the driver, but keeps the app's
    /// folders and returns them, for a launch of the app without WebDriver.
    pub async fn quit_keeping_folders(self) -> tempfile::TempDir {
        let App {
            client,
            driver,
            _data_home,
            ..
        } = self;
        let _ = client.close().await;
        drop(driver);
        _data_home
    }

    /// The environment the harness gives the app for the folders in `data_home` (the XDG
    /// folders, and no machine policy), as [`App::quit_keeping_folders`] returns them.
    pub fn folder_environment(data_home: &Path) -> Vec<(String, PathBuf)> {
        vec![
            ("XDG_DATA_HOME".into(), data_home.join("data")),
            ("XDG_CONFIG_HOME".into(), data_home.join("config")),
            ("XDG_CACHE_HOME".into(), data_home.join("cache")),
            (
                "TESSERA_POLICY_FILE".into(),
                data_home.join("no-policy.json"),
            ),
        ]
    }

    /// Ends the WebDriver session (closing the app) and stops the driver.
    pub async fn close(self) {
        let App {
            client,
            main: _,
            driver,
            binary: _,
            env: _,
            args: _,
            launched_at: _,
            _data_home,
            _turn,
        } = self;
        let _ = client.close().await;
        // The app's folders go only after the driver (and so the app) has stopped.
        drop(driver);
        drop(_data_home);
    }
}

/// A process and its descendants as (pid, name), the process first.
pub fn process_tree(root: u32) -> Vec<(u32, String)> {
    let parent_of = |pid: &str| -> Option<String> {
        // `pid (comm) state ppid …`; the name may hold spaces and parentheses.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after_name = &stat[stat.rfind(')')? + 1..];
        after_name.split_whitespace().nth(1).map(str::to_owned)
    };
    let mut family = vec![root.to_string()];
    let mut index = 0;
    while index < family.len() {
        let parent = family[index].clone();
        family.extend(pids_where(|pid| parent_of(pid).as_deref() == Some(&parent)));
        index += 1;
    }
    family
        .into_iter()
        .filter_map(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            Some((pid.parse().ok()?, name.trim().to_owned()))
        })
        .collect()
}

/// How many top-level X windows whose title starts with `prefix` are mapped (on screen).
fn shown_x11_windows(prefix: &str) -> Result<usize, Box<dyn std::error::Error>> {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{AtomEnum, ConnectionExt, MapState};
    let (connection, screen) = x11rb::connect(None)?;
    let root = connection.setup().roots[screen].root;
    let net_wm_name = connection
        .intern_atom(false, b"_NET_WM_NAME")?
        .reply()?
        .atom;
    let utf8 = connection.intern_atom(false, b"UTF8_STRING")?.reply()?.atom;
    let mut shown = 0;
    for window in connection.query_tree(root)?.reply()?.children {
        let mut name = connection
            .get_property(false, window, net_wm_name, utf8, 0, 1024)?
            .reply()?
            .value;
        if name.is_empty() {
            name = connection
                .get_property(false, window, AtomEnum::WM_NAME, AtomEnum::STRING, 0, 1024)?
                .reply()?
                .value;
        }
        let mapped =
            connection.get_window_attributes(window)?.reply()?.map_state == MapState::VIEWABLE;
        if mapped && String::from_utf8_lossy(&name).starts_with(prefix) {
            shown += 1;
        }
    }
    Ok(shown)
}

/// Sends `WM_DELETE_WINDOW` to every top-level X window titled `title`; returns how many.
fn close_x11_window(title: &str) -> Result<usize, Box<dyn std::error::Error>> {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{AtomEnum, ClientMessageEvent, ConnectionExt, EventMask};
    let (connection, screen) = x11rb::connect(None)?;
    let root = connection.setup().roots[screen].root;
    let atom = |name: &str| -> Result<u32, Box<dyn std::error::Error>> {
        Ok(connection
            .intern_atom(false, name.as_bytes())?
            .reply()?
            .atom)
    };
    let (protocols, delete, net_wm_name, utf8) = (
        atom("WM_PROTOCOLS")?,
        atom("WM_DELETE_WINDOW")?,
        atom("_NET_WM_NAME")?,
        atom("UTF8_STRING")?,
    );
    let mut sent = 0;
    for window in connection.query_tree(root)?.reply()?.children {
        let name = connection
            .get_property(false, window, net_wm_name, utf8, 0, 1024)?
            .reply()?
            .value;
        let name = if name.is_empty() {
            connection
                .get_property(false, window, AtomEnum::WM_NAME, AtomEnum::STRING, 0, 1024)?
                .reply()?
                .value
        } else {
            name
        };
        if String::from_utf8_lossy(&name) == title {
            let event = ClientMessageEvent::new(32, window, protocols, [delete, 0, 0, 0, 0]);
            connection.send_event(false, window, EventMask::NO_EVENT, event)?;
            sent += 1;
        }
    }
    connection.flush()?;
    if sent == 0 {
        return Err(format!("no top-level window is titled {title:?}").into());
    }
    Ok(sent)
}

/// Panics with the fix when a prerequisite is missing, so that no test passes by not running.
fn require_environment() {
    let display = std::env::var("DISPLAY").unwrap_or_default();
    assert!(
        !display.is_empty(),
        "no DISPLAY: end-to-end tests need an X server; run scripts/test, which starts Xvfb"
    );
    for tool in ["tauri-driver", "WebKitWebDriver"] {
        assert!(
            find_on_path(tool).is_some(),
            "{tool} is not on PATH; run scripts/setup (it installs webkit2gtk-driver and tauri-driver)"
        );
    }
}

fn find_on_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(tool))
            .find(|candidate| candidate.is_file())
    })
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The app binary: `TESSERA_APP_BIN`, else `tessera` in this test's own target profile folder.
fn app_binary() -> PathBuf {
    let binary = std::env::var_os("TESSERA_APP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_binary("tessera"));
    assert!(
        binary.is_file(),
        "app binary {} not found: build it first with `cargo build -p tessera-app` (scripts/test does)",
        binary.display()
    );
    binary
}

/// A `tauri-driver` process on free local ports, stopped with SIGTERM on drop.
#[derive(Debug)]
struct Driver {
    child: Child,
    port: u16,
    /// `XDG_DATA_HOME=…` of this driver's app, to find its processes.
    app_marker: String,
    /// Dropped with the driver, which tells the watchdog that the app ended in time.
    _watchdog: std::sync::mpsc::Sender<()>,
}

impl Driver {
    /// Starts tauri-driver and waits until it answers; an error if it does not within 20 s
    /// (the driver is stopped then).
    fn start(data_home: &Path, env: &[(&str, &str)]) -> Result<Driver, String> {
        for folder in ["data", "config", "cache"] {
            std::fs::create_dir_all(data_home.join(folder)).expect("create the app's XDG folders");
        }
        let port = free_port();
        let native_port = free_port();
        let mut command = Command::new("tauri-driver");
        // The developer's own configuration must not leak into a test.
        for (name, _) in std::env::vars() {
            if name.starts_with("TESSERA_") {
                command.env_remove(name);
            }
        }
        // The app inherits these through WebKitWebDriver, so its data stays in the test's own
        // folder (webview data store, settings, cache), and no machine policy applies unless
        // the test brings one.
        command.envs(App::folder_environment(data_home));
        command.envs(env.iter().copied());
        let child = command
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .expect("start tauri-driver");
        let app_marker = format!("XDG_DATA_HOME={}", data_home.join("data").display());
        let driver = Driver {
            child,
            port,
            _watchdog: watchdog(app_marker.clone()),
            app_marker,
        };
        // tauri-driver listens before its WebKitWebDriver child is ready, and drops requests
        // until then: wait for the WebDriver status endpoint to answer 200.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !webdriver_ready(port) {
            if Instant::now() > deadline {
                return Err(format!(
                    "tauri-driver on port {port} was not ready within 20 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(driver)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SIGTERM, never SIGKILL: tauri-driver stops its WebKitWebDriver child only on TERM/INT,
        // and an orphaned one would keep its port and serve the next run on a stale display.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // An app that outlived its driver (after a failed test, say) would hold the
        // single-instance name, and the next test's app would exit at once in its favour.
        stop_processes_with(&self.app_marker);
    }
}

/// Stops the app whose environment holds `marker` if it still runs after [`APP_TIME_LIMIT`],
/// saying so; dropping the returned sender ends the watch.
fn watchdog(marker: String) -> std::sync::mpsc::Sender<()> {
    let (ended, watch) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(APP_TIME_LIMIT)
        {
            eprintln!(
                "tessera-e2e: the app has run for {} s in one test, longer than any test needs; \
                 stopping it, as frozen (its WebDriver call fails next)",
                APP_TIME_LIMIT.as_secs()
            );
            stop_processes_with(&marker);
        }
    });
    ended
}

/// Stops every process whose environment holds `marker` (SIGTERM, then SIGKILL after 5 s).
fn stop_processes_with(marker: &str) {
    stop_processes(|| {
        pids_where(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == marker.as_bytes()))
        })
    });
}

/// Stops any copy of the app still running on this test session's D-Bus bus before a new one
/// starts: one would hold the single-instance name, and the new app would hand over to it and
/// exit at once (which WebDriver reports only as a dropped connection). Tests run one app at a
/// time, so any such copy is a leftover; it is named so that its cause can be looked for. Apps
/// on other buses (another test run, the developer's own) are not touched.
fn stop_leftover_apps(binary: &Path) {
    let Some(bus) = std::env::var_os("DBUS_SESSION_BUS_ADDRESS") else {
        return;
    };
    let marker = [
        b"DBUS_SESSION_BUS_ADDRESS=".as_slice(),
        bus.as_encoded_bytes(),
    ]
    .concat();
    let binary = binary.canonicalize().unwrap_or_else(|_| binary.to_owned());
    let find = || {
        pids_where(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary)
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == marker))
        })
    };
    let leftovers = find();
    if !leftovers.is_empty() {
        eprintln!("tessera-e2e: an app from an earlier test is still running ({leftovers:?}); stopping it");
        stop_processes(find);
    }
}

/// The ids of the processes for which `keep` holds.
fn pids_where(keep: impl Fn(&str) -> bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| keep(pid))
        .collect()
}

/// SIGTERM to what `find` lists until it lists nothing, SIGKILL after 5 s.
fn stop_processes(find: impl Fn() -> Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = find();
        if pids.is_empty() {
            return;
        }
        let signal = if Instant::now() < deadline {
            "-TERM"
        } else {
            "-KILL"
        };
        if signal == "-KILL" {
            eprintln!("tessera-e2e: the app did not stop within 5 s of SIGTERM; killing {pids:?}");
        }
        let _ = Command::new("kill").arg(signal).args(&pids).status();
        std::thread::sleep(Duration::from_millis(200));
        if signal == "-KILL" {
            return;
        }
    }
}

/// Whether `GET /status` on the driver answers `200`.
fn webdriver_ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut head = [0u8; 12];
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_exact(&mut head).is_ok()
        && head.ends_with(b" 200")
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}

/// Runs `secret-tool ACTION` (`lookup`, `clear`) on the keyring entry of the token cache at
/// `cache_file`, as another program on the desktop would.
pub fn secret_tool(action: &str, cache_file: &Path) -> std::process::Output {
    Command::new("secret-tool")
        .args([
            action,
            "service",
            tessera_vault::KEYRING_SERVICE,
            "username",
        ])
        .arg(format!("token-cache-key:{}", cache_file.display()))
        .output()
        .expect("run secret-tool (scripts/setup installs libsecret-tools)")
}

/// The tokens in the encrypted cache at `cache_file`, decrypted with the key `secret-tool`
/// reads from the Secret Service: proof that the key is really there, and the strings to look
/// for on disk.
pub fn cached_secrets(cache_file: &Path) -> Vec<String> {
    let lookup = secret_tool("lookup", cache_file);
    assert!(lookup.status.success(), "secret-tool lookup: {lookup:?}");
    let key = tessera_vault::decode_key(&String::from_utf8_lossy(&lookup.stdout))
        .expect("a cache key in the keyring");
    let sealed = std::fs::read(cache_file).expect("the cache file");
    let blob = tessera_vault::unseal(&key, &sealed).expect("the keyring's key opens the cache");
    let cache: Value = serde_json::from_slice(&blob).expect("a JSON cache inside");
    tessera_test_support::secrets_in(&cache)
}

/// The app's log files under an XDG home (`…/dev.tessera.desktop/logs/*.log`), with their text.
pub fn log_files(home: &Path) -> Vec<(PathBuf, String)> {
    let mut found = vec![];
    let mut pending = vec![home.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "log")
                && path.parent().is_some_and(|p| p.ends_with("logs"))
            {
                let text =
                    String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
                found.push((path, text));
            }
        }
    }
    found
}

/// Fails if any file under `folder` (recursively) contains one of `needles` as plain bytes.
pub fn assert_no_plaintext(folder: &Path, needles: &[String], also: &[&str]) {
    let mut files = 0;
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            files += 1;
            let found = needles
                .iter()
                .map(String::as_str)
                .chain(also.iter().copied())
                .find(|needle| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()));
            assert!(
                found.is_none(),
                "{} holds a secret in plaintext ({} bytes of it)",
                path.display(),
                found.map_or(0, str::len)
            );
        }
    }
    assert!(files > 0, "no file at all under {}", folder.display());
}
