//! Where the client gets the keys it signs with: fixed keys, or temporary
//! ones (an instance role, a container role, web identity,
//! `credential_process`) that a `Refresh` fetches again before they expire.
//!
//! Invariants:
//! - keys within `REFRESH_BEFORE` of their expiration are fetched again
//!   before they sign anything; keys past it are never used;
//! - one thread refreshes at a time, and the others wait for its result
//!   rather than asking the source too;
//! - a failed refresh keeps the old keys while they are still valid and is
//!   tried again after `RETRY_AFTER`; once they have expired, it is an error
//!   naming the source;
//! - secrets never appear in `Debug` output.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::{Credentials, Error, Result, redact};

/// How long before their expiration temporary keys are fetched again (the
/// AWS SDKs refresh 5 minutes ahead, too).
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// How long to wait after a failed refresh before trying again, while the
/// old keys still work.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);

/// A source of temporary keys that can be asked again.
pub trait Refresh: Send + Sync {
    /// Fetches fresh keys; the error says what went wrong, in words.
    fn fetch(&self) -> std::result::Result<Credentials, String>;

    /// Where the keys come from, for messages (never a secret).
    fn describe(&self) -> String;
}

/// The keys a client signs with, shared by its threads. Cheap to clone.
#[derive(Clone)]
pub struct Provider(Arc<Inner>);

struct Inner {
    /// `None` for fixed keys.
    refresh: Option<Box<dyn Refresh>>,
    state: Mutex<State>,
}

struct State {
    keys: Credentials,
    /// When the last refresh failed, if the one after it has not succeeded.
    failed_at: Option<Instant>,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("Provider")
            .field("access_key_id", &redact(&state.keys.access_key_id))
            .field("expires", &state.keys.expires)
            .field("refresh", &self.0.refresh.as_ref().map(|r| r.describe()))
            .finish()
    }
}

impl From<Credentials> for Provider {
    fn from(keys: Credentials) -> Self {
        Provider::fixed(keys)
    }
}

impl Provider {
    /// Keys that are used as they are, whatever their expiration says.
    pub fn fixed(keys: Credentials) -> Provider {
        Provider::with(keys, None)
    }

    /// Keys fetched once already (`first`), fetched again from `refresh`
    /// before they expire. Keys without an expiration are never refreshed.
    pub fn refreshing(first: Credentials, refresh: Box<dyn Refresh>) -> Provider {
        Provider::with(first, Some(refresh))
    }

    fn with(keys: Credentials, refresh: Option<Box<dyn Refresh>>) -> Provider {
        Provider(Arc::new(Inner {
            refresh,
            state: Mutex::new(State {
                keys,
                failed_at: None,
            }),
        }))
    }

    /// The keys to sign with now, refreshed first when they expire within
    /// `REFRESH_BEFORE`.
    pub fn current(&self) -> Result<Credentials> {
        self.current_at(SystemTime::now())
    }

    /// `current`, at the time `now` (for tests).
    pub fn current_at(&self, now: SystemTime) -> Result<Credentials> {
        let mut state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(refresh) = &self.0.refresh else {
            return Ok(state.keys.clone());
        };
        let Some(expires) = state.keys.expires else {
            return Ok(state.keys.clone());
        };
        if now + REFRESH_BEFORE < expires {
            return Ok(state.keys.clone());
        }
        let expired = now >= expires;
        if !expired && state.failed_at.is_some_and(|t| t.elapsed() < RETRY_AFTER) {
            return Ok(state.keys.clone());
        }
        match refresh.fetch() {
            Ok(keys) => {
                state.keys = keys;
                state.failed_at = None;
                Ok(state.keys.clone())
            }
            Err(_) if !expired => {
                state.failed_at = Some(Instant::now());
                Ok(state.keys.clone())
            }
            Err(why) => Err(Error::Credentials(format!(
                "the temporary credentials from {} expired and could not be renewed: {why}",
                refresh.describe()
            ))),
        }
    }

    /// Where the keys come from and which key id signs now, for messages.
    pub fn key_id(&self) -> String {
        let state = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        redact(&state.keys.access_key_id)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn keys(id: &str, expires: Option<SystemTime>) -> Credentials {
        Credentials {
            access_key_id: id.into(),
            secret_access_key: format!("{id}-secret"),
            session_token: Some(format!("{id}-token")),
            expires,
        }
    }

    /// Hands out `K1`, `K2`, ... each valid for `valid`, or fails when `fail` is set.
    struct Counter {
        calls: Arc<AtomicU32>,
        valid: Duration,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Refresh for Counter {
        fn fetch(&self) -> std::result::Result<Credentials, String> {
            if self.fail.load(Ordering::SeqCst) {
                return Err("the source is down".into());
            }
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(keys(&format!("K{n}"), Some(SystemTime::now() + self.valid)))
        }
        fn describe(&self) -> String {
            "a counter".into()
        }
    }

    fn counter(
        valid: Duration,
    ) -> (
        Box<Counter>,
        Arc<AtomicU32>,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        let calls = Arc::new(AtomicU32::new(0));
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let c = Counter {
            calls: calls.clone(),
            valid,
            fail: fail.clone(),
        };
        (Box::new(c), calls, fail)
    }

    #[test]
    fn fixed_keys_are_used_as_they_are() {
        let past = SystemTime::now() - Duration::from_secs(60);
        let p = Provider::fixed(keys("AKIAFIXED", Some(past)));
        assert_eq!(p.current().unwrap().access_key_id, "AKIAFIXED");
    }

    #[test]
    fn keys_are_refreshed_ahead_of_their_expiration() {
        let now = SystemTime::now();
        // Each refresh hands out keys valid for two hours.
        let (refresh, calls, _) = counter(Duration::from_secs(7200));
        let p = Provider::refreshing(keys("K0", Some(now + Duration::from_secs(3600))), refresh);
        // Far from expiring: kept.
        assert_eq!(p.current_at(now).unwrap().access_key_id, "K0");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        // Four minutes before: fetched again, once.
        let later = now + Duration::from_secs(3600 - 240);
        assert_eq!(p.current_at(later).unwrap().access_key_id, "K1");
        assert_eq!(p.current_at(later).unwrap().access_key_id, "K1");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Keys without an expiration are never refreshed.
        let (refresh, calls, _) = counter(Duration::from_secs(1));
        let p = Provider::refreshing(keys("K0", None), refresh);
        assert_eq!(p.current().unwrap().access_key_id, "K0");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_failed_refresh_keeps_valid_keys_and_refuses_expired_ones() {
        let now = SystemTime::now();
        let (refresh, calls, fail) = counter(Duration::from_secs(3600));
        fail.store(true, Ordering::SeqCst);
        let p = Provider::refreshing(keys("K0", Some(now + Duration::from_secs(120))), refresh);
        // Still valid for two minutes: the old keys are kept.
        assert_eq!(p.current_at(now).unwrap().access_key_id, "K0");
        // Expired, and the source still fails: an error naming it.
        let e = p
            .current_at(now + Duration::from_secs(121))
            .unwrap_err()
            .to_string();
        assert!(e.contains("from a counter expired"), "{e}");
        assert!(e.contains("the source is down"), "{e}");
        assert!(!e.contains("K0-secret"), "{e}");
        // The source is back: the next use renews them.
        fail.store(false, Ordering::SeqCst);
        assert_eq!(
            p.current_at(now + Duration::from_secs(122))
                .unwrap()
                .access_key_id,
            "K1"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn threads_share_one_refresh() {
        let now = SystemTime::now();
        let (refresh, calls, _) = counter(Duration::from_secs(3600));
        let p = Provider::refreshing(keys("K0", Some(now + Duration::from_secs(60))), refresh);
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| p.current().unwrap().access_key_id))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| id == "K1"), "{ids:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("token"),
            "{shown}"
        );
    }
}
