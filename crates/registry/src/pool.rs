//! A bounded set of scoped threads working through a list in order.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `work(i, &items[i])` for every item on up to `threads` threads, taking items in order.
/// After the first failure no new item is started; that failure is returned.
pub(crate) fn run_bounded<T: Sync, E: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(usize, &T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.min(items.len()) {
            s.spawn(|| loop {
                if failed.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { return };
                if let Err(e) = work(i, item) {
                    failed.store(true, Ordering::SeqCst);
                    first_error.lock().unwrap().get_or_insert(e);
                    return;
                }
            });
        }
    });
    match first_error.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_everything_bounded() {
        let items: Vec<usize> = (0..50).collect();
        let running = AtomicUsize::new(0);
        let max = AtomicUsize::new(0);
        let sum = AtomicUsize::new(0);
        run_bounded(&items, 3, |i, x| {
            assert_eq!(i, *x);
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(1));
            sum.fetch_add(*x, Ordering::SeqCst);
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(sum.into_inner(), (0..50).sum::<usize>());
        assert!(max.into_inner() <= 3);
    }

    #[test]
    fn stops_after_a_failure() {
        let items: Vec<usize> = (0..100).collect();
        let done = AtomicUsize::new(0);
        let err = run_bounded(&items, 2, |_, x| {
            done.fetch_add(1, Ordering::SeqCst);
            if *x == 5 {
                Err(format!("item {x}"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(err, "item 5");
        assert!(done.into_inner() < 100);
    }
}
