//! The one worker pool: runs a job on every item of a slice with a few
//! threads, and gives the results back in the items' order.
//!
//! Invariant: every item is taken exactly once, by one worker; results come
//! back in item order whatever order the workers finish in; a panic in a
//! worker propagates to the caller (scoped threads), never lost.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `job` on every item with up to `threads` threads (at least one, at
/// most one per item) and returns the results in the items' order.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(job).collect();
    }
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    let r = job(item);
                    done.lock()
                        .expect("no panics while the results are locked")
                        .push((i, r));
                }
            });
        }
    });
    let mut done = done
        .into_inner()
        .expect("no panics while the results are locked");
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order_and_takes_every_item_once() {
        let items: Vec<u32> = (0..1000).collect();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let out = super::map(&items, 7, |i| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(calls.into_inner(), 1000);
        assert!(super::map(&[] as &[u32], 4, |i| *i).is_empty());
    }
}
