//! The cache and its persistence layer: replace before read, export after write (MSAL Go's
//! `ExportReplace`), a failure remembered for a UI that starts later.

use super::PublicClientApplication;
use crate::event::Event;
use crate::persistence::PersistenceError;

impl PublicClientApplication {
    /// Replaces the cache from the persistence layer if another process changed it.
    pub(super) fn reload(&self) {
        let Some(persistence) = &self.inner.persistence else {
            return;
        };
        let outcome = persistence.load_if_changed().and_then(|blob| match blob {
            Some(blob) => self.inner.cache.merge_stored(&blob).map_err(Into::into),
            None => Ok(()),
        });
        let outcome = match outcome {
            // Unreadable: kept aside, and this process carries on signed out (or with what it
            // had) instead of refusing every save.
            Err(PersistenceError::Cache(error)) => {
                let kept = match persistence.set_aside() {
                    Ok(Some(place)) => format!(" (kept as {place})"),
                    Ok(None) => String::new(),
                    Err(why) => format!(" (could not be set aside: {why})"),
                };
                Err(PersistenceError::Unreadable(format!("{error}{kept}")))
            }
            other => other,
        };
        self.record_persistence("load", outcome.err());
    }

    /// Remembers and announces a persistence failure; a success clears the last one.
    fn record_persistence(&self, operation: &str, error: Option<PersistenceError>) {
        let mut last = self
            .inner
            .persistence_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match error {
            None if operation == "save" => *last = None,
            None => {}
            Some(error) => {
                *last = Some(format!("{operation}: {error}"));
                drop(last);
                self.emit(Event::PersistenceFailed {
                    operation: operation.into(),
                    message: error.to_string(),
                });
            }
        }
    }

    /// The last failure to load or save the persisted cache, until a save succeeds: a UI that
    /// starts after the fact can still warn that tokens are kept in memory only.
    pub fn persistence_error(&self) -> Option<String> {
        self.inner
            .persistence_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Exports the cache to the persistence layer after a change, merged with what another
    /// process stored meanwhile and without the access tokens that have expired, so the cache
    /// stays the size of what it holds.
    pub(super) fn persist(&self) {
        let now = self.inner.clock.now();
        let cache = &self.inner.cache;
        let Some(persistence) = &self.inner.persistence else {
            cache.drop_expired(now);
            return;
        };
        let mut written = None;
        let outcome = persistence.save(&mut |stored| {
            if let Some(stored) = stored {
                cache.merge_stored(&stored)?;
            }
            let (blob, snapshot) = cache.snapshot(now);
            written = Some(snapshot);
            Ok(crate::persistence::CacheBlob::new(blob))
        });
        if let (Ok(()), Some(snapshot)) = (&outcome, written) {
            cache.mark_saved(snapshot);
        }
        self.record_persistence("save", outcome.err());
    }
}
