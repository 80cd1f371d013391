//! One network call for many concurrent callers with the same key: the first caller's future
//! runs, the others wait for it, and all receive its result, success or error (AppAuth's
//! pending-actions queue; MSAL deduplicates the same way).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, FutureExt, Shared};

/// A call in flight, shared by its waiters, with the generation that started it.
type InFlight<T> = (u64, Shared<BoxFuture<'static, T>>);

/// Calls in flight, by key.
pub(crate) struct SingleFlight<T: Clone> {
    in_flight: Mutex<HashMap<String, InFlight<T>>>,
    generation: AtomicU64,
}

impl<T: Clone> std::fmt::Debug for SingleFlight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.in_flight.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("SingleFlight")
            .field("in_flight", &count)
            .finish()
    }
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            in_flight: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// Runs `start()` unless a call with `key` is already in flight, and returns its result.
    pub async fn run<F>(&self, key: &str, start: impl FnOnce() -> F) -> T
    where
        F: Future<Output = T> + Send + 'static,
    {
        let (generation, shared) = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            match in_flight.get(key) {
                Some((generation, shared)) => (*generation, shared.clone()),
                None => {
                    let generation = self.generation.fetch_add(1, Ordering::Relaxed);
                    let shared = start().boxed().shared();
                    in_flight.insert(key.to_owned(), (generation, shared.clone()));
                    (generation, shared)
                }
            }
        };
        let result = shared.await;
        // Whoever finishes first removes the entry (the starter may have been cancelled), so
        // the next call after this one goes to the network again.
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if in_flight.get(key).is_some_and(|(g, _)| *g == generation) {
            in_flight.remove(key);
        }
        result
    }
}

/// One call at a time per key, for calls that borrow what they need (the silent agent), so
/// that they cannot be shared as a `'static` future: a caller that waited while another call
/// with the same key finished gets that call's result instead of making its own.
pub(crate) struct OneAtATime<T: Clone> {
    slots: Mutex<HashMap<String, Arc<Slot<T>>>>,
}

struct Slot<T> {
    /// Bumped each time a call finishes.
    finished: AtomicU64,
    last: tokio::sync::Mutex<Option<T>>,
}

impl<T: Clone> std::fmt::Debug for OneAtATime<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneAtATime").finish_non_exhaustive()
    }
}

impl<T: Clone> Default for OneAtATime<T> {
    fn default() -> Self {
        OneAtATime {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> OneAtATime<T> {
    /// Runs `call()` unless another call with `key` finished while this one waited its turn.
    pub async fn run<F>(&self, key: &str, call: impl FnOnce() -> F) -> T
    where
        F: Future<Output = T>,
    {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_insert_with(|| {
                Arc::new(Slot {
                    finished: AtomicU64::new(0),
                    last: tokio::sync::Mutex::new(None),
                })
            })
            .clone();
        let seen = slot.finished.load(Ordering::SeqCst);
        let mut last = slot.last.lock().await;
        if slot.finished.load(Ordering::SeqCst) != seen {
            if let Some(outcome) = last.as_ref() {
                return outcome.clone();
            }
        }
        let outcome = call().await;
        *last = Some(outcome.clone());
        slot.finished.fetch_add(1, Ordering::SeqCst);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[tokio::test]
    async fn concurrent_callers_share_one_call_and_later_ones_start_another() {
        let flight = Arc::new(SingleFlight::<Result<u32, String>>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let callers = (0..100).map(|_| {
            let flight = flight.clone();
            let calls = calls.clone();
            async move {
                flight
                    .run("k", move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Err::<u32, String>("boom".into())
                    })
                    .await
            }
        });
        let results = futures_util::future::join_all(callers).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one call for 100 callers");
        assert!(
            results.iter().all(|r| r == &Err("boom".to_owned())),
            "all get the error"
        );
        let again = flight.run("k", || async { Ok(7) }).await;
        assert_eq!(again, Ok(7), "a finished call is not reused");
    }

    #[tokio::test]
    async fn one_at_a_time_hands_a_finished_result_to_those_who_waited() {
        let gate = Arc::new(OneAtATime::<u32>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let callers = (0..20).map(|_| {
            let gate = gate.clone();
            let calls = calls.clone();
            async move {
                gate.run("k", || async {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    calls.fetch_add(1, Ordering::SeqCst) as u32
                })
                .await
            }
        });
        let results = futures_util::future::join_all(callers).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the waiters reused the first result"
        );
        assert!(results.iter().all(|r| *r == 0));
        let later = gate.run("k", || async { 9 }).await;
        assert_eq!(later, 9, "a call that did not wait makes its own");
    }
}
