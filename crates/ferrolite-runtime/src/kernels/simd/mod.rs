//! SIMD fast paths behind the scalar kernels, chosen at run time from the CPU's features.
//!
//! The public kernels (`conv::conv2d`, `matmul::fully_connected`, `quant::conv::conv2d`, …) keep
//! their signatures and scalar bodies; they ask [`level`] once per call and, when a vector level
//! is available and the problem has a fast path, hand the work to the functions here. The scalar
//! code stays the reference every path is tested against (f32 within 1e-5 relative, integer
//! kernels bit for bit).
//!
//! Levels ([`Level`]): `Scalar`; on x86-64 `Avx2` (AVX2 + FMA; the integer GEMM additionally
//! uses the 256-bit VEX `vpdpbusd` of AVX-VNNI when the CPU has it, see [`Features::avxvnni`])
//! and `Avx512` (AVX-512 F/BW/VL/DQ; the integer GEMM additionally uses AVX-512 VNNI when the CPU
//! has it, see [`Features::vnni`]); on aarch64 `Neon` (baseline there; the integer GEMM uses SDOT
//! when the CPU has the dot-product extension, see [`Features::dotprod`]). The environment
//! variable `FERROLITE_SIMD` caps the level (`scalar`, `avx2`, `avx512` or `neon`; `avx2-novnni`
//! is `avx2` with AVX-VNNI off, `neon-nodot` turns SDOT off), read once per process, so fixtures
//! can be checked with every dispatch level forced. Other targets run scalar.
//!
//! Modules:
//! * [`gemm_f32`] — packed f32 GEMM `C = A · Wᵀ + bias` with a clamp; [`conv_f32`] drives it for
//!   CONV_2D (1x1 directly, other shapes through im2col) and FULLY_CONNECTED, with weights packed
//!   once at prepare time ([`conv_f32::PackedF32`]); convolutions over 1–4 input channels run
//!   directly, without im2col (`conv_direct`).
//! * [`dwconv_f32`] — f32 DEPTHWISE_CONV_2D vectorized over channels.
//! * [`gemm_i8`] — 8-bit GEMM with int32 accumulation (AVX-512 VNNI `vpdpbusd`, AVX-VNNI
//!   256-bit `vpdpbusd` (`i8_avxvnni`) or AVX2 `vpmaddwd` on int16) and TFLite's requantization
//!   in the store.
//! * [`dwconv_i8`] — int8 DEPTHWISE_CONV_2D vectorized over channels (also the dynamic-range
//!   depthwise and the direct int8 CONV_2D over few input channels).
//! * [`dwconv_vnni`] — int8 DEPTHWISE_CONV_2D on AVX-512 VNNI, or AVX-VNNI at the `Avx2` level
//!   (four horizontal taps per `vpdpbusd`, filter packed at prepare time).
//! * [`add_i8`] — quantized ADD / SUB of same-shape 8-bit tensors.
//! * [`quantize_f32`] — the per-call input quantization of the dynamic-range kernels.
//! * [`parallel`] — the thread budget ([`parallel::with_threads`]) and the pool that runs the
//!   drivers' output tiles on several threads with results independent of the thread count.
//! * [`aligned`] — 64-byte aligned read-only storage of packed weights, with opt-in huge-page
//!   backing and pooling (`FERROLITE_HUGEPAGES=on`); its allocation code is the one `unsafe`
//!   module besides the micro-kernels.
//!
//! * `f32_neon`, `dwconv_neon`, `i8_neon`, `requant_neon`, `add_neon`, `hybrid_neon`,
//!   `quantize_neon`, `conv_direct_neon` — the aarch64 kernels: f32 GEMM / GEMV, f32 and 8-bit
//!   depthwise, the integer GEMM over the same packed layouts (SDOT or `smlal`), the requantizing
//!   store, quantized ADD, the dynamic-range depthwise and input quantization, and the f32 direct
//!   conv over few input channels, hooked into the drivers above by
//!   `cfg(target_arch = "aarch64")` arms (tested under qemu-user; unmeasured on real hardware).
//!
//! Unsafe code is confined to the `*_x86` and `*_neon` micro-kernel modules: every intrinsic call sits in a
//! `#[target_feature]` function that is only reached after the matching feature was detected, and
//! pointer arithmetic is preceded by explicit length checks in the safe drivers.

use std::cell::RefCell;
use std::sync::OnceLock;

pub mod add_i8;
pub mod aligned;
mod conv_direct;
pub mod conv_f32;
pub mod dwconv_f32;
pub mod dwconv_i8;
pub mod dwconv_vnni;
pub mod gemm_f32;
mod gemm_hybrid;
pub mod gemm_i8;
mod i8_tiles;
pub mod im2col;
mod pack_i8;
mod packed_i8;
pub mod parallel;
pub mod quantize_f32;
pub mod requant;

#[cfg(target_arch = "x86_64")]
mod add_x86;
#[cfg(target_arch = "x86_64")]
mod avxvnni_x86;
#[cfg(target_arch = "x86_64")]
mod conv_direct_x86;
#[cfg(target_arch = "x86_64")]
mod conv_vnni;
#[cfg(target_arch = "x86_64")]
mod conv_vnni_x86;
#[cfg(target_arch = "x86_64")]
mod dw_window_x86;
#[cfg(target_arch = "x86_64")]
mod dwconv_vnni_x86;
#[cfg(target_arch = "x86_64")]
mod dwconv_x86;
#[cfg(target_arch = "x86_64")]
mod f32_x86;
#[cfg(target_arch = "x86_64")]
mod i8_avxvnni;
#[cfg(target_arch = "x86_64")]
mod i8_x86;
#[cfg(target_arch = "x86_64")]
mod quantize_x86;
#[cfg(target_arch = "x86_64")]
mod requant_x86;
#[cfg(target_arch = "x86_64")]
mod vec_f32_x86;

#[cfg(target_arch = "aarch64")]
mod add_neon;
#[cfg(target_arch = "aarch64")]
mod conv_direct_neon;
#[cfg(target_arch = "aarch64")]
mod dwconv_neon;
#[cfg(target_arch = "aarch64")]
mod f32_neon;
#[cfg(target_arch = "aarch64")]
mod hybrid_neon;
#[cfg(target_arch = "aarch64")]
mod i8_neon;
#[cfg(target_arch = "aarch64")]
mod quantize_neon;
#[cfg(target_arch = "aarch64")]
mod requant_neon;

#[cfg(all(test, target_arch = "aarch64"))]
mod neon_timing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_i8;
#[cfg(test)]
mod tests_parallel;

/// A SIMD dispatch level. Within one architecture the order holds (a higher level implies the
/// lower ones are usable); `Neon` (aarch64) sorts below the x86 levels so that `level >= Avx2`
/// tests stay false on aarch64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Portable scalar reference code.
    Scalar,
    /// aarch64 Advanced SIMD (128-bit), always present on aarch64.
    Neon,
    /// x86-64 AVX2 + FMA (256-bit).
    Avx2,
    /// x86-64 AVX-512 F + BW + VL + DQ (512-bit).
    Avx512,
}

/// What the running CPU offers, after the `FERROLITE_SIMD` cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Highest usable level.
    pub level: Level,
    /// AVX-512 VNNI (`vpdpbusd`) is present and `level` is `Avx512`.
    pub vnni: bool,
    /// AVX-VNNI (VEX-encoded 256-bit `vpdpbusd`) is present, `level` is at least `Avx2` and
    /// `FERROLITE_SIMD` is not `avx2-novnni`. Only kernels running at the `Avx2` level use it
    /// (the `Avx512` level has its own VNNI).
    pub avxvnni: bool,
    /// The aarch64 dot-product extension (`SDOT`) is present and `level` is `Neon`.
    pub dotprod: bool,
}

fn detect() -> Features {
    let cap = std::env::var("FERROLITE_SIMD");
    let cap = cap.as_deref().unwrap_or("");
    let (hw, vnni, avxvnni, dotprod) = hardware();
    let level = match cap {
        "scalar" | "none" => Level::Scalar,
        "avx2" | "avx2-novnni" if hw == Level::Avx512 => Level::Avx2,
        _ => hw,
    };
    Features {
        level,
        vnni: vnni && level == Level::Avx512,
        avxvnni: avxvnni && level >= Level::Avx2 && cap != "avx2-novnni",
        dotprod: dotprod && level == Level::Neon && cap != "neon-nodot",
    }
}

#[cfg(target_arch = "x86_64")]
fn hardware() -> (Level, bool, bool, bool) {
    let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    let avxvnni = avx2 && is_x86_feature_detected!("avxvnni");
    let avx512 = avx2
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512dq");
    let vnni = avx512 && is_x86_feature_detected!("avx512vnni");
    let level = if avx512 {
        Level::Avx512
    } else if avx2 {
        Level::Avx2
    } else {
        Level::Scalar
    };
    (level, vnni, avxvnni, false)
}

#[cfg(target_arch = "aarch64")]
fn hardware() -> (Level, bool, bool, bool) {
    let dotprod = std::arch::is_aarch64_feature_detected!("dotprod");
    (Level::Neon, false, false, dotprod)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn hardware() -> (Level, bool, bool, bool) {
    (Level::Scalar, false, false, false)
}

/// The detected features (cached after the first call).
pub fn features() -> Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    *FEATURES.get_or_init(detect)
}

/// The detected dispatch level (see [`features`]).
pub fn level() -> Level {
    features().level
}

/// Every level usable on this machine, lowest first (for tests that force each one).
pub fn available_levels() -> Vec<Level> {
    let top = level();
    let arch: &[Level] = if cfg!(target_arch = "aarch64") {
        &[Level::Scalar, Level::Neon]
    } else {
        &[Level::Scalar, Level::Avx2, Level::Avx512]
    };
    arch.iter().copied().filter(|&l| l <= top).collect()
}

thread_local! {
    static SCRATCH_F32: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_F32_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a per-thread f32 scratch buffer of at least `len` elements (used by a driver
/// for operands shared by all its tiles, such as weights packed per call).
///
/// The buffer persists across calls (no allocation once it is large enough); its contents on
/// entry are unspecified. Calls must not nest.
pub(crate) fn with_scratch_a<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_scratch(&SCRATCH_F32, len, f)
}

/// Like [`with_scratch_a`] with a second buffer, for per-tile data (im2col patches); it may be
/// used inside a [`with_scratch_a`] call.
pub(crate) fn with_scratch_b<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_scratch(&SCRATCH_F32_B, len, f)
}

fn with_scratch<R>(
    key: &'static std::thread::LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|buf| {
        let mut buf = buf.borrow_mut();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}
