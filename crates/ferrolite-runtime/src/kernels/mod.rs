//! Scalar reference kernels, one module per op family.
//!
//! Every kernel is a free function over flat slices in TFLite's layout (NHWC activations, OHWI conv
//! filters, 1HWO depthwise filters) plus explicit shapes and a small parameter struct. Kernels never
//! allocate their outputs and never see the model IR: the interpreter resolves tensors, shapes and
//! options and hands plain data down. Shared helpers (padding, fused activations, broadcasting) live
//! in [`common`].

pub mod binary;
pub mod broadcast;
pub mod common;
pub mod conv;
pub mod detection;
pub mod element;
pub mod fill;
pub mod gather;
pub mod generate;
pub mod matmul;
pub mod pad;
pub mod pool;
pub mod quant;
pub mod quantize;
pub mod reduce;
pub mod resize;
pub mod scan;
pub mod simd;
pub mod slice;
pub mod softmax;
pub mod transform;
pub mod unary;
