//! Aligned, read-only storage for constant packed weights ([`AlignedBuf`]) and an opt-in
//! process-wide pool that puts them into consecutive huge pages (issue #9).
//!
//! Every buffer starts on a 64-byte (cache-line) boundary, so full-width AVX-512 loads from
//! packed panels never straddle two lines (a `Vec<i16>` only guarantees 2 bytes, and glibc
//! hands out 16 mod 64).
//!
//! With huge pages on (`FERROLITE_HUGEPAGES=on`, read once per process, or [`set_enabled`]):
//! regions of at least [`HUGE_THRESHOLD`] bytes are mapped separately on Linux, 2 MiB aligned,
//! rounded to whole 2 MiB pages and advised `madvise(MADV_HUGEPAGE)` before they are first
//! written, so with transparent huge pages in `madvise` (or `always`) mode they are physically
//! contiguous (even use of cache sets, one TLB entry per 2 MiB); and [`AlignedBuf::pooled`]
//! carves smaller buffers one after the other out of shared 2 MiB chunks, so all packed weights
//! of a model sit in a few huge pages. A chunk is freed once the pool has moved on and its last
//! buffer is dropped. Elsewhere (or when `mmap` fails) regions come from the global allocator.
//!
//! It is off by default because it did not measurably pay on the MobileNetV2-0.35 benchmark
//! models (in-process A/B, 200 alternating blocks: int8 0.986–1.000×, float32 0.97–1.005×,
//! within noise) while the partly filled last huge page costs up to 2 MiB of resident memory
//! (int8 peak RSS 15.7 → 17.7 MiB). The latency bimodality it was meant to fix is not caused by
//! memory placement (see `tools/latency_modes.py`).

use std::alloc::Layout;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use bytemuck::Pod;

/// Cache-line alignment of every buffer.
pub const ALIGN: usize = 64;
/// Huge-page size (x86-64 and aarch64 Linux with 4 KiB base pages).
pub const HUGE_PAGE: usize = 2 << 20;
/// Regions at least this large get their own huge-page-advised mapping.
pub const HUGE_THRESHOLD: usize = 1 << 20;

/// 0: not decided yet, 1: on, 2: off.
static MODE: AtomicU8 = AtomicU8::new(0);

/// Whether huge-page mappings and pooling are on (`FERROLITE_HUGEPAGES=on`, unless overridden
/// by [`set_enabled`]).
pub fn enabled() -> bool {
    match MODE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let on = std::env::var("FERROLITE_HUGEPAGES").as_deref() == Ok("on");
            MODE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
    }
}

/// Turns huge-page storage and pooling on or off for buffers created from now on (for A/B
/// measurements inside one process; existing buffers keep their storage).
pub fn set_enabled(on: bool) {
    MODE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

/// One owned allocation of raw bytes, written once (before any reader sees the bytes) and then
/// only read.
struct Region {
    ptr: NonNull<u8>,
    bytes: usize,
    /// How to give the memory back.
    mapped: bool,
}

// SAFETY: a region is plain memory owned by this value. Each byte range is written exactly
// once, by the thread that reserved it (under the pool lock for pooled chunks, or before the
// region is shared otherwise), before any `AlignedBuf` over that range exists; afterwards the
// bytes are only read.
unsafe impl Send for Region {}
// SAFETY: see `Send`: shared access only reads bytes that are no longer written.
unsafe impl Sync for Region {}

impl Region {
    /// Allocates `bytes > 0` bytes, 64-byte aligned; huge-page backed when `huge` and large (see
    /// the module docs). Out of memory aborts through `handle_alloc_error`, as `Vec` does.
    fn new(bytes: usize, huge: bool) -> Region {
        debug_assert!(bytes > 0);
        if huge && bytes >= HUGE_THRESHOLD {
            if let Some(r) = Region::map_huge(bytes) {
                return r;
            }
        }
        // A size this close to `isize::MAX` cannot come from an existing slice; report it as
        // the allocation failure it would be.
        let layout = Layout::from_size_align(bytes, ALIGN)
            .unwrap_or_else(|_| std::alloc::handle_alloc_error(Layout::new::<u8>()));
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            std::alloc::handle_alloc_error(layout)
        };
        Region {
            ptr,
            bytes,
            mapped: false,
        }
    }

    /// A fresh private anonymous mapping of `bytes` rounded up to whole huge pages, 2 MiB
    /// aligned and advised `MADV_HUGEPAGE` before any page is touched.
    #[cfg(target_os = "linux")]
    fn map_huge(bytes: usize) -> Option<Region> {
        let len = bytes.checked_next_multiple_of(HUGE_PAGE)?;
        let over = len.checked_add(HUGE_PAGE)?;
        // SAFETY: an anonymous private mapping at an address the kernel picks; no existing
        // memory is affected.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                over,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let start = raw as usize;
        let aligned = start.next_multiple_of(HUGE_PAGE);
        let head = aligned - start;
        let tail = over - head - len;
        // SAFETY: `[start, start + head)` and `[aligned + len, start + over)` lie inside the
        // mapping just created and nothing refers to them. `madvise` only changes how the
        // kernel backs the (still untouched) pages of `[aligned, aligned + len)`; it may fail
        // (THP off or unsupported), which leaves ordinary pages and is fine.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if tail > 0 {
                libc::munmap((aligned + len) as *mut libc::c_void, tail);
            }
            libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
        Some(Region {
            ptr: NonNull::new(aligned as *mut u8)?,
            bytes: len,
            mapped: true,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn map_huge(_bytes: usize) -> Option<Region> {
        None
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.mapped {
            #[cfg(target_os = "linux")]
            // SAFETY: `ptr..ptr + bytes` is exactly the mapping kept by `map_huge`, and no
            // buffer refers to it any more (they hold an `Arc` to this region).
            unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.bytes);
            }
        } else if let Ok(layout) = Layout::from_size_align(self.bytes, ALIGN) {
            // SAFETY: allocated in `Region::new` with this very layout.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout) };
        }
    }
}

/// An immutable, 64-byte aligned slice of `T` in its own region or a pool chunk; derefs to
/// `[T]`. Cloning shares the storage.
pub struct AlignedBuf<T> {
    region: Option<Arc<Region>>,
    /// Byte offset of the first element in `region`.
    offset: usize,
    len: usize,
    _elem: PhantomData<T>,
}

impl<T> Clone for AlignedBuf<T> {
    fn clone(&self) -> Self {
        AlignedBuf {
            region: self.region.clone(),
            offset: self.offset,
            len: self.len,
            _elem: PhantomData,
        }
    }
}

impl<T> Default for AlignedBuf<T> {
    fn default() -> Self {
        AlignedBuf {
            region: None,
            offset: 0,
            len: 0,
            _elem: PhantomData,
        }
    }
}

impl<T: Pod> fmt::Debug for AlignedBuf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("huge", &self.is_huge())
            .finish()
    }
}

impl<T: Pod> std::ops::Deref for AlignedBuf<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match &self.region {
            // SAFETY: `offset..offset + len * size_of::<T>()` lies inside the region (checked
            // at construction), starts 64-byte aligned (≥ align_of::<T>() for the `Pod` types
            // used here, asserted in `copy_into`), was fully initialised before this buffer was
            // created and is never written again; `T: Pod` accepts any bytes.
            Some(r) => unsafe {
                std::slice::from_raw_parts(r.ptr.as_ptr().add(self.offset).cast::<T>(), self.len)
            },
            None => &[],
        }
    }
}

/// The shared pool: the chunk currently being filled and how many bytes of it are used.
struct Pool {
    chunk: Option<Arc<Region>>,
    used: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    chunk: None,
    used: 0,
});

impl<T: Pod> AlignedBuf<T> {
    /// A copy of `data` in its own 64-byte aligned region (huge-page backed when huge pages are
    /// [`enabled`] and it has at least [`HUGE_THRESHOLD`] bytes).
    pub fn from_slice(data: &[T]) -> Self {
        Self::copy_of(data, enabled())
    }

    /// [`AlignedBuf::from_slice`] with huge pages chosen by `huge`.
    fn copy_of(data: &[T], huge: bool) -> Self {
        let bytes = std::mem::size_of_val(data);
        if bytes == 0 {
            return AlignedBuf::default();
        }
        let region = Arc::new(Region::new(bytes, huge));
        // SAFETY: the region is fresh, at least `bytes` long and not shared yet.
        unsafe { copy_into(&region, 0, data) };
        AlignedBuf {
            region: Some(region),
            offset: 0,
            len: data.len(),
            _elem: PhantomData,
        }
    }

    /// A copy of `data` for long-lived packed weights: with huge pages [`enabled`], placed right
    /// after the previous pooled buffer in the shared pool (see the module docs; data of at
    /// least [`HUGE_THRESHOLD`] bytes gets its own region), else like
    /// [`AlignedBuf::from_slice`].
    pub fn pooled(data: &[T]) -> Self {
        Self::pooled_in(data, enabled())
    }

    /// [`AlignedBuf::pooled`] with the pool used only when `pool`.
    fn pooled_in(data: &[T], pool: bool) -> Self {
        let bytes = std::mem::size_of_val(data);
        if bytes == 0 {
            return AlignedBuf::default();
        }
        if bytes >= HUGE_THRESHOLD || !pool {
            return AlignedBuf::copy_of(data, pool);
        }
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let chunk = match &pool.chunk {
            Some(c) if pool.used + bytes <= c.bytes => c.clone(),
            _ => {
                let c = Arc::new(Region::new(HUGE_PAGE, true));
                pool.chunk = Some(c.clone());
                pool.used = 0;
                c
            }
        };
        let offset = pool.used;
        // SAFETY: `offset..offset + bytes` is inside the chunk, 64-byte aligned and never handed
        // out before; we hold the pool lock, so no other thread reserves it concurrently.
        unsafe { copy_into(&chunk, offset, data) };
        pool.used = (offset + bytes).next_multiple_of(ALIGN);
        AlignedBuf {
            region: Some(chunk),
            offset,
            len: data.len(),
            _elem: PhantomData,
        }
    }

    /// Bytes of element data (not counting pool or page rounding).
    pub fn bytes(&self) -> usize {
        self.len * std::mem::size_of::<T>()
    }

    /// Whether the storage is a huge-page-advised mapping.
    pub fn is_huge(&self) -> bool {
        self.region.as_ref().is_some_and(|r| r.mapped)
    }
}

/// Copies `data` to byte `offset` of `region`.
///
/// # Safety
/// `offset + size_of_val(data) <= region.bytes`, `offset` is a multiple of [`ALIGN`], and no
/// `AlignedBuf` covers those bytes yet (nobody reads or writes them concurrently).
unsafe fn copy_into<T: Pod>(region: &Region, offset: usize, data: &[T]) {
    debug_assert!(std::mem::align_of::<T>() <= ALIGN);
    debug_assert!(
        offset.is_multiple_of(ALIGN) && offset + std::mem::size_of_val(data) <= region.bytes
    );
    let src = bytemuck::cast_slice::<T, u8>(data);
    // SAFETY: per the caller's contract the destination range is in bounds and unaliased; the
    // source is a distinct live slice.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), region.ptr.as_ptr().add(offset), src.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_buffer_is_aligned_and_equal() {
        let data: Vec<i16> = (0..1000).map(|i| i as i16 - 500).collect();
        for huge in [false, true] {
            let b = AlignedBuf::copy_of(&data, huge);
            assert_eq!(b.as_ptr() as usize % ALIGN, 0);
            assert_eq!(&b[..], &data[..]);
            assert_eq!(b.len(), 1000);
            assert_eq!(b.bytes(), 2000);
            assert!(!b.is_huge(), "below the threshold");
        }
    }

    #[test]
    fn zero_length() {
        let b = AlignedBuf::<f32>::from_slice(&[]);
        assert!(b.is_empty());
        assert_eq!(b.bytes(), 0);
        for pool in [false, true] {
            let p = AlignedBuf::<i8>::pooled_in(&[], pool);
            assert!(p.is_empty());
            assert_eq!(p.as_ptr(), <&[i8]>::default().as_ptr());
        }
        assert!(AlignedBuf::<i32>::default().is_empty());
    }

    #[test]
    fn large_buffer_huge_or_heap() {
        let data: Vec<f32> = (0..(3 << 18)).map(|i| i as f32).collect(); // 3 MiB
        for huge in [false, true] {
            let b = AlignedBuf::copy_of(&data, huge);
            assert_eq!(&b[..], &data[..]);
            assert_eq!(b.as_ptr() as usize % ALIGN, 0);
            assert_eq!(b.is_huge(), huge && cfg!(target_os = "linux"));
            if b.is_huge() {
                assert_eq!(b.as_ptr() as usize % HUGE_PAGE, 0);
            }
        }
    }

    #[test]
    fn clone_shares_and_drop_releases() {
        let data: Vec<u8> = (0..=255).collect();
        let b = AlignedBuf::copy_of(&data, false);
        let c = b.clone();
        assert_eq!(c.as_ptr(), b.as_ptr());
        assert_eq!(c.region.as_ref().map(Arc::strong_count), Some(2));
        drop(b);
        assert_eq!(c.region.as_ref().map(Arc::strong_count), Some(1));
        assert_eq!(&c[..], &data[..]);
    }

    #[test]
    fn pooled_buffers_are_aligned_and_independent() {
        let a: Vec<i8> = (0..100).map(|i| i as i8).collect();
        let b: Vec<i32> = (0..37).map(|i| -i).collect();
        for pool in [false, true] {
            let pa = AlignedBuf::pooled_in(&a, pool);
            let pb = AlignedBuf::pooled_in(&b, pool);
            assert_eq!(pa.as_ptr() as usize % ALIGN, 0);
            assert_eq!(pb.as_ptr() as usize % ALIGN, 0);
            assert_eq!(&pa[..], &a[..]);
            assert_eq!(&pb[..], &b[..]);
            drop(pa);
            assert_eq!(&pb[..], &b[..]);
        }
    }

    #[test]
    fn pool_rolls_over_to_new_chunks() {
        // More than one chunk's worth of 700 KiB buffers (each below the huge threshold), then
        // one at the threshold, which gets its own huge region.
        let bufs: Vec<AlignedBuf<u8>> = (0..5u8)
            .map(|i| AlignedBuf::pooled_in(&vec![i; 700 << 10], true))
            .collect();
        for (i, b) in bufs.iter().enumerate() {
            assert_eq!(b.len(), 700 << 10);
            assert!(b.iter().all(|&x| x == i as u8));
            assert_eq!(b.is_huge(), cfg!(target_os = "linux"));
        }
        let big = AlignedBuf::pooled_in(&vec![7u8; HUGE_THRESHOLD], true);
        assert!(big.iter().all(|&x| x == 7));
        assert_eq!(big.is_huge(), cfg!(target_os = "linux"));
        assert_eq!(big.region.as_ref().map(Arc::strong_count), Some(1));
    }

    #[test]
    fn drop_runs_for_many_buffers() {
        // Allocate and drop repeatedly around the size boundaries; a wrong layout or length in
        // dealloc / munmap aborts the process or corrupts later allocations checked here.
        for n in [1usize, 63, 64, 65, 4096, (1 << 20) + 3] {
            let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
            for huge in [false, true] {
                let b = AlignedBuf::copy_of(&data, huge);
                assert_eq!(&b[..], &data[..]);
                drop(b);
                let p = AlignedBuf::pooled_in(&data, huge);
                assert_eq!(&p[..], &data[..]);
            }
        }
    }
}
