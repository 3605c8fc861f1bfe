//! An ordered parallel map for the tools: work on many arguments at once, print in order.
//!
//! rayon's `par_iter().collect()` waits for everything before the first result can be
//! printed, and processing in fixed chunks stalls a whole chunk behind its slowest item (one
//! large driver in a chunk of small ones leaves the other cores idle). Here each worker takes
//! the next item as soon as it is free, within a window ahead of what has been printed, and
//! the caller's thread consumes results strictly in input order as they become available.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

/// How many items past the last consumed one workers may run ahead. Bounds the memory held
/// in finished-but-unprinted results.
const WINDOW: usize = 256;

/// Applies `work` to every item on all cores and passes the results to `consume` in input
/// order. `consume` returns false to stop early (a closed output pipe, say); remaining items
/// are then skipped.
pub fn map_ordered<T, R, W, C>(items: &[T], work: W, mut consume: C)
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    C: FnMut(R) -> bool,
{
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .min(items.len().max(1));
    if threads <= 1 {
        for item in items {
            if !consume(work(item)) {
                return;
            }
        }
        return;
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // The index of the next result to consume, so that workers stay within the window.
    let consumed = Mutex::new(0usize);
    let advanced = Condvar::new();
    let (sender, receiver) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let sender = sender.clone();
            let (next, stop, consumed, advanced, work) =
                (&next, &stop, &consumed, &advanced, &work);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else { break };
                {
                    let mut done = consumed.lock().unwrap_or_else(|e| e.into_inner());
                    while index >= *done + WINDOW && !stop.load(Ordering::Relaxed) {
                        done = advanced.wait(done).unwrap_or_else(|e| e.into_inner());
                    }
                }
                if stop.load(Ordering::Relaxed) || sender.send((index, work(item))).is_err() {
                    break;
                }
            });
        }
        drop(sender);
        let mut pending: BTreeMap<usize, R> = BTreeMap::new();
        let mut want = 0usize;
        'receive: for (index, result) in receiver.iter() {
            pending.insert(index, result);
            while let Some(result) = pending.remove(&want) {
                want += 1;
                if !consume(result) {
                    stop.store(true, Ordering::Relaxed);
                    break 'receive;
                }
            }
            *consumed.lock().unwrap_or_else(|e| e.into_inner()) = want;
            advanced.notify_all();
        }
        stop.store(true, Ordering::Relaxed);
        *consumed.lock().unwrap_or_else(|e| e.into_inner()) = usize::MAX / 2;
        advanced.notify_all();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_input_order() {
        let items: Vec<u64> = (0..2000).collect();
        let mut seen = Vec::new();
        map_ordered(
            &items,
            |&i| {
                if i % 97 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                i * 2
            },
            |r| {
                seen.push(r);
                true
            },
        );
        assert_eq!(seen, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn stops_early() {
        let items: Vec<u32> = (0..10_000).collect();
        let mut count = 0;
        map_ordered(
            &items,
            |&i| i,
            |_| {
                count += 1;
                count < 10
            },
        );
        assert_eq!(count, 10);
    }
}
