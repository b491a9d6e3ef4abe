//! One bound on the bytes of upload parts held in memory, for the whole
//! process: every multipart upload of every transfer takes its part buffers
//! from it, so memory does not grow with `--transfers` times the parts each
//! file sends at once. The buffers are kept and reused rather than freed
//! and allocated again for every part (docs/BENCHMARKS.md, "Memory").
//!
//! Invariants:
//! - the bytes of all leased and kept buffers never exceed the budget,
//!   except that a part larger than the whole budget (a configured
//!   `chunk_size` above it) is allowed alone;
//! - a lease is given back when dropped, so an error or a panic in a sender
//!   frees its bytes;
//! - a lease is taken once per part and held until the part was sent; no
//!   one holding a lease waits for another, so the budget cannot deadlock.
//!   A holder that keeps one buffer while it fills others (a sealed
//!   upload's part 1, sent last) takes them all at once (`take_all`), and
//!   further ones only when they are free now (`try_take`).

use std::sync::{Condvar, Mutex, OnceLock};

/// The bytes of upload parts in memory at once, over all transfers: four of
/// S3's smallest parts (5 MiB, rclone's and poof's default), as many as one
/// file sends at once (docs/BENCHMARKS.md, "Memory").
pub const PART_BUFFERS: u64 = 20 * 1024 * 1024;

/// A byte budget shared by threads, with the buffers it lent kept for reuse.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    state: Mutex<State>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes counted against the budget by live leases.
    leased: u64,
    /// Buffers given back, for the next leases.
    kept: Vec<Vec<u8>>,
}

impl State {
    fn kept_bytes(&self) -> u64 {
        self.kept.iter().map(|b| b.capacity() as u64).sum()
    }
}

/// Bytes taken from a [`Budget`], with a buffer of that many bytes; given
/// back (buffer included) on drop.
#[derive(Debug)]
pub struct Lease {
    budget: &'static Budget,
    counted: u64,
    buf: Option<Vec<u8>>,
}

impl Budget {
    /// A budget of `limit` bytes (at least 1).
    pub const fn new(limit: u64) -> Self {
        Budget {
            limit: if limit == 0 { 1 } else { limit },
            state: Mutex::new(State {
                leased: 0,
                kept: Vec::new(),
            }),
            freed: Condvar::new(),
        }
    }

    /// The process's budget for upload parts.
    pub fn parts() -> &'static Budget {
        static PARTS: OnceLock<Budget> = OnceLock::new();
        PARTS.get_or_init(|| Budget::new(PART_BUFFERS))
    }

    /// Takes a buffer of `bytes` bytes: a kept one when one is large enough
    /// (always possible: it is already counted), else a new one once its
    /// bytes fit beside the other leases (or, for more than the whole
    /// budget, once nothing else is leased), dropping kept buffers as
    /// needed. A lease counts its buffer's whole capacity.
    pub fn take(&'static self, bytes: u64) -> Lease {
        self.take_all(&[bytes])
            .pop()
            .expect("one lease for one size")
    }

    /// Takes buffers of all of `sizes` at once, once they fit together
    /// beside the other leases (or, when they are more than the whole
    /// budget, once nothing else is leased): for a holder that keeps one
    /// buffer while it fills the others, which then never waits for the
    /// budget while it holds a lease.
    pub fn take_all(&'static self, sizes: &[u64]) -> Vec<Lease> {
        let total: u64 = sizes.iter().sum();
        let mut state = self.state.lock().expect("no panics while locked");
        if total > self.limit {
            while state.leased > 0 {
                state = self.freed.wait(state).expect("no panics while locked");
            }
            state.kept.clear();
        } else {
            while state.leased + total > self.limit {
                state = self.freed.wait(state).expect("no panics while locked");
            }
        }
        let mut rest = total;
        let leases = sizes
            .iter()
            .map(|&bytes| {
                rest -= bytes;
                self.lend(&mut state, bytes, rest)
            })
            .collect();
        drop(state);
        leases
    }

    /// Takes a buffer of `bytes` bytes only when that needs no waiting.
    pub fn try_take(&'static self, bytes: u64) -> Option<Lease> {
        let mut state = self.state.lock().expect("no panics while locked");
        let fits = state.leased + bytes <= self.limit;
        fits.then(|| self.lend(&mut state, bytes, 0))
    }

    /// Lends `bytes` while `state.leased + bytes + rest` fits (`rest`: what
    /// the same holder takes next), reusing a kept buffer that leaves room
    /// for `rest`, else a new one, dropping kept buffers as needed.
    fn lend(&'static self, state: &mut State, bytes: u64, rest: u64) -> Lease {
        let len = bytes as usize;
        let leased = state.leased;
        let reuse = state
            .kept
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                b.capacity() >= len && leased + b.capacity() as u64 + rest <= self.limit
            })
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        let (mut buf, counted) = match reuse {
            Some(i) => {
                let buf = state.kept.swap_remove(i);
                let counted = (buf.capacity() as u64).min(self.limit);
                (buf, counted)
            }
            None => {
                let counted = bytes.min(self.limit);
                while !state.kept.is_empty()
                    && state.leased + counted + state.kept_bytes() > self.limit
                {
                    state.kept.pop();
                }
                (Vec::new(), counted)
            }
        };
        state.leased += counted;
        buf.clear();
        buf.resize(len, 0);
        Lease {
            budget: self,
            counted,
            buf: Some(buf),
        }
    }

    /// The bytes leased now, and the bytes kept.
    #[cfg(test)]
    fn held(&self) -> (u64, u64) {
        let state = self.state.lock().expect("no panics while locked");
        (state.leased, state.kept_bytes())
    }
}

impl Lease {
    /// The lease's buffer, `bytes` long, to fill and send; give it back with
    /// [`Lease::give_back`] once sent, or it is not reused.
    pub fn buffer(&mut self) -> Vec<u8> {
        self.buf.take().unwrap_or_default()
    }

    /// Gives the buffer back for reuse.
    pub fn give_back(&mut self, buf: Vec<u8>) {
        self.buf = Some(buf);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = self.budget.state.lock().expect("no panics while locked");
        state.leased -= self.counted;
        if let Some(buf) = self.buf.take()
            && buf.capacity() as u64 <= self.budget.limit
            && state.leased + state.kept_bytes() + buf.capacity() as u64 <= self.budget.limit
        {
            state.kept.push(buf);
        }
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn leaked(limit: u64) -> &'static Budget {
        Box::leak(Box::new(Budget::new(limit)))
    }

    #[test]
    fn holders_never_exceed_the_budget_and_buffers_are_reused() {
        let budget = leaked(10);
        let peak = AtomicU64::new(0);
        let held = AtomicU64::new(0);
        std::thread::scope(|s| {
            for i in 0..8u64 {
                let (peak, held) = (&peak, &held);
                s.spawn(move || {
                    for round in 0..200u64 {
                        let n = 1 + (i + round) % 4;
                        let mut lease = budget.take(n);
                        let buf = lease.buffer();
                        assert_eq!(buf.len() as u64, n);
                        let now = held.fetch_add(n, Ordering::SeqCst) + n;
                        peak.fetch_max(now, Ordering::SeqCst);
                        let (leased, kept) = budget.held();
                        assert!(leased + kept <= 10, "{leased} + {kept}");
                        std::thread::yield_now();
                        held.fetch_sub(n, Ordering::SeqCst);
                        lease.give_back(buf);
                    }
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 10);
        assert!(
            peak.load(Ordering::SeqCst) > 4,
            "threads held leases at once"
        );
        let (leased, kept) = budget.held();
        assert_eq!(leased, 0, "every lease was given back");
        assert!(kept <= 10, "kept buffers stay within the budget: {kept}");
    }

    #[test]
    fn a_kept_buffer_is_reused_not_reallocated() {
        let budget = leaked(100);
        let mut lease = budget.take(40);
        let mut buf = lease.buffer();
        buf[0] = 7;
        let at = buf.as_ptr();
        lease.give_back(buf);
        drop(lease);
        let mut again = budget.take(30);
        let buf = again.buffer();
        assert_eq!(buf.as_ptr(), at, "the same allocation");
        assert_eq!((buf.len(), buf[0]), (30, 0), "cleared to the new length");
    }

    #[test]
    fn a_part_larger_than_the_budget_goes_alone() {
        let budget = leaked(10);
        let small = budget.take(3);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut big = budget.take(25);
                assert_eq!(big.buffer().len(), 25);
                tx.send(budget.held().0).unwrap();
            });
            // The big part waits for the small one, however long it takes.
            assert!(
                rx.recv_timeout(std::time::Duration::from_millis(50))
                    .is_err()
            );
            drop(small);
            assert_eq!(rx.recv().unwrap(), 10, "alone, counted as the whole budget");
        });
        assert_eq!(
            budget.held(),
            (0, 0),
            "nothing leased, the big buffer not kept"
        );
    }

    #[test]
    fn buffers_taken_together_wait_for_room_for_all_and_extra_ones_never_wait() {
        let budget = leaked(10);
        let small = budget.take(3);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut two = budget.take_all(&[4, 4]);
                assert_eq!(two[0].buffer().len() + two[1].buffer().len(), 8);
                tx.send(budget.held().0).unwrap();
                // Holding both: a third only if free now, never a wait.
                assert!(budget.try_take(4).is_none());
                let mut extra = budget.try_take(2).expect("2 bytes are free");
                assert_eq!(extra.buffer().len(), 2);
            });
            // 3 + 4 + 4 > 10: both wait for the small lease.
            assert!(
                rx.recv_timeout(std::time::Duration::from_millis(50))
                    .is_err()
            );
            drop(small);
            assert_eq!(rx.recv().unwrap(), 8);
        });
        assert_eq!(budget.held().0, 0);
    }

    #[test]
    fn a_lease_is_given_back_when_its_holder_panics() {
        let budget = leaked(4);
        let r = std::thread::spawn(|| {
            let _lease = budget.take(4);
            panic!("a sender failed");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(budget.held().0, 0);
        drop(budget.take(4));
    }
}
