//! The one worker pool: runs a job on every item of a slice with a few
//! threads, and gives the results back either all at once in the items'
//! order (`map`) or one by one on the caller's thread as they finish
//! (`for_each`, for progress bars and running tallies).
//!
//! Invariant: every item is taken exactly once, by one worker; `map` returns
//! the results in item order whatever order the workers finish in;
//! `for_each` hands each result to its callback once, on the calling thread;
//! a panic in a worker propagates to the caller (scoped threads), never lost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Runs `job` on every item with up to `threads` threads (at least one, at
/// most one per item) and returns the results in the items' order.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    run(items, threads, job, |i, r| slots[i] = Some(r));
    slots
        .into_iter()
        .map(|r| r.expect("every item is done exactly once"))
        .collect()
}

/// Runs `job` on every item with up to `threads` threads (at least one, at
/// most one per item) and calls `on_done` with each item and its result on
/// the calling thread, in the order the jobs finish, while the others still
/// run. `on_done` may therefore keep a tally, move a progress bar or print
/// without any lock.
pub fn for_each<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    job: impl Fn(&T) -> R + Sync,
    mut on_done: impl FnMut(&T, R),
) {
    run(items, threads, job, |i, r| on_done(&items[i], r));
}

/// The loop behind `map` and `for_each`: workers take the next index from a
/// shared counter and send `(index, result)` back; the calling thread hands
/// each to `done` as it arrives. With one thread the jobs run on the calling
/// thread itself.
fn run<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    job: impl Fn(&T) -> R + Sync,
    mut done: impl FnMut(usize, R),
) {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        for (i, item) in items.iter().enumerate() {
            done(i, job(item));
        }
        return;
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, job) = (&next, &job);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    // The receiver is gone only when `done` panicked; the
                    // scope then ends with that panic.
                    if tx.send((i, job(item))).is_err() {
                        return;
                    }
                }
            });
        }
        // The loop below ends once every worker has dropped its sender.
        drop(tx);
        for (i, r) in rx {
            done(i, r);
        }
    });
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
        assert_eq!(super::map(&items, 1, |i| i + 1)[999], 1000);
    }

    #[test]
    fn for_each_hands_every_result_once_to_the_calling_thread() {
        let items: Vec<u32> = (0..500).collect();
        for threads in [1, 2, 8] {
            let caller = std::thread::current().id();
            let mut seen = vec![0u32; items.len()];
            super::for_each(
                &items,
                threads,
                |i| i * 3,
                |i, r| {
                    assert_eq!(std::thread::current().id(), caller);
                    assert_eq!(r, i * 3);
                    seen[*i as usize] += 1;
                },
            );
            assert!(seen.iter().all(|n| *n == 1), "{threads} threads");
        }
        super::for_each(&[] as &[u32], 4, |_| unreachable!(), |_, ()| unreachable!());
    }

    #[test]
    fn for_each_streams_results_while_other_jobs_still_run() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::{Duration, Instant};
        // The second job waits until the first one's result has been handed
        // over; were results held back until every job ended, it would wait
        // in vain.
        let first_done = AtomicBool::new(false);
        let mut order = Vec::new();
        super::for_each(
            &[0, 1],
            2,
            |i| {
                if *i == 1 {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !first_done.load(Ordering::SeqCst) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    return first_done.load(Ordering::SeqCst);
                }
                true
            },
            |i, streamed| {
                assert!(streamed, "item {i} waited for a result that never came");
                order.push(*i);
                first_done.store(true, Ordering::SeqCst);
            },
        );
        assert_eq!(order, [0, 1]);
    }
}
