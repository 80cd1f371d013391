//! The installers `scripts/release` builds (`scripts/test` runs `scripts/release --debug`
//! first): the .deb installed with dpkg into a scratch root, its binary started under Xvfb
//! until the main window shows the UI, then removed; the .rpm's metadata and contents.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tessera_e2e::App;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What both Linux packages install: the app, the CLI, the desktop entry and icon, the schema
/// IT validates policies against.
const PACKAGED_FILES: [&str; 5] = [
    "/usr/bin/tessera",
    "/usr/bin/tessera-cli",
    "/usr/share/applications/Tessera.desktop",
    "/usr/share/icons/hicolor/128x128/apps/tessera.png",
    "/usr/share/tessera/policy.schema.json",
];

/// The one installer of `kind` in this test's profile's bundle folder, or a loud failure that
/// says how to build it.
fn installer(kind: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the running test");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps");
    let folder = profile_dir.join("bundle").join(kind);
    let found: Vec<PathBuf> = std::fs::read_dir(&folder)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == kind))
                .filter(|p| p.to_string_lossy().contains(VERSION))
                .collect()
        })
        .unwrap_or_default();
    match found.as_slice() {
        [one] => one.clone(),
        [] => panic!(
            "no .{kind} of version {VERSION} in {}: build the installers first with `scripts/release --debug` (scripts/test does)",
            folder.display()
        ),
        many => panic!("several .{kind} files of version {VERSION}: {many:?}"),
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} cannot run ({e}): scripts/setup --release-tools installs it")
        });
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The package names of a Depends line (`a, b | c (>= 1)` → every alternative group).
fn dependency_groups(depends: &str) -> Vec<Vec<String>> {
    depends
        .split(',')
        .map(|group| {
            group
                .split('|')
                .filter_map(|p| p.split_whitespace().next())
                .map(str::to_owned)
                .collect()
        })
        .filter(|g: &Vec<String>| !g.is_empty())
        .collect()
}

fn installed_on_this_machine(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout) == "install ok installed")
}

#[tokio::test]
async fn the_deb_installs_into_a_scratch_root_starts_under_xvfb_and_uninstalls_cleanly() {
    let deb = installer("deb");
    let path = deb.to_str().expect("a UTF-8 path");
    assert_eq!(run("dpkg-deb", &["-f", path, "Package"]).trim(), "tessera");
    assert_eq!(
        run("dpkg-deb", &["-f", path, "Version"]).trim(),
        VERSION,
        "the workspace's version"
    );
    let depends = run("dpkg-deb", &["-f", path, "Depends"]);
    let groups = dependency_groups(&depends);
    // ca-certificates: the system store the platform verifier reads (issue 19).
    for needed in [
        "libwebkit2gtk-4.1-0",
        "libgtk-3-0",
        "libdbus-1-3",
        "ca-certificates",
    ] {
        assert!(
            groups.iter().any(|g| g.iter().any(|p| p == needed)),
            "{needed} declared: {depends}"
        );
    }
    // Declared dependencies are what this (Debian) machine has: `apt install ./the.deb`
    // would find every one of them.
    for group in &groups {
        assert!(
            group.iter().any(|p| installed_on_this_machine(p)),
            "no package of {group:?} is installed here"
        );
    }

    // A scratch root with an empty dpkg database: dpkg installs into it as it would into /.
    let root = tempfile::tempdir().expect("a scratch root");
    let admin = root.path().join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("updates")).expect("dpkg's folders");
    std::fs::create_dir_all(admin.join("info")).expect("dpkg's folders");
    std::fs::write(admin.join("status"), "").expect("dpkg's status file");
    let root_arg = format!("--root={}", root.path().display());
    let dpkg = |action: &[&str]| {
        let mut args = vec![
            root_arg.as_str(),
            "--force-not-root",
            "--force-depends",
            "--log=/dev/null",
        ];
        args.extend_from_slice(action);
        run("dpkg", &args)
    };
    dpkg(&["-i", path]);
    let listed = dpkg(&["-L", "tessera"]);
    for expected in PACKAGED_FILES {
        assert!(
            listed.lines().any(|l| l == expected),
            "{expected} in {listed}"
        );
    }
    let installed = |relative: &str| root.path().join(relative.trim_start_matches('/'));
    let desktop = std::fs::read_to_string(installed("/usr/share/applications/Tessera.desktop"))
        .expect("the desktop entry");
    assert!(desktop.contains("Exec=tessera"), "{desktop}");
    assert!(desktop.contains("Icon=tessera"), "{desktop}");
    assert_eq!(
        std::fs::read(installed("/usr/share/tessera/policy.schema.json")).expect("the schema"),
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/policy.schema.json"))
            .expect("docs/policy.schema.json"),
        "the schema IT validates against is the documented one"
    );

    let app_binary = installed("/usr/bin/tessera");
    let version = run(app_binary.to_str().expect("UTF-8"), &["--version"]);
    assert!(
        version.starts_with(&format!("Tessera {VERSION}")),
        "{version}"
    );
    let cli = run(
        installed("/usr/bin/tessera-cli").to_str().expect("UTF-8"),
        &["--version"],
    );
    assert_eq!(cli.trim(), format!("tessera-cli {VERSION}"));

    let app = App::launch_binary(&app_binary, &[], &[]).await;
    assert_eq!(app.client.title().await.expect("the title"), "Tessera");
    let about = app
        .wait_for_text("#about", Duration::from_secs(20), |t| t.contains(VERSION))
        .await;
    assert!(about.starts_with("Tessera "), "{about}");
    app.screenshot("installed-from-deb").await;
    // The About box: version, commit and build date of the installed build.
    app.click("#about-open").await;
    let version_shown = app
        .wait_for_text("#about-version", Duration::from_secs(10), |t| !t.is_empty())
        .await;
    assert_eq!(version_shown, VERSION);
    let commit = app
        .wait_for_text("#about-commit", Duration::from_secs(10), |t| !t.is_empty())
        .await;
    assert!(
        commit == "unknown" || commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{commit}"
    );
    let date = app
        .wait_for_text("#about-date", Duration::from_secs(10), |t| !t.is_empty())
        .await;
    assert_eq!(date.len(), 10, "YYYY-MM-DD: {date}");
    app.screenshot("about-box").await;
    app.click("#about-close").await;
    app.close().await;

    dpkg(&["-r", "tessera"]);
    let left: Vec<PathBuf> = walk(root.path())
        .into_iter()
        .filter(|p| !p.starts_with(&admin))
        .filter(|p| p.is_file())
        .collect();
    assert!(
        left.is_empty(),
        "the package leaves nothing behind: {left:?}"
    );
}

fn walk(folder: &Path) -> Vec<PathBuf> {
    let mut found = vec![];
    if let Ok(entries) = std::fs::read_dir(folder) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            }
            found.push(path);
        }
    }
    found
}

#[test]
fn the_rpm_names_its_version_dependencies_and_files() {
    let rpm = installer("rpm");
    let path = rpm.to_str().expect("a UTF-8 path");
    let query = |format: &str| run("rpm", &["-qp", "--queryformat", format, path]);
    assert_eq!(query("%{NAME} %{VERSION}"), format!("tessera {VERSION}"));
    assert_eq!(query("%{LICENSE}"), "MIT OR Apache-2.0");
    let requires = run("rpm", &["-qp", "--requires", path]);
    for needed in [
        "libwebkit2gtk-4.1.so.0()(64bit)",
        "libgtk-3.so.0()(64bit)",
        "dbus-libs",
        "ca-certificates",
    ] {
        assert!(
            requires.lines().any(|l| l.trim() == needed),
            "{needed} in {requires}"
        );
    }
    let files = run("rpm", &["-qlp", path]);
    for expected in PACKAGED_FILES {
        assert!(
            files.lines().any(|l| l == expected),
            "{expected} in {files}"
        );
    }
}

#[test]
fn the_checksums_list_every_installer() {
    let deb = installer("deb");
    let bundle = deb
        .parent()
        .and_then(Path::parent)
        .expect("the bundle folder");
    let sums = std::fs::read_to_string(bundle.join("SHA256SUMS")).expect("SHA256SUMS");
    let checked = Command::new("sha256sum")
        .arg("--check")
        .arg("--strict")
        .arg("SHA256SUMS")
        .current_dir(bundle)
        .output()
        .expect("sha256sum");
    assert!(checked.status.success(), "{sums}: {checked:?}");
    assert!(sums.contains(".deb") && sums.contains(".rpm"), "{sums}");
}

/// Runs `program` with GnuPG's home in `gnupg`, or fails with what it printed.
fn run_in(gnupg: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .env("GNUPGHOME", gnupg)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[test]
fn a_gpg_key_signs_the_packages_and_the_checksums_verifiably() {
    let work = tempfile::tempdir().expect("a scratch folder");
    let bundle = work.path().join("bundle");
    for kind in ["deb", "rpm"] {
        let source = installer(kind);
        let folder = bundle.join(kind);
        std::fs::create_dir_all(&folder).expect("a bundle folder");
        std::fs::copy(&source, folder.join(source.file_name().expect("a name")))
            .expect("a copy of the installer");
    }
    // A throw-away key in a throw-away GnuPG home: what a CI secret would import.
    let gnupg = work.path().join("gnupg");
    std::fs::create_dir_all(&gnupg).expect("GnuPG's home");
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("GnuPG's home is private");
    run_in(
        &gnupg,
        "gpg",
        &[
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Tessera release test <release-test@tessera.invalid>",
            "rsa2048",
            "sign",
            "never",
        ],
    );
    let listing = run_in(
        &gnupg,
        "gpg",
        &["--batch", "--with-colons", "--list-secret-keys"],
    );
    let fingerprint = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').find(|f| f.len() == 40))
        .expect("the new key's fingerprint")
        .to_owned();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/sign-packages");
    let signed = Command::new(&script)
        .arg(&bundle)
        .env("GNUPGHOME", &gnupg)
        .env("TESSERA_GPG_KEY", &fingerprint)
        .output()
        .expect("scripts/sign-packages");
    assert!(signed.status.success(), "{signed:?}");

    // The checksums: clear-signed by the key, and true of the signed files.
    let asc = bundle.join("SHA256SUMS.asc");
    let verified = run_in(
        &gnupg,
        "gpg",
        &["--batch", "--verify", asc.to_str().expect("UTF-8")],
    );
    assert!(verified.contains("Good signature"), "{verified}");
    let checked = Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(&bundle)
        .output()
        .expect("sha256sum");
    assert!(checked.status.success(), "{checked:?}");

    // The .rpm: rpm trusts the key once imported, and then finds the signature good.
    let rpm = std::fs::read_dir(bundle.join("rpm"))
        .expect("the rpm folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .next()
        .expect("the signed .rpm");
    let rpm_db = work.path().join("rpmdb");
    let db = format!("--dbpath={}", rpm_db.display());
    let key_file = work.path().join("key.asc");
    let exported = run_in(
        &gnupg,
        "gpg",
        &["--batch", "--armor", "--export", &fingerprint],
    );
    std::fs::write(&key_file, exported.trim_end().to_owned() + "\n").expect("the public key");
    run_in(&gnupg, "rpm", &[&db, "--initdb"]);
    run_in(
        &gnupg,
        "rpm",
        &[&db, "--import", key_file.to_str().expect("UTF-8")],
    );
    let rpm_check = run_in(&gnupg, "rpm", &[&db, "-K", rpm.to_str().expect("UTF-8")]);
    assert!(rpm_check.contains("signatures OK"), "{rpm_check}");

    // The .deb: debsigs' origin signature covers debian-binary, control and data, in order.
    let deb = std::fs::read_dir(bundle.join("deb"))
        .expect("the deb folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .next()
        .expect("the signed .deb");
    let deb_path = deb.to_str().expect("UTF-8");
    let members = run("ar", &["t", deb_path]);
    let members: Vec<&str> = members.lines().collect();
    assert!(members.contains(&"_gpgorigin"), "{members:?}");
    let signature = work.path().join("origin.sig");
    let member = |name: &str| {
        Command::new("ar")
            .args(["p", deb_path, name])
            .output()
            .expect("ar")
            .stdout
    };
    std::fs::write(&signature, member("_gpgorigin")).expect("the signature");
    let signed_data = work.path().join("signed-data");
    let mut data = vec![];
    for name in members.iter().filter(|m| **m != "_gpgorigin") {
        data.extend(member(name));
    }
    std::fs::write(&signed_data, data).expect("the signed members");
    let deb_check = run_in(
        &gnupg,
        "gpg",
        &[
            "--batch",
            "--verify",
            signature.to_str().expect("UTF-8"),
            signed_data.to_str().expect("UTF-8"),
        ],
    );
    assert!(deb_check.contains("Good signature"), "{deb_check}");
    let _ = Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", &gnupg)
        .status();
}
