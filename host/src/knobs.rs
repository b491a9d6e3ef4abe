//! Process-wide knobs set once from the command line: `--checkers` (how
//! many listings, metadata and header reads run at once) and `--bwlimit`
//! (one token bucket that every upload and download of the run shares),
//! with the parsers of their values (rclone's size syntax).
//!
//! Invariants: the limiter never lets the bytes it passed exceed the rate
//! times the time elapsed plus one second's burst; with no limit set,
//! `throttle` costs one atomic load.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A bandwidth limit, in bytes per second; `None` is `off`.
pub type Rate = Option<u64>;

/// The default of `--checkers`, as rclone's.
pub const DEFAULT_CHECKERS: usize = 8;

static CHECKERS: AtomicUsize = AtomicUsize::new(DEFAULT_CHECKERS);
static LIMITER: OnceLock<Limiter<Wall>> = OnceLock::new();

/// Sets `--checkers` for this run.
pub fn set_checkers(n: usize) {
    CHECKERS.store(n.max(1), Ordering::Relaxed);
}

/// How many listings, metadata and header reads to run at once.
pub fn checkers() -> usize {
    CHECKERS.load(Ordering::Relaxed)
}

/// Sets `--bwlimit` for this run (once; `None` leaves transfers unlimited).
pub fn set_bwlimit(rate: Rate) {
    if let Some(rate) = rate {
        let _ = LIMITER.set(Limiter::new(rate, Wall));
    }
}

/// True when `--bwlimit` set a limit.
pub fn limited() -> bool {
    LIMITER.get().is_some()
}

/// Accounts `n` bytes just sent or received, sleeping as long as the
/// shared limit requires; returns at once without a limit.
pub fn throttle(n: usize) {
    if let Some(l) = LIMITER.get() {
        l.take(n as u64);
    }
}

/// Parses rclone's size syntax: a number (decimals allowed) with an
/// optional suffix B, K, M, G or T (base 1024; `k` and `K` alike); no
/// suffix means KiB, as in rclone's `--bwlimit` and `--log-file-max-size`.
fn parse_kib(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "{s:?} is not a size: give a number with an optional suffix B, K, M or G (base 1024), e.g. 10M or 512k"
        )
    };
    let t = s.trim();
    let (num, unit): (&str, u64) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = match t[i..].to_ascii_lowercase().as_str() {
                "b" => 1,
                "k" | "kb" | "kib" => 1 << 10,
                "m" | "mb" | "mib" => 1 << 20,
                "g" | "gb" | "gib" => 1 << 30,
                "t" | "tb" | "tib" => 1 << 40,
                _ => return Err(bad()),
            };
            (&t[..i], unit)
        }
        None => (t, 1 << 10),
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !v.is_finite() || v < 0.0 {
        return Err(bad());
    }
    let bytes = v * unit as f64;
    if bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Parses a size (`--log-file-max-size`): `5M`, `512k`, `1G`, `100B`; KiB
/// without a suffix, as rclone's sizes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    match parse_kib(s)? {
        0 => Err(format!("{s:?} is zero: give a size such as 5M")),
        n => Ok(n),
    }
}

/// Parses `--bwlimit`: `off` (or 0), or bytes per second as rclone writes
/// them (`10M`, `512k`, `1.5M`; a bare number is KiB/s, as in rclone).
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match parse_kib(s)? {
        0 => Ok(None),
        n => Ok(Some(n)),
    }
}

/// Time as the limiter sees it: the wall clock, or a fake one in tests.
pub trait Clock: Send + Sync {
    /// Time since some fixed start.
    fn now(&self) -> Duration;
    /// Waits until `now()` reaches `t`.
    fn sleep_until(&self, t: Duration);
}

/// The real clock.
#[derive(Debug)]
pub struct Wall;

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

impl Clock for Wall {
    fn now(&self) -> Duration {
        start().elapsed()
    }
    fn sleep_until(&self, t: Duration) {
        std::thread::sleep(t.saturating_sub(self.now()));
    }
}

/// A token bucket: `rate` bytes per second, at most one second's worth
/// saved up. A taker that finds too few tokens takes them anyway (the
/// bucket goes into debt) and sleeps until the debt would be paid, so
/// takers are served in the order they came and none starves.
#[derive(Debug)]
pub struct Limiter<C: Clock> {
    /// Bytes per second.
    rate: u64,
    /// The clock.
    clock: C,
    /// Tokens (bytes; negative: debt) as of `at`.
    state: Mutex<(f64, Duration)>,
}

impl<C: Clock> Limiter<C> {
    /// A full bucket for `rate` bytes per second.
    pub fn new(rate: u64, clock: C) -> Self {
        let at = clock.now();
        Limiter {
            rate: rate.max(1),
            clock,
            state: Mutex::new((rate as f64, at)),
        }
    }

    /// Takes `n` bytes' worth of tokens, sleeping as long as needed.
    pub fn take(&self, n: u64) {
        let until = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = self.clock.now();
            let rate = self.rate as f64;
            let refill = now.saturating_sub(s.1).as_secs_f64() * rate;
            s.0 = (s.0 + refill).min(rate) - n as f64;
            s.1 = now;
            // In debt, wait until the refill would have paid it.
            (s.0 < 0.0).then(|| now + Duration::from_secs_f64(-s.0 / rate))
        };
        if let Some(t) = until {
            self.clock.sleep_until(t);
        }
    }
}

/// A reader or writer whose bytes count against `--bwlimit`.
#[derive(Debug)]
pub struct Throttled<T>(pub T);

impl<R: Read> Read for Throttled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        throttle(n);
        Ok(n)
    }
}

impl<W: Write> Write for Throttled<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        throttle(n);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::{Clock, Limiter, parse_rate, parse_size};

    #[test]
    fn rates_parse_as_rclone_writes_them() {
        assert_eq!(parse_rate("10M"), Ok(Some(10 << 20)));
        assert_eq!(parse_rate("512k"), Ok(Some(512 << 10)));
        assert_eq!(parse_rate("512K"), Ok(Some(512 << 10)));
        assert_eq!(parse_rate("1G"), Ok(Some(1 << 30)));
        assert_eq!(parse_rate("100B"), Ok(Some(100)));
        assert_eq!(parse_rate("1.5M"), Ok(Some(3 << 19)));
        // A bare number is KiB/s, as in rclone.
        assert_eq!(parse_rate("64"), Ok(Some(64 << 10)));
        assert_eq!(parse_rate("off"), Ok(None));
        assert_eq!(parse_rate("OFF"), Ok(None));
        assert_eq!(parse_rate("0"), Ok(None));
        for bad in ["", "fast", "10X", "-1M", "M", "10 MB/s", "1e400"] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.contains("is not a size"), "{bad}: {err}");
        }
        assert_eq!(parse_size("5M"), Ok(5 << 20));
        // A bare size is KiB too, as rclone's `--log-file-max-size`.
        assert_eq!(parse_size("100"), Ok(100 << 10));
        assert_eq!(parse_size("100B"), Ok(100));
        assert!(parse_size("0").unwrap_err().contains("is zero"));
    }

    /// A clock that moves only when the limiter sleeps (or the test says):
    /// a sleep until `t` moves it to `t` unless it is already later, as
    /// threads sleeping side by side would see it.
    #[derive(Clone, Default)]
    struct Fake(Arc<Mutex<Duration>>);

    impl Clock for Fake {
        fn now(&self) -> Duration {
            *self.0.lock().unwrap()
        }
        fn sleep_until(&self, t: Duration) {
            let mut now = self.0.lock().unwrap();
            *now = (*now).max(t);
        }
    }

    impl Fake {
        fn secs(&self) -> f64 {
            self.now().as_secs_f64()
        }
    }

    #[test]
    fn the_limiter_passes_rate_bytes_a_second_after_one_seconds_burst() {
        let clock = Fake::default();
        let l = Limiter::new(1000, clock.clone());
        // The first second's worth passes at once.
        l.take(600);
        l.take(400);
        assert_eq!(clock.secs(), 0.0);
        // Then 5,000 bytes in chunks take five seconds, whatever the chunks.
        for n in [1, 999, 2000, 500, 1500] {
            l.take(n);
        }
        assert!((clock.secs() - 5.0).abs() < 1e-6, "{}", clock.secs());
        // Time that passes without transfers refills at most one second.
        *clock.0.lock().unwrap() += Duration::from_secs(60);
        let t = clock.secs();
        l.take(1000);
        assert!((clock.secs() - t).abs() < 1e-6);
        l.take(3000);
        assert!(
            (clock.secs() - t - 3.0).abs() < 1e-6,
            "{}",
            clock.secs() - t
        );
    }

    #[test]
    fn takers_share_one_bucket() {
        // Four threads taking 10,000 bytes each at 8,000 bytes a second:
        // 40,000 bytes, 8,000 of them the first second's burst, so the fake
        // clock ends four seconds on, however the takes interleave.
        let clock = Fake::default();
        let l = Arc::new(Limiter::new(8000, clock.clone()));
        std::thread::scope(|s| {
            for _ in 0..4 {
                let l = l.clone();
                s.spawn(move || {
                    for _ in 0..10 {
                        l.take(1000);
                    }
                });
            }
        });
        assert!((clock.secs() - 4.0).abs() < 1e-6, "{}", clock.secs());
    }
}
