//! `app-figures`: the app's cold start and idle memory (issue 9), for `scripts/perf`.
//!
//! Runs tessera-idp in this process and drives the app binary (`TESSERA_APP_BIN`, the release
//! build in `scripts/perf`) through WebDriver, in the desktop `scripts/with-desktop` provides:
//!
//! 1. signs ada in through the popup, waits until the app is idle, and sums the memory (RSS
//!    and PSS) of the app's processes;
//! 2. restarts the app several times; each start is timed from the WebDriver request that
//!    launches the process to the UI's `profile-shown` performance mark, with the profile
//!    served from the persisted, encrypted cache (no sign-in window);
//! 3. sums the memory again, idle after the last restart, then for the app launched directly
//!    (no WebDriver), as a user starts it, and so again with WebKit's compositing mode on.

use std::time::Duration;

use tessera_e2e::{process_tree, App};
use tessera_idp::{IdpOptions, DEFAULT_CLIENT_ID};

/// Cold starts measured (after one unmeasured start that warms the disk cache).
const STARTS: usize = 5;
/// How long the app is left alone after sign-in before its memory is read.
const IDLE: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let idp = tessera_idp::start(IdpOptions::default())
        .await
        .expect("tessera-idp starts");
    let authority = idp.authority().to_string();
    let mut app = App::launch_with_env(&[
        ("TESSERA_AUTHORITY", &authority),
        ("TESSERA_CLIENT_ID", DEFAULT_CLIENT_ID),
    ])
    .await;
    app.sign_in_with_popup("ada@tessera.test").await;
    tokio::time::sleep(IDLE).await;

    report_memory(&app.processes(), "after sign-in", "memory");

    let authorize_before = idp.stat("authorize").await.expect("stats");
    let mut starts = Vec::new();
    for run in 0..=STARTS {
        app = app.restart().await;
        let (profile, navigation) = app.cold_start_ms().await;
        if run == 0 {
            println!("cold start (warm-up, not counted): {profile:.0} ms");
            continue;
        }
        println!(
            "cold start {run}: {profile:.0} ms to the profile ({navigation:.0} ms to the page's navigation start)"
        );
        starts.push(profile);
    }
    assert_eq!(
        idp.stat("authorize").await.expect("stats"),
        authorize_before,
        "every restart must be silent: no sign-in request"
    );
    // The same after a start from the cache, with no sign-in window in this process's life:
    // the difference is what the sign-in left behind.
    tokio::time::sleep(IDLE).await;
    report_memory(
        &app.processes(),
        "after a restart (profile from the cache)",
        "restarted",
    );

    // And as a user runs it: launched directly, without WebDriver's automation session in the
    // web process (the reference figure of a minimal Tauri window was taken so too). Then once
    // more with WebKit's compositing mode, which the app turns off by default: the difference
    // is what that saves (and none would mean the app no longer turns it off).
    let folders = app.quit_keeping_folders().await;
    let launch = |extra_env: &[(&str, &str)]| {
        let binary =
            std::env::var_os("TESSERA_APP_BIN").expect("TESSERA_APP_BIN: the app to measure");
        std::process::Command::new(binary)
            .envs(App::folder_environment(folders.path()))
            .env("TESSERA_AUTHORITY", &authority)
            .env("TESSERA_CLIENT_ID", DEFAULT_CLIENT_ID)
            .envs(extra_env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the app")
    };
    for (figure, when, extra_env) in [
        (
            "direct",
            "launched directly (profile from the cache)",
            &[][..],
        ),
        (
            "compositing",
            "launched directly with WEBKIT_DISABLE_COMPOSITING_MODE=0",
            &[("WEBKIT_DISABLE_COMPOSITING_MODE", "0")][..],
        ),
    ] {
        let graph_before = idp.stat("graph").await.expect("stats");
        let mut direct = launch(extra_env);
        tokio::time::sleep(IDLE).await;
        report_memory(&process_tree(direct.id()), when, figure);
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &direct.id().to_string()])
            .status();
        let _ = direct.wait();
        assert!(
            idp.stat("graph").await.expect("stats") > graph_before,
            "the directly launched app must have loaded the profile"
        );
        assert_eq!(
            idp.stat("authorize").await.expect("stats"),
            authorize_before,
            "the directly launched app must have started silently"
        );
    }
    starts.sort_by(f64::total_cmp);
    println!(
        "figure cold_start_median_ms {:.0}\nfigure cold_start_min_ms {:.0}\nfigure cold_start_max_ms {:.0}",
        starts[starts.len() / 2],
        starts[0],
        starts[starts.len() - 1]
    );
}

/// Prints the memory of each of the app's processes, and the totals in MB as the figures
/// `{figure}_rss_mb` and `{figure}_pss_mb`.
fn report_memory(processes: &[(u32, String)], when: &str, figure: &str) {
    println!("idle memory {when}, {} s idle (kB):", IDLE.as_secs());
    println!("  {:>8}  {:>8}  {:>8}  process", "pid", "RSS", "PSS");
    let (mut rss_total, mut pss_total) = (0, 0);
    for (pid, name) in processes {
        let Some((rss, pss)) = memory_kb(*pid) else {
            continue;
        };
        println!("  {pid:>8}  {rss:>8}  {pss:>8}  {name}");
        rss_total += rss;
        pss_total += pss;
    }
    println!("  {:>8}  {rss_total:>8}  {pss_total:>8}  all", "");
    println!(
        "figure {figure}_rss_mb {:.0}\nfigure {figure}_pss_mb {:.0}",
        rss_total as f64 / 1024.0,
        pss_total as f64 / 1024.0
    );
}

/// `Rss` and `Pss` of a process in kB, from `/proc/<pid>/smaps_rollup`.
fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> Option<u64> {
        rollup
            .lines()
            .find_map(|line| line.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some((field("Rss:")?, field("Pss:")?))
}
