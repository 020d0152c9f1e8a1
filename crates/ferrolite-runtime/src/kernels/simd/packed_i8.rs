//! Weights packed for the integer GEMM ([`super::gemm_i8`]): [`PackedI8`], built once at prepare
//! time for constant weights, and the per-call packing into per-thread scratch otherwise. Panels
//! serve the GEMM micro-kernels; widened rows (zero padded to the matrix-vector chunk, a multiple
//! of four rows) serve the one- or two-row form. The packing loops are compiled for the kernel's
//! features so they are vectorized.

use std::cell::RefCell;

use super::aligned::AlignedBuf;
use super::gemm_i8::Kernel;
use super::i8_tiles::{gemv_chunk, PackedView};
use super::pack_i8::{activation_shift, pack_b, widen_row};
use crate::kernels::quant::QuantElem;

/// How packed weights are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// Panels for the GEMM micro-kernel.
    Panels,
    /// Widened rows for the one- or two-row matrix-vector form.
    Rows,
}

/// Weights packed once (at prepare time) for the integer GEMM, one block per group. The packed
/// bytes are stored 64-byte aligned ([`AlignedBuf::pooled`]; next to the model's other packed
/// weights in huge pages with `FERROLITE_HUGEPAGES=on`).
#[derive(Debug, Clone)]
pub struct PackedI8 {
    kernel: Kernel,
    form: Form,
    groups: usize,
    n: usize,
    k: usize,
    /// Elements per group in `b8` / `b16`.
    group_len: usize,
    b8: AlignedBuf<i8>,
    b16: AlignedBuf<i16>,
    /// `Σ ws` per column, `n` per group.
    colsum: Vec<i32>,
}

/// Per-thread buffers for weights packed per call.
#[derive(Default)]
pub(super) struct PackScratch {
    b8: Vec<i8>,
    b16: Vec<i16>,
    colsum: Vec<i32>,
    tmp8: Vec<i8>,
    tmp16: Vec<i16>,
}

impl PackScratch {
    /// The weights last packed here, as tiles read them.
    pub(super) fn view(&self) -> PackedView<'_> {
        PackedView {
            b8: &self.b8,
            b16: &self.b16,
            colsum: &self.colsum,
        }
    }
}

thread_local! {
    pub(super) static PACK: RefCell<PackScratch> = RefCell::new(PackScratch::default());
}

/// Packs `w` (`n` rows of `k`) into panels for `kernel`, compiled for its features.
pub(super) fn pack_panels<W: QuantElem>(
    kernel: Kernel,
    w: &[W],
    nk: (usize, usize),
    s: &mut PackScratch,
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: kernels are only picked from run-time detected features (`Kernel::pick`).
    unsafe {
        match kernel {
            Kernel::Vnni => pack_panels_avx512(kernel, w, nk, s),
            Kernel::Avx2 | Kernel::AvxVnni => pack_panels_avx2(kernel, w, nk, s),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    pack_panels_body(kernel, w, nk, s);
}

/// [`pack_panels_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU supports AVX-512 F/BW/VL/DQ, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn pack_panels_avx512<W: QuantElem>(
    kernel: Kernel,
    w: &[W],
    nk: (usize, usize),
    s: &mut PackScratch,
) {
    pack_panels_body(kernel, w, nk, s);
}

/// [`pack_panels_body`] compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_panels_avx2<W: QuantElem>(
    kernel: Kernel,
    w: &[W],
    nk: (usize, usize),
    s: &mut PackScratch,
) {
    pack_panels_body(kernel, w, nk, s);
}

#[inline(always)]
fn pack_panels_body<W: QuantElem>(
    kernel: Kernel,
    w: &[W],
    (n, k): (usize, usize),
    s: &mut PackScratch,
) {
    let sw = 128 - activation_shift::<W>().unwrap_or(128);
    let (nr, _) = kernel.panel(n);
    let kp = k.div_ceil(kernel.group()) * kernel.group();
    if kernel.byte_groups() {
        pack_b::<_, _, 4>(
            w,
            k,
            (n, k, kp),
            sw,
            nr,
            &mut s.b8,
            &mut s.colsum,
            &mut s.tmp8,
        );
    } else {
        pack_b::<_, _, 2>(
            w,
            k,
            (n, k, kp),
            sw,
            nr,
            &mut s.b16,
            &mut s.colsum,
            &mut s.tmp16,
        );
    }
}

impl PackedI8 {
    pub(super) fn new<W: QuantElem>(
        kernel: Kernel,
        form: Form,
        w: &[W],
        groups: usize,
        n: usize,
        k: usize,
    ) -> Self {
        let mut group_len = 0;
        let (mut b8, mut b16) = (Vec::new(), Vec::new());
        let mut colsum = Vec::with_capacity(groups * n);
        let mut s = PackScratch::default();
        for g in 0..groups {
            let wg = &w[g * n * k..(g + 1) * n * k];
            match form {
                Form::Panels => pack_panels(kernel, wg, (n, k), &mut s),
                Form::Rows => {
                    let sw = 128 - activation_shift::<W>().unwrap_or(128);
                    let kp = k.div_ceil(gemv_chunk(kernel)) * gemv_chunk(kernel);
                    let len = n.div_ceil(4) * 4 * kp;
                    s.colsum.clear();
                    if kernel.byte_groups() {
                        s.b8.clear();
                        s.b8.resize(len, 0);
                        for (row, dst) in wg.chunks_exact(k).zip(s.b8.chunks_exact_mut(kp)) {
                            s.colsum.push(widen_row(row, sw, dst));
                        }
                    } else {
                        s.b16.clear();
                        s.b16.resize(len, 0);
                        for (row, dst) in wg.chunks_exact(k).zip(s.b16.chunks_exact_mut(kp)) {
                            s.colsum.push(widen_row(row, sw, dst));
                        }
                    }
                }
            }
            if kernel.byte_groups() {
                group_len = s.b8.len();
                b8.extend_from_slice(&s.b8);
            } else {
                group_len = s.b16.len();
                b16.extend_from_slice(&s.b16);
            }
            colsum.extend_from_slice(&s.colsum[..n]);
        }
        PackedI8 {
            kernel,
            form,
            groups,
            n,
            k,
            group_len,
            b8: AlignedBuf::pooled(&b8),
            b16: AlignedBuf::pooled(&b16),
            colsum,
        }
    }

    /// Heap bytes held.
    pub fn bytes(&self) -> usize {
        self.b8.len() + 2 * self.b16.len() + 4 * self.colsum.len()
    }

    /// Group `g` as tiles read it, if the packing fits this call.
    pub(super) fn view(
        &self,
        kernel: Kernel,
        form: Form,
        (groups, n, k): (usize, usize, usize),
        g: usize,
    ) -> Option<PackedView<'_>> {
        if (self.kernel, self.form, self.groups, self.n, self.k) != (kernel, form, groups, n, k) {
            return None;
        }
        let range = g * self.group_len..(g + 1) * self.group_len;
        Some(PackedView {
            b8: self.b8.get(range.clone()).unwrap_or_default(),
            b16: self.b16.get(range).unwrap_or_default(),
            colsum: self.colsum.get(g * n..(g + 1) * n)?,
        })
    }
}
