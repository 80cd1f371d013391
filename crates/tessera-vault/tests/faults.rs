//! Faults while the cache is saved: the disk full (simulated at the persistence boundary, where
//! the engine meets it) and a process killed in the middle of writing (for real: a child
//! process writing in a loop, killed with SIGKILL).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tessera_auth::{
    CachePersistence, Config, Event, InteractiveRequest, PersistenceError, PublicClientApplication,
    SaveMerge,
};
use tessera_idp::{IdpOptions, DEFAULT_CLIENT_ID};
use tessera_test_support::ScriptedBrowser;
use tessera_vault::{CacheKey, KeyStore, KeyStoreError, MemoryKeyStore, Vault, CACHE_FILE};

/// The vault, with a switch that makes every save fail as a full disk does.
#[derive(Debug)]
struct DiskThatFills {
    vault: Vault,
    full: AtomicBool,
}

impl CachePersistence for DiskThatFills {
    fn load_if_changed(&self) -> Result<Option<tessera_auth::CacheBlob>, PersistenceError> {
        self.vault.load_if_changed()
    }

    fn save(&self, merge: &mut SaveMerge<'_>) -> Result<(), PersistenceError> {
        if self.full.load(Ordering::SeqCst) {
            let enospc = std::io::Error::from_raw_os_error(28);
            return Err(PersistenceError::Unavailable(format!(
                "{}: {enospc}",
                self.vault.path().display()
            )));
        }
        self.vault.save(merge)
    }
}

fn engine(authority: &str, persistence: Arc<dyn CachePersistence>) -> PublicClientApplication {
    let mut config = Config::new(DEFAULT_CLIENT_ID, authority);
    config.default_scopes = vec!["User.Read".into()];
    PublicClientApplication::builder(config)
        .persistence(persistence)
        .build()
        .unwrap()
}

fn usernames(app: &PublicClientApplication) -> Vec<String> {
    let mut names: Vec<String> = app.accounts().into_iter().map(|a| a.username).collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_full_disk_keeps_the_sign_in_in_memory_and_the_saved_cache_as_it_was() {
    let idp = tessera_idp::start(IdpOptions::default()).await.unwrap();
    let authority = idp.authority().to_string();
    let folder = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::default();
    let disk = Arc::new(DiskThatFills {
        vault: Vault::open(folder.path(), &keys).unwrap(),
        full: AtomicBool::new(false),
    });
    let app = engine(&authority, disk.clone());
    app.acquire_token_interactive(
        InteractiveRequest::default(),
        &ScriptedBrowser::user("ada@tessera.test"),
    )
    .await
    .unwrap();
    let saved = std::fs::read(folder.path().join(CACHE_FILE)).unwrap();

    disk.full.store(true, Ordering::SeqCst);
    let mut events = app.subscribe();
    let alan = app
        .acquire_token_interactive(
            InteractiveRequest::default(),
            &ScriptedBrowser::user("alan@tessera.test"),
        )
        .await;
    assert!(alan.is_ok(), "the sign-in itself succeeds: {alan:?}");
    assert_eq!(usernames(&app), ["ada@tessera.test", "alan@tessera.test"]);
    let why = app.persistence_error().unwrap();
    assert!(why.contains("No space left on device"), "{why}");
    let mut announced = false;
    while let Ok(event) = events.try_recv() {
        announced |= matches!(event, Event::PersistenceFailed { .. });
    }
    assert!(announced, "the UI is told");
    assert_eq!(
        std::fs::read(folder.path().join(CACHE_FILE)).unwrap(),
        saved,
        "the saved cache is untouched"
    );
    let elsewhere = engine(
        &authority,
        Arc::new(Vault::open(folder.path(), &keys).unwrap()),
    );
    assert_eq!(
        usernames(&elsewhere),
        ["ada@tessera.test"],
        "ada is not lost"
    );

    // Space again: the next change saves everything, and the warning goes.
    disk.full.store(false, Ordering::SeqCst);
    let ada = app
        .accounts()
        .into_iter()
        .find(|a| a.username.starts_with("ada"))
        .unwrap();
    app.acquire_token_silent(
        tessera_auth::SilentRequest {
            force_refresh: true,
            ..tessera_auth::SilentRequest::new(ada, vec![])
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(app.persistence_error(), None);
    let later = engine(
        &authority,
        Arc::new(Vault::open(folder.path(), &keys).unwrap()),
    );
    assert_eq!(usernames(&later), ["ada@tessera.test", "alan@tessera.test"]);
}

/// A key store in a file, so that a child process uses the same key.
#[derive(Debug)]
struct KeyFile(PathBuf);

impl KeyStore for KeyFile {
    fn get(&self) -> Result<Option<CacheKey>, KeyStoreError> {
        match std::fs::read_to_string(&self.0) {
            Ok(text) => tessera_vault::decode_key(&text).map(Some),
            Err(_) => Ok(None),
        }
    }

    fn set(&self, key: &CacheKey) -> Result<(), KeyStoreError> {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode(key.as_slice());
        std::fs::write(&self.0, text).map_err(|e| KeyStoreError::Unavailable(e.to_string()))
    }

    fn describe(&self) -> String {
        format!("the file {}", self.0.display())
    }
}

const WRITER: &str = "TESSERA_VAULT_TEST_WRITER";
const BLOB_LEN: usize = 1 << 20;

/// Generation `n`'s blob: 1 MiB, so that a write takes long enough to be interrupted, and
/// self-checking, so that a torn or mixed file is recognised.
fn blob(generation: u64) -> Vec<u8> {
    let mut bytes = generation.to_le_bytes().to_vec();
    bytes.extend((0..BLOB_LEN as u64).map(|i| (i.wrapping_mul(31) ^ generation) as u8));
    bytes
}

fn generation_of(bytes: &[u8]) -> Option<u64> {
    let generation = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    (bytes == blob(generation).as_slice()).then_some(generation)
}

fn leftovers(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// The parent starts a child that saves new generations of the cache in a loop and kills it
/// with SIGKILL sixteen times: half of them while its temporary file exists (inside a write),
/// half at random moments. After each kill the cache must open, decrypt
/// and be one whole generation, never older than one the child had finished.
#[test]
fn a_process_killed_while_writing_leaves_the_previous_cache_whole() {
    if let Ok(folder) = std::env::var(WRITER) {
        let folder = PathBuf::from(folder);
        let vault = Vault::open(&folder, &KeyFile(folder.join("key"))).unwrap();
        let mut generation = match vault.load_if_changed().unwrap() {
            Some(bytes) => generation_of(&bytes).unwrap(),
            None => 0,
        };
        loop {
            generation += 1;
            vault
                .save(&mut |_| Ok(tessera_auth::CacheBlob::new(blob(generation))))
                .unwrap();
            std::fs::write(folder.join("finished"), generation.to_string()).unwrap();
        }
    }
    let folder = tempfile::tempdir().unwrap();
    let keys = KeyFile(folder.path().join("key"));
    let mut rng_state = std::process::id() as u64;
    let mut left_over_seen = 0;
    for round in 0..16 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_process_killed_while_writing_leaves_the_previous_cache_whole",
                "--test-threads=1",
            ])
            .env(WRITER, folder.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it finished at least one write this round, then a random while more.
        let finished_before = finished(folder.path());
        while finished(folder.path()) == finished_before {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the writer died on its own"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        if round % 2 == 0 {
            // Inside a write for certain: as soon as its temporary file exists.
            while leftovers(folder.path()).is_empty() {
                std::thread::yield_now();
            }
        } else {
            rng_state = rng_state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            std::thread::sleep(std::time::Duration::from_millis(5 + (rng_state >> 33) % 60));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let last_finished = finished(folder.path());

        left_over_seen += leftovers(folder.path()).len();
        let vault = Vault::open(folder.path(), &keys).unwrap();
        let bytes = vault
            .load_if_changed()
            .unwrap()
            .unwrap_or_else(|| panic!("round {round}: no cache"));
        let generation = generation_of(&bytes)
            .unwrap_or_else(|| panic!("round {round}: a torn cache of {} bytes", bytes.len()));
        assert!(
            generation >= last_finished,
            "round {round}: generation {generation} is older than the finished {last_finished}"
        );
    }
    // The next save removes what killed writers left behind.
    let vault = Vault::open(folder.path(), &keys).unwrap();
    vault
        .save(&mut |_| Ok(tessera_auth::CacheBlob::new(blob(0))))
        .unwrap();
    assert_eq!(leftovers(folder.path()), Vec::<String>::new());
    assert!(
        left_over_seen >= 1,
        "no kill landed inside a write: the test did not test what it says"
    );
    eprintln!(
        "{left_over_seen} unfinished temporary files were left by killed writers and removed"
    );
}

fn finished(folder: &Path) -> u64 {
    std::fs::read_to_string(folder.join("finished"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}
