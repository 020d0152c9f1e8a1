//! Multithreading across output tiles: a per-thread thread budget and a tiny persistent pool.
//!
//! The interpreter runs its kernels inside [`with_threads`], which sets how many threads the
//! kernels called on this thread may use (1 outside it, so a kernel called directly stays
//! single-threaded). A driver that has independent output tiles (pixel blocks, column panels,
//! output rows) hands them to [`run_tiles`]: tiles are claimed dynamically by the calling thread
//! and up to `threads - 1` pool workers. Every output element is still computed by exactly the
//! same code in the same order whatever thread runs its tile, so results do not depend on the
//! thread count.
//!
//! The pool is created on first use and grows to the largest budget requested. Workers spin
//! briefly after each job (operators of one `invoke` follow each other within microseconds) and
//! then sleep on a condition variable. A job whose closure borrows the caller's stack is shared
//! with the workers through a lifetime-erased reference; [`run_tiles`] does not return before
//! every claimed tile has finished, which is what makes that sound. When the pool is busy with
//! another caller's job (two interpreters on two threads), the tiles simply run on the caller.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

thread_local! {
    static BUDGET: Cell<usize> = const { Cell::new(1) };
}

/// Runs `f` with a budget of `n` threads (at least 1) for the kernels it calls on this thread.
pub fn with_threads<R>(n: usize, f: impl FnOnce() -> R) -> R {
    let previous = BUDGET.with(|b| b.replace(n.max(1)));
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            BUDGET.with(|b| b.set(self.0));
        }
    }
    let _restore = Restore(previous);
    f()
}

/// The thread budget of kernels running on this thread (1 unless inside [`with_threads`]).
pub fn threads() -> usize {
    BUDGET.with(Cell::get)
}

/// Threads worth using for `work` units of roughly one multiply-add each, split into `tiles`.
///
/// Small products are not worth waking a worker for (a wake-up costs about as much as a few
/// thousand multiply-adds).
pub(crate) fn useful_threads(work: usize, tiles: usize) -> usize {
    const MIN_WORK_PER_THREAD: usize = 16 * 1024;
    threads().min(tiles).min(work / MIN_WORK_PER_THREAD).max(1)
}

/// One published job: `tiles` calls of `func`, claimed through `next`.
struct Job {
    /// Lifetime-erased borrow of the caller's closure (see [`run_tiles`]).
    func: *const (dyn Fn(usize) + Sync),
    tiles: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    /// Workers still allowed to join.
    seats: AtomicUsize,
    panicked: AtomicBool,
}

// SAFETY: `func` points to a `Sync` closure, so calling it from several threads is allowed; it
// is only dereferenced for claimed tiles, all of which finish before `run_tiles` returns and the
// closure goes out of scope.
unsafe impl Send for Job {}
// SAFETY: as above; every other field is atomic.
unsafe impl Sync for Job {}

impl Job {
    /// Claims and runs tiles until none are left.
    fn work(&self) {
        loop {
            let t = self.next.fetch_add(1, Ordering::Relaxed);
            if t >= self.tiles {
                return;
            }
            // SAFETY: tile `t` was claimed and is not yet counted in `done`, so the caller of
            // `run_tiles` is still waiting and the closure is alive.
            let f = unsafe { &*self.func };
            if catch_unwind(AssertUnwindSafe(|| f(t))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

struct Shared {
    slot: Mutex<(u64, Option<Arc<Job>>)>,
    wake: Condvar,
    epoch: AtomicUsize,
}

struct Pool {
    shared: Arc<Shared>,
    workers: Mutex<usize>,
    /// Held by the caller whose job is published.
    submit: Mutex<()>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        shared: Arc::new(Shared {
            slot: Mutex::new((0, None)),
            wake: Condvar::new(),
            epoch: AtomicUsize::new(0),
        }),
        workers: Mutex::new(0),
        submit: Mutex::new(()),
    })
}

/// How long an idle worker spins before sleeping.
const SPIN: Duration = Duration::from_micros(200);

fn worker(shared: Arc<Shared>) {
    let mut seen = shared.epoch.load(Ordering::Acquire);
    loop {
        let start = Instant::now();
        while shared.epoch.load(Ordering::Acquire) == seen && start.elapsed() < SPIN {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
        let job = {
            let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
            while slot.0 as usize == seen {
                slot = shared.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
            seen = slot.0 as usize;
            slot.1.clone()
        };
        if let Some(job) = job {
            let joined = job
                .seats
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| s.checked_sub(1))
                .is_ok();
            if joined {
                job.work();
            }
        }
    }
}

/// Calls `f(t)` for every tile `t < tiles`, on this thread and up to `threads - 1` pool workers,
/// and returns when all calls have finished. Panics (after every tile ran) if a call panicked.
pub(crate) fn run_tiles(tiles: usize, threads: usize, f: &(dyn Fn(usize) + Sync)) {
    let helpers = threads.min(tiles).saturating_sub(1);
    if helpers == 0 {
        (0..tiles).for_each(f);
        return;
    }
    let pool = pool();
    let Ok(_submit) = pool.submit.try_lock() else {
        (0..tiles).for_each(f);
        return;
    };
    {
        let mut workers = pool.workers.lock().unwrap_or_else(|e| e.into_inner());
        while *workers < helpers {
            let shared = Arc::clone(&pool.shared);
            let spawned = std::thread::Builder::new()
                .name("ferrolite-worker".into())
                .spawn(move || worker(shared));
            if spawned.is_err() {
                break;
            }
            *workers += 1;
        }
    }
    let func: *const (dyn Fn(usize) + Sync + '_) = f;
    // SAFETY: only the lifetime is erased. The pointer is dereferenced only for claimed tiles,
    // and this function waits below until every claimed tile has finished before returning.
    let func: *const (dyn Fn(usize) + Sync + 'static) = unsafe { std::mem::transmute(func) };
    let job = Arc::new(Job {
        func,
        tiles,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        seats: AtomicUsize::new(helpers),
        panicked: AtomicBool::new(false),
    });
    {
        let shared = &pool.shared;
        let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.0 += 1;
        slot.1 = Some(Arc::clone(&job));
        shared.epoch.store(slot.0 as usize, Ordering::Release);
        shared.wake.notify_all();
    }
    job.work();
    let start = Instant::now();
    while job.done.load(Ordering::Acquire) < tiles {
        if start.elapsed() < SPIN {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    pool.shared
        .slot
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .1
        .take();
    if job.panicked.load(Ordering::Relaxed) {
        panic!("a kernel tile panicked on a worker thread");
    }
}

/// A raw output pointer shared by tiles that write disjoint elements.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: tiles only form disjoint sub-slices (see `slice`), so sharing the pointer across the
// threads of one `run_tiles` call is like splitting a `&mut [T]`.
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// Wraps `s` for the duration of a `run_tiles` call.
    pub(crate) fn new(s: &mut [T]) -> Self {
        SharedMut {
            ptr: s.as_mut_ptr(),
            len: s.len(),
        }
    }

    /// The raw pointer, for kernels that take one (each tile writes only its own elements).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.ptr
    }

    /// The same slice from element `start` on (`start` is clamped to the length).
    pub(crate) fn offset(&self, start: usize) -> Self {
        let start = start.min(self.len);
        SharedMut {
            ptr: self.ptr.wrapping_add(start),
            len: self.len - start,
        }
    }

    /// Elements `start..` of the wrapped slice.
    ///
    /// # Safety
    /// The slice the pointer came from is still mutably borrowed for this call's duration, and
    /// no other tile reads or writes any element this tile writes through the returned slice.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn tail(&self, start: usize) -> &mut [T] {
        assert!(start <= self.len, "tile start out of range");
        // SAFETY: `start <= len`, the caller guarantees exclusivity of what is written.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), self.len - start) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tile_runs_once_for_any_thread_count() {
        for threads in 1..=4 {
            let hits: Vec<AtomicUsize> = (0..97).map(|_| AtomicUsize::new(0)).collect();
            run_tiles(hits.len(), threads, &|t| {
                hits[t].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        }
    }

    #[test]
    fn budget_is_scoped() {
        assert_eq!(threads(), 1);
        with_threads(3, || {
            assert_eq!(threads(), 3);
            with_threads(0, || assert_eq!(threads(), 1));
            assert_eq!(threads(), 3);
        });
        assert_eq!(threads(), 1);
    }

    #[test]
    fn concurrent_callers_do_not_interfere() {
        let totals: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        let sum = AtomicUsize::new(0);
                        for _ in 0..50 {
                            run_tiles(10, 2, &|t| {
                                sum.fetch_add(t, Ordering::Relaxed);
                            });
                        }
                        sum.load(Ordering::Relaxed)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(totals.iter().all(|&t| t == 50 * 45));
    }
}
