//! Multithreading across output tiles: a per-thread thread budget and a tiny persistent pool.
//!
//! The interpreter runs its kernels inside [`with_threads`], which sets how many threads the
//! kernels called on this thread may use (1 outside it, so a kernel called directly stays
//! single-threaded). A driver that has independent output tiles (pixel blocks, column panels,
//! output rows) hands them to [`run_tiles`]: the calling thread and up to `threads - 1` pool
//! workers each start on a fixed contiguous share of the tiles (so consecutive operators split
//! the same way keep their halves of the activations in the same core's cache) and then claim
//! what is left of the others' shares. Every output element is still computed by exactly the
//! same code in the same order whatever thread runs its tile, so results do not depend on the
//! thread count.
//!
//! The pool is created on first use and grows to the largest budget requested. Workers spin
//! for a while after each job (operators of one `invoke` follow each other within microseconds)
//! and then sleep on a condition variable; publishing a job to spinning workers costs no system
//! call, only a few cache-line transfers. A job whose closure borrows the caller's stack is shared
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

/// Multiply-adds (or window taps) below which a second thread does not pay: measured on
/// MobileNetV2-0.35 at 96×96 with 2 threads (16K made the 3–5 µs depthwise and pointwise ops of
/// the 6×6 and 12×12 stages up to 2–3× slower than on one thread; 64K–256K all beat it, 128K
/// was best on float32 across repeated side-by-side runs). Unit tests use a tiny threshold so
/// their small problems still run split across threads.
const MIN_WORK_PER_THREAD: usize = if cfg!(test) { 1024 } else { 128 * 1024 };

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
/// Small operators are not worth splitting: besides the hand-off (about a microsecond for an
/// empty job to a spinning worker, `tests::dispatch_cost`), a second core has to pull its share of the input from the first core's
/// cache and the next operator pulls the output back, which costs a few microseconds. See
/// [`MIN_WORK_PER_THREAD`].
pub(crate) fn useful_threads(work: usize, tiles: usize) -> usize {
    threads().min(tiles).min(work / MIN_WORK_PER_THREAD).max(1)
}

/// The tiles one participant starts on: `next..end`, claimed from the front.
///
/// Aligned to two cache lines so participants claiming their own ranges never share a line.
#[repr(align(128))]
struct Range {
    next: AtomicUsize,
    end: usize,
}

/// One published job: calls of `func`, split into one contiguous range per participant.
struct Job {
    /// Lifetime-erased borrow of the caller's closure (see [`run_tiles`]).
    func: *const (dyn Fn(usize) + Sync),
    /// Participant 0 is the caller, then one range per worker seat.
    ranges: Box<[Range]>,
    done: Padded<AtomicUsize>,
    /// Worker seats still free.
    seats: AtomicUsize,
    panicked: AtomicBool,
}

/// A value alone on its cache lines.
#[repr(align(128))]
struct Padded<T>(T);

// SAFETY: `func` points to a `Sync` closure, so calling it from several threads is allowed; it
// is only dereferenced for claimed tiles, all of which finish before `run_tiles` returns and the
// closure goes out of scope.
unsafe impl Send for Job {}
// SAFETY: as above; every other field is atomic or immutable.
unsafe impl Sync for Job {}

impl Job {
    /// Claims and runs tiles until none are left: first participant `seat`'s own range (the same
    /// output part every time, so it stays in this core's cache from one operator to the next),
    /// then whatever is left of the other ranges.
    fn work(&self, seat: usize) {
        let n = self.ranges.len();
        for i in 0..n {
            let range = &self.ranges[(seat + i) % n];
            loop {
                let t = range.next.fetch_add(1, Ordering::Relaxed);
                if t >= range.end {
                    break;
                }
                // SAFETY: tile `t` was claimed and is not yet counted in `done`, so the caller
                // of `run_tiles` is still waiting and the closure is alive.
                let f = unsafe { &*self.func };
                if catch_unwind(AssertUnwindSafe(|| f(t))).is_err() {
                    self.panicked.store(true, Ordering::Relaxed);
                }
                self.done.0.fetch_add(1, Ordering::Release);
            }
        }
    }
}

struct Shared {
    /// The latest job; its number is `epoch`.
    slot: Mutex<Option<Arc<Job>>>,
    /// Bumped (under `slot`) for every published job; workers spin on it.
    epoch: Padded<AtomicUsize>,
    /// Workers blocked on `wake` (changed under `slot`), so a publish only pays for a
    /// `notify_all` system call when someone sleeps.
    sleepers: AtomicUsize,
    wake: Condvar,
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
            slot: Mutex::new(None),
            epoch: Padded(AtomicUsize::new(0)),
            sleepers: AtomicUsize::new(0),
            wake: Condvar::new(),
        }),
        workers: Mutex::new(0),
        submit: Mutex::new(()),
    })
}

/// How long an idle worker spins before sleeping.
const SPIN: Duration = Duration::from_micros(200);

/// Waits until `epoch` differs from `seen`: spinning (checking on every pause, which on recent
/// x86 lasts ~100 cycles) for [`SPIN`], then sleeping on the condition variable.
fn wait_for_job(shared: &Shared, seen: usize) {
    let start = Instant::now();
    let mut spins = 0u32;
    while shared.epoch.0.load(Ordering::Acquire) == seen {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(256) && start.elapsed() >= SPIN {
            let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
            shared.sleepers.fetch_add(1, Ordering::Relaxed);
            while shared.epoch.0.load(Ordering::Acquire) == seen {
                slot = shared.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
            shared.sleepers.fetch_sub(1, Ordering::Relaxed);
            return;
        }
    }
}

fn worker(shared: Arc<Shared>) {
    let mut seen = shared.epoch.0.load(Ordering::Acquire);
    loop {
        wait_for_job(&shared, seen);
        let job = {
            let slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
            seen = shared.epoch.0.load(Ordering::Acquire);
            slot.clone()
        };
        if let Some(job) = job {
            let seat = job
                .seats
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| s.checked_sub(1));
            if let Ok(free) = seat {
                job.work(job.ranges.len() - free);
            }
        }
    }
}

/// Calls `f(t)` for every tile `t < tiles`, on this thread and up to `threads - 1` pool workers,
/// and returns when all calls have finished. Panics (after every tile ran) if a call panicked.
///
/// Each participant starts on its own contiguous share of the tiles (the caller the first) and
/// then helps with what is left of the others, so a late worker costs no more than its share.
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
    let parts = helpers + 1;
    let ranges = (0..parts)
        .map(|p| Range {
            next: AtomicUsize::new(p * tiles / parts),
            end: (p + 1) * tiles / parts,
        })
        .collect();
    let job = Arc::new(Job {
        func,
        ranges,
        done: Padded(AtomicUsize::new(0)),
        seats: AtomicUsize::new(helpers),
        panicked: AtomicBool::new(false),
    });
    let shared = &pool.shared;
    let sleepers = {
        let mut slot = shared.slot.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(Arc::clone(&job));
        shared.epoch.0.fetch_add(1, Ordering::Release);
        shared.sleepers.load(Ordering::Relaxed)
    };
    if sleepers > 0 {
        shared.wake.notify_all();
    }
    job.work(0);
    let start = Instant::now();
    let mut spins = 0u32;
    while job.done.0.load(Ordering::Acquire) < tiles {
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(256) || start.elapsed() < SPIN {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
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
            for tiles in [0, 1, 2, 3, 5, 8, 97] {
                let hits: Vec<AtomicUsize> = (0..tiles).map(|_| AtomicUsize::new(0)).collect();
                run_tiles(hits.len(), threads, &|t| {
                    hits[t].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
        }
    }

    #[test]
    fn idle_participants_take_over_a_slow_share() {
        // Tile 0 (the caller's share) waits until every other tile has run, which can only
        // happen if a worker finishes its own share and then claims the rest of the caller's.
        // Tests run concurrently and share the pool; when another test holds it, `run_tiles`
        // runs everything on the caller and tile 0 gives up after a while. So the test retries
        // and asserts that stealing happened in at least one attempt.
        let tiles = 12;
        let stole = (0..50).any(|_| {
            let ran = AtomicUsize::new(0);
            let complete = AtomicBool::new(false);
            run_tiles(tiles, 2, &|t| {
                if t == 0 {
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_millis(500) {
                        if ran.load(Ordering::Acquire) == tiles - 1 {
                            complete.store(true, Ordering::Relaxed);
                            break;
                        }
                        std::thread::yield_now();
                    }
                }
                ran.fetch_add(1, Ordering::AcqRel);
            });
            assert_eq!(ran.load(Ordering::Relaxed), tiles);
            complete.load(Ordering::Relaxed)
        });
        assert!(
            stole,
            "no worker took over the caller's tiles in 50 attempts"
        );
    }

    #[test]
    #[ignore = "timing report, run with --release --ignored --nocapture"]
    fn dispatch_cost() {
        for threads in [1, 2] {
            let sink = AtomicUsize::new(0);
            let reps = 200_000;
            let start = Instant::now();
            for _ in 0..reps {
                run_tiles(8, threads, &|t| {
                    sink.fetch_add(t, Ordering::Relaxed);
                });
            }
            let ns = start.elapsed().as_nanos() as f64 / reps as f64;
            println!("run_tiles(8 empty tiles, {threads} threads): {ns:.0} ns");
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
