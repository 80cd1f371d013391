//! The cache file's mechanics: atomic replacement, the cross-process lock, change detection,
//! and setting an unreadable file aside.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What identifies one version of the file: a writer replaces it by renaming a new file over
/// it, so on Unix the inode alone changes with every write; size and modification time cover
/// other platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

/// The stamp of the file at `path`, `None` when there is no file.
pub(crate) fn stamp(path: &Path) -> std::io::Result<Option<Stamp>> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Ok(Some(Stamp {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        inode,
    }))
}

/// Reads the file and its stamp, `None` when there is no file. The stamp is taken from the
/// open file, so it describes exactly the bytes read even if a writer renames another file
/// over the path meanwhile.
pub(crate) fn read(path: &Path) -> std::io::Result<Option<(Vec<u8>, Stamp)>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let metadata = file.metadata()?;
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    std::io::Read::read_to_end(&mut file, &mut bytes)?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    let stamp = Stamp {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        inode,
    };
    Ok(Some((bytes, stamp)))
}

/// Replaces the file at `path` with `bytes` so that a reader or a crash sees the old file or
/// the new one, never a mixture: a temporary file in the same folder, written, flushed to
/// disk, then renamed over the old one, and the folder flushed so the rename is durable.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<Stamp> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = folder.join(format!(
        ".{name}.{}.{:016x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    let outcome = (|| {
        let mut file = private_options().create_new(true).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        sync_folder(folder)
    })();
    if outcome.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    outcome?;
    stamp(path)?
        .ok_or_else(|| std::io::Error::other("the file vanished right after it was written"))
}

/// Removes the temporary files of writes that never finished (a process killed, or the disk
/// full, between creating its temporary file and renaming it). Call it holding the lock: then no
/// other writer is between those two steps, so every such file is a leftover.
pub(crate) fn remove_unfinished_writes(path: &Path) -> std::io::Result<usize> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let prefix = format!(
        ".{}.",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let mut removed = 0;
    for entry in std::fs::read_dir(folder)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            match std::fs::remove_file(folder.join(&name)) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Moves the file aside, next to it, named after the moment: it is kept for inspection and
/// never read again. Returns the new path.
pub(crate) fn set_aside(path: &Path, why: &str) -> std::io::Result<PathBuf> {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = path.with_file_name(format!(
        "{name}.{why}-{seconds}-{:08x}.bin",
        rand::random::<u32>()
    ));
    std::fs::rename(path, &aside)?;
    Ok(aside)
}

/// Holds the cross-process lock on the cache (an advisory lock on a separate lock file, so
/// the cache file itself can be replaced while it is held) until dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
}

impl Lock {
    /// Waits for the lock. Every reader-modifier-writer of the cache (the app, the CLI)
    /// takes it, so none overwrites another's change unseen.
    pub(crate) fn acquire(lock_path: &Path) -> std::io::Result<Lock> {
        let file = Self::open(lock_path)?;
        file.lock()?;
        Ok(Lock { file })
    }

    /// Takes the lock if nobody holds it, without waiting: `None` when another process (or
    /// another open of the file in this one) holds it.
    pub(crate) fn try_acquire(lock_path: &Path) -> std::io::Result<Option<Lock>> {
        let file = Self::open(lock_path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock { file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn open(lock_path: &Path) -> std::io::Result<File> {
        private_options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Creates the folder readable by its owner only (on Unix), and makes an existing one so:
/// a folder made by an older release, by hand or by another program may let others list it.
pub(crate) fn create_private_folder(folder: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(folder)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(folder)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(folder, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(())
}

/// Files readable and writable by their owner only (on Unix; on Windows the profile folder's
/// ACL already is the user's).
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn sync_folder(folder: &Path) -> std::io::Result<()> {
    // Windows cannot open a folder as a file; its rename is durable on return already.
    #[cfg(unix)]
    File::open(folder)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = folder;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_gets_a_new_stamp_and_no_temporary_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.bin");
        assert_eq!(stamp(&path).unwrap(), None);
        let first = write_atomically(&path, b"one").unwrap();
        let second = write_atomically(&path, b"two").unwrap();
        assert_ne!(first, second);
        let (bytes, read_stamp) = read(&path).unwrap().unwrap();
        assert_eq!((bytes.as_slice(), read_stamp), (&b"two"[..], second));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["cache.bin"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_file_set_aside_keeps_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.bin");
        write_atomically(&path, b"damaged").unwrap();
        let aside = set_aside(&path, "unreadable").unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::read(&aside).unwrap(), b"damaged");
        assert!(aside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("cache.unreadable-"));
    }
}
