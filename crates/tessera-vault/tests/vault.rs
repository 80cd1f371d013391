//! The vault under the engine, in one process with a key store in memory: restarts, damaged
//! files, a deleted key, no keyring, and concurrent writers. The same scenarios against the
//! real Secret Service, across processes, are in `tests/tests/vault.rs`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tessera_auth::{
    AuthenticationResult, Config, InteractiveRequest, PublicClientApplication, SilentRequest,
    TokenSource,
};
use tessera_idp::{IdpOptions, RunningIdp, DEFAULT_CLIENT_ID};
use tessera_test_support::ScriptedBrowser;
use tessera_vault::{KeyStore, MemoryKeyStore, Vault, VaultError, CACHE_FILE};

async fn idp() -> RunningIdp {
    tessera_idp::start(IdpOptions::default()).await.unwrap()
}

fn engine(idp: &RunningIdp, vault: Arc<Vault>) -> PublicClientApplication {
    let mut config = Config::new(DEFAULT_CLIENT_ID, idp.authority().as_str());
    config.default_scopes = vec!["User.Read".into()];
    PublicClientApplication::builder(config)
        .persistence(vault)
        .build()
        .unwrap()
}

/// One "process": an engine on the vault in `folder`.
fn app(
    idp: &RunningIdp,
    folder: &Path,
    keys: &dyn KeyStore,
) -> (PublicClientApplication, Arc<Vault>) {
    let vault = Arc::new(Vault::open(folder, keys).unwrap());
    (engine(idp, vault.clone()), vault)
}

async fn sign_in(app: &PublicClientApplication, user: &str) -> AuthenticationResult {
    app.acquire_token_interactive(InteractiveRequest::default(), &ScriptedBrowser::user(user))
        .await
        .unwrap()
}

fn usernames(app: &PublicClientApplication) -> Vec<String> {
    let mut names: Vec<String> = app.accounts().into_iter().map(|a| a.username).collect();
    names.sort();
    names
}

fn files(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_restarted_process_is_signed_in_without_asking_the_provider_again() {
    let idp = idp().await;
    let folder = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    let first = {
        let (app, _) = app(&idp, folder.path(), &keys);
        sign_in(&app, "ada@tessera.test").await
    };
    let bytes = std::fs::read(folder.path().join(CACHE_FILE)).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains(first.access_token.secret()) && !text.contains("ada@tessera.test"),
        "the file is encrypted"
    );
    let authorize = idp.stat("authorize").await.unwrap();

    let (again, vault) = app(&idp, folder.path(), &keys);
    assert_eq!(usernames(&again), ["ada@tessera.test"]);
    let account = again.accounts().remove(0);
    let silent = again
        .acquire_token_silent(SilentRequest::new(account, vec![]), None)
        .await
        .unwrap();
    assert_eq!(
        (silent.source, &silent.access_token),
        (TokenSource::Cache, &first.access_token)
    );
    assert_eq!(idp.stat("authorize").await.unwrap(), authorize);
    assert_eq!((vault.notice(), again.persistence_error()), (None, None));
}

#[tokio::test]
async fn a_damaged_file_is_set_aside_and_the_user_starts_signed_out() {
    let idp = idp().await;
    let folder = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    {
        let (app, _) = app(&idp, folder.path(), &keys);
        sign_in(&app, "ada@tessera.test").await;
    }
    let path = folder.path().join(CACHE_FILE);
    let mut damaged = std::fs::read(&path).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    std::fs::write(&path, &damaged).unwrap();

    let (app, vault) = app(&idp, folder.path(), &keys);
    assert!(app.accounts().is_empty());
    let why = app.persistence_error().unwrap();
    assert!(
        why.contains("could not be decrypted") && why.contains("kept as"),
        "{why}"
    );
    assert_eq!(
        vault.notice().as_deref(),
        Some(why.trim_start_matches("load: "))
    );
    let aside: Vec<String> = files(folder.path())
        .into_iter()
        .filter(|n| n.starts_with("token-cache.unreadable-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(folder.path().join(&aside[0])).unwrap(),
        damaged,
        "kept as it was"
    );

    // Signing in again works and is saved.
    sign_in(&app, "alan@tessera.test").await;
    let (after, _) = self::app(&idp, folder.path(), &keys);
    assert_eq!(usernames(&after), ["alan@tessera.test"]);
}

#[tokio::test]
async fn a_deleted_key_sets_the_file_aside_and_a_new_key_is_made() {
    let idp = idp().await;
    let folder = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    {
        let (app, _) = app(&idp, folder.path(), &keys);
        sign_in(&app, "ada@tessera.test").await;
    }
    let old_key = keys.get().unwrap().unwrap();
    keys.delete();

    let (app, vault) = app(&idp, folder.path(), &keys);
    assert!(app.accounts().is_empty());
    let notice = vault.notice().unwrap();
    assert!(
        notice.contains("missing from a key store in memory") && notice.contains("kept as"),
        "{notice}"
    );
    assert!(files(folder.path())
        .iter()
        .any(|n| n.starts_with("token-cache.no-key-")));
    let new_key = keys.get().unwrap().unwrap();
    assert_ne!(*new_key, *old_key);
    sign_in(&app, "ada@tessera.test").await;
    assert_eq!(
        usernames(&self::app(&idp, folder.path(), &keys).0),
        ["ada@tessera.test"]
    );
}

#[tokio::test]
async fn without_a_keyring_the_vault_does_not_open_and_nothing_is_written() {
    let folder = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    keys.unavailable.store(true, Ordering::SeqCst);
    match Vault::open(folder.path(), &keys) {
        Err(VaultError::KeyringUnavailable(why)) => assert!(
            why.to_string().starts_with("no OS keyring is available"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(!folder.path().join(CACHE_FILE).exists());
}

#[tokio::test]
async fn the_plaintext_cache_is_a_separate_file_used_only_when_asked_for() {
    let idp = idp().await;
    let folder = tempfile::tempdir().unwrap();
    let vault = Arc::new(Vault::open_plaintext(folder.path()).unwrap());
    assert!(!vault.is_encrypted());
    let app = engine(&idp, vault);
    sign_in(&app, "ada@tessera.test").await;
    assert!(!folder.path().join(CACHE_FILE).exists());
    let text =
        std::fs::read_to_string(folder.path().join(tessera_vault::PLAINTEXT_CACHE_FILE)).unwrap();
    assert!(text.contains("ada@tessera.test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_in_parallel_lose_no_account() {
    let idp = idp().await;
    let folder = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    let users = ["ada@tessera.test", "alan@tessera.test"];
    // Each round, both sign-ins are slow at the token endpoint, so they are in flight
    // together and both save onto the same starting point.
    for round in 0..5 {
        for _ in users {
            idp.control(
                reqwest::Method::POST,
                "faults",
                serde_json::json!({ "target": "token", "kind": "delay", "millis": 200 }),
            )
            .await
            .unwrap();
        }
        let processes: Vec<_> = users
            .iter()
            .map(|_| app(&idp, folder.path(), &keys).0)
            .collect();
        for process in &processes {
            for account in process.accounts() {
                process.remove_account(&account).unwrap();
            }
        }
        let sign_ins = processes
            .iter()
            .zip(users)
            .map(|(app, user)| sign_in(app, user));
        futures_util::future::join_all(sign_ins).await;
        assert_eq!(
            usernames(&app(&idp, folder.path(), &keys).0),
            users,
            "round {round}"
        );
    }
    assert_eq!(
        files(folder.path()),
        [CACHE_FILE, "token-cache.lock"],
        "no temporary file left"
    );
}

/// The save protocol itself, with raw blobs: a writer is handed what another process stored
/// since it last looked, and waits for the lock while another writer holds it.
#[test]
fn a_writer_sees_what_another_stored_and_waits_for_its_lock() {
    use tessera_auth::CachePersistence;
    let folder = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    let a = Vault::open(folder.path(), &keys).unwrap();
    let b = Arc::new(Vault::open(folder.path(), &keys).unwrap());
    let save = |vault: &Vault, expect: Option<&[u8]>, write: &[u8]| {
        vault
            .save(&mut |stored| {
                assert_eq!(stored.as_ref().map(|s| s.as_slice()), expect);
                Ok(tessera_auth::CacheBlob::new(write.to_vec()))
            })
            .unwrap()
    };
    save(&a, None, b"A");
    save(&b, Some(b"A"), b"AB");
    assert_eq!(b.load_if_changed().unwrap(), None, "B wrote it");
    save(&a, Some(b"AB"), b"ABA");
    save(&a, None, b"ABAA");
    assert_eq!(
        b.load_if_changed().unwrap().as_ref().map(|s| s.as_slice()),
        Some(&b"ABAA"[..])
    );
    assert_eq!(b.load_if_changed().unwrap(), None);

    // A holds the lock for a while; B, starting meanwhile, gets A's result.
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let writer_b = std::thread::spawn({
        let b = b.clone();
        move || {
            started_rx.recv().unwrap();
            b.save(&mut |stored| {
                assert_eq!(stored.as_ref().map(|s| s.as_slice()), Some(&b"slow A"[..]));
                Ok(tessera_auth::CacheBlob::new(b"slow A, then B".to_vec()))
            })
            .unwrap()
        }
    });
    a.save(&mut |_| {
        started_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(tessera_auth::CacheBlob::new(b"slow A".to_vec()))
    })
    .unwrap();
    writer_b.join().unwrap();
    assert_eq!(
        a.load_if_changed().unwrap().as_ref().map(|s| s.as_slice()),
        Some(&b"slow A, then B"[..])
    );
}

// Issue 21, point 6: after one --insecure-plaintext-cache run, later runs with a keyring said
// "encrypted" while the refresh tokens stayed in clear in token-cache.plaintext.json.
#[tokio::test]
async fn a_plaintext_cache_left_by_an_earlier_run_moves_into_the_vault_and_is_deleted() {
    let idp = idp().await;
    let folder = tempfile::tempdir().unwrap();
    let plaintext = folder.path().join(tessera_vault::PLAINTEXT_CACHE_FILE);
    {
        let plain = engine(
            &idp,
            Arc::new(Vault::open_plaintext(folder.path()).unwrap()),
        );
        sign_in(&plain, "ada@tessera.test").await;
    }
    assert!(plaintext.exists());
    let keys = MemoryKeyStore::default();
    let (moved, vault) = app(&idp, folder.path(), &keys);
    assert!(!plaintext.exists(), "the unencrypted file is gone");
    let notice = vault.notice().expect("the user is told");
    assert!(
        notice.contains("moved into the encrypted cache"),
        "{notice}"
    );
    let sealed = std::fs::read(folder.path().join(CACHE_FILE)).unwrap();
    assert!(
        !String::from_utf8_lossy(&sealed).contains("ada@tessera.test"),
        "encrypted"
    );
    assert_eq!(usernames(&moved), ["ada@tessera.test"], "nothing lost");
    let account = moved.accounts().remove(0);
    let silent = moved
        .acquire_token_silent(SilentRequest::new(account, vec![]), None)
        .await
        .unwrap();
    assert_eq!(silent.source, TokenSource::Cache);

    // Beside an encrypted cache it cannot be merged into, it is deleted all the same.
    {
        let plain = engine(
            &idp,
            Arc::new(Vault::open_plaintext(folder.path()).unwrap()),
        );
        sign_in(&plain, "alan@tessera.test").await;
    }
    let (again, vault) = app(&idp, folder.path(), &keys);
    assert!(!plaintext.exists());
    assert!(vault.notice().unwrap().contains("sign in again"));
    assert_eq!(usernames(&again), ["ada@tessera.test"]);
}

#[cfg(unix)]
#[test]
fn an_existing_cache_folder_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let folder = parent.path().join("cache");
    std::fs::create_dir(&folder).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _vault = Vault::open(&folder, &MemoryKeyStore::default()).unwrap();
    let mode = std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{mode:o}");
}
