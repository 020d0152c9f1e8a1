//! Bit-exactness of the integer kernels (`kernels::quant`) against LiteRT on the int8 fixtures.
//!
//! Op glue for quantized models does not exist yet, so this harness walks each
//! `tests/fixtures/<m>/<m>_int8.tflite` graph itself: it reads the model with `ferrolite_model`,
//! prepares every operator's integer parameters with the `*_params` functions from the tensors'
//! scales and zero points, runs the kernels in graph order on `<m>_int8.in.npy` (batch 16) and
//! compares the output with `<m>_int8.out.npy`, LiteRT's output with its own TFLite kernels
//! (`BUILTIN_WITHOUT_DEFAULT_DELEGATES`). The acceptance bar is zero mismatching values.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferrolite_model::tflite::{BuiltinOperator as B, BuiltinOptions as O};
use ferrolite_model::{DType, Model, Tensor};
use ferrolite_runtime::kernels::common::Activation;
use ferrolite_runtime::kernels::conv::{
    conv2d_output_shape, depthwise_conv2d_output_shape, Conv2DParams,
};
use ferrolite_runtime::kernels::pool::{pool2d_output_shape, Pool2DParams};
use ferrolite_runtime::kernels::quant::{
    conv, elementwise, fully_connected, pool, reduce, softmax, QuantParams,
};
use ferrolite_runtime::ops::{activation, padding};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A parsed `.npy` array of int8 values (the only kind the int8 fixtures hold).
struct NpyI8 {
    shape: Vec<usize>,
    data: Vec<i8>,
}

/// Minimal `.npy` reader for C-order `|i1` arrays (format versions 1-3).
fn read_npy_i8(path: &Path) -> NpyI8 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{}: bad magic", path.display());
    let (header_len, start) = if bytes[6] == 1 {
        (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10)
    } else {
        let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        (n as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).expect("utf8 header");
    assert!(header.contains("'descr': '|i1'"), "not int8: {header}");
    assert!(
        header.contains("'fortran_order': False"),
        "fortran order: {header}"
    );
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("shape");
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("dim"))
        .collect();
    let data: Vec<i8> = bytes[start + header_len..]
        .iter()
        .map(|&b| b as i8)
        .collect();
    assert_eq!(data.len(), shape.iter().product::<usize>());
    NpyI8 { shape, data }
}

/// Per-tensor quantization of a tensor (first scale / zero point).
fn qparams(t: &Tensor) -> QuantParams {
    let q = t.quantization.as_ref().expect("quantized tensor");
    QuantParams::new(q.scale[0], q.zero_point[0] as i32)
}

/// All scales of a (possibly per-channel) tensor.
fn scales(t: &Tensor) -> Vec<f32> {
    t.quantization
        .as_ref()
        .expect("quantized tensor")
        .scale
        .clone()
}

fn const_i8(t: &Tensor) -> Vec<i8> {
    assert_eq!(t.dtype, DType::I8);
    t.data
        .as_ref()
        .expect("constant")
        .iter()
        .map(|&b| b as i8)
        .collect()
}

fn const_i32(t: &Tensor) -> Vec<i32> {
    assert_eq!(t.dtype, DType::I32);
    t.data
        .as_ref()
        .expect("constant")
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn dims4(shape: &[usize]) -> [usize; 4] {
    shape.try_into().expect("rank-4 tensor")
}

fn dims4_i32(shape: &[i32]) -> [usize; 4] {
    let v: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    dims4(&v)
}

/// An int8 activation with its runtime shape.
#[derive(Clone)]
struct Act {
    shape: Vec<usize>,
    data: Vec<i8>,
}

/// Runs subgraph 0 of an all-int8 model on `input` and returns every computed activation.
fn run_int8(model: &Model, input: Act, name: &str) -> HashMap<usize, Act> {
    let g = &model.subgraphs[0];
    let mut acts: HashMap<usize, Act> = HashMap::new();
    acts.insert(g.inputs[0], input);
    for op in &g.operators {
        let ins: Vec<usize> = op.inputs.iter().map(|i| i.expect("input")).collect();
        let out_idx = op.outputs[0].expect("output");
        let out_t = &g.tensors[out_idx];
        if let Ok(dir) = std::env::var("QK_ISOLATE") {
            for &i in &ins {
                if let Some(a) = acts.get_mut(&i) {
                    let b = std::fs::read(format!("{dir}/{name}_t{i}.bin")).unwrap();
                    a.data = b.iter().map(|&v| v as i8).collect();
                }
            }
        }
        let x = acts[&ins[0]].clone();
        let x_t = &g.tensors[ins[0]];
        let result = match op.kind.builtin() {
            B::Reshape => {
                let target: Vec<i64> = match op.inputs.get(1).copied().flatten() {
                    Some(s) => const_i32(&g.tensors[s])
                        .iter()
                        .map(|&d| i64::from(d))
                        .collect(),
                    None => match &op.options {
                        Some(O::ReshapeOptions(o)) => o
                            .new_shape
                            .clone()
                            .unwrap_or_default()
                            .iter()
                            .map(|&d| i64::from(d))
                            .collect(),
                        _ => panic!("reshape without shape"),
                    },
                };
                let total: usize = x.shape.iter().product();
                let known: usize = target
                    .iter()
                    .filter(|&&d| d >= 0)
                    .map(|&d| d as usize)
                    .product();
                let mut shape: Vec<usize> = target
                    .iter()
                    .map(|&d| if d < 0 { total / known } else { d as usize })
                    .collect();
                // A static batch of 1 in the shape operand follows the resized batch.
                if shape.iter().product::<usize>() != total && shape[0] == 1 {
                    shape[0] = total / shape[1..].iter().product::<usize>();
                }
                Act {
                    shape,
                    data: x.data,
                }
            }
            B::Conv2d | B::DepthwiseConv2d => {
                let w_t = &g.tensors[ins[1]];
                let w = const_i8(w_t);
                let bias = ins.get(2).map(|&b| const_i32(&g.tensors[b]));
                let (geometry, depthwise) = match &op.options {
                    Some(O::Conv2DOptions(o)) => (
                        Conv2DParams {
                            padding: padding(o.padding),
                            stride_h: o.stride_h as usize,
                            stride_w: o.stride_w as usize,
                            dilation_h: o.dilation_h_factor as usize,
                            dilation_w: o.dilation_w_factor as usize,
                            activation: activation(o.fused_activation_function),
                        },
                        false,
                    ),
                    Some(O::DepthwiseConv2DOptions(o)) => (
                        Conv2DParams {
                            padding: padding(o.padding),
                            stride_h: o.stride_h as usize,
                            stride_w: o.stride_w as usize,
                            dilation_h: o.dilation_h_factor as usize,
                            dilation_w: o.dilation_w_factor as usize,
                            activation: activation(o.fused_activation_function),
                        },
                        true,
                    ),
                    other => panic!("conv options {other:?}"),
                };
                let in_shape = dims4(&x.shape);
                let w_shape = dims4_i32(&w_t.shape);
                let out_c = if depthwise { w_shape[3] } else { w_shape[0] };
                let wq = w_t.quantization.as_ref().expect("weights quantized");
                let w_zp = wq.zero_point.first().copied().unwrap_or(0) as i32;
                let bias_len = bias.as_ref().map(Vec::len);
                let mut out = Act {
                    shape: vec![],
                    data: vec![],
                };
                if depthwise {
                    let p = conv::depthwise_conv_params::<i8, i8>(
                        &geometry,
                        qparams(x_t),
                        &scales(w_t),
                        w_zp,
                        qparams(out_t),
                        out_c,
                    )
                    .unwrap();
                    let os = depthwise_conv2d_output_shape(&geometry, in_shape, w_shape, bias_len)
                        .unwrap();
                    out.data = vec![0; os.iter().product()];
                    conv::depthwise_conv2d(
                        &p,
                        &x.data,
                        in_shape,
                        &w,
                        w_shape,
                        bias.as_deref(),
                        &mut out.data,
                        os,
                    );
                    out.shape = os.to_vec();
                } else {
                    let mut p = conv::conv_params::<i8, i8>(
                        &geometry,
                        qparams(x_t),
                        &scales(w_t),
                        w_zp,
                        qparams(out_t),
                        out_c,
                    )
                    .unwrap();
                    if std::env::var("QK_DOUBLE").is_ok() {
                        p.rounding =
                            ferrolite_runtime::kernels::quant::fixed_point::Rounding::Double;
                    }
                    let os = conv2d_output_shape(&geometry, in_shape, w_shape, bias_len).unwrap();
                    out.data = vec![0; os.iter().product()];
                    conv::conv2d(
                        &p,
                        &x.data,
                        in_shape,
                        &w,
                        w_shape,
                        bias.as_deref(),
                        &mut out.data,
                        os,
                    );
                    out.shape = os.to_vec();
                }
                out
            }
            B::FullyConnected => {
                let w_t = &g.tensors[ins[1]];
                let w = const_i8(w_t);
                let bias = ins.get(2).map(|&b| const_i32(&g.tensors[b]));
                let act = match &op.options {
                    Some(O::FullyConnectedOptions(o)) => activation(o.fused_activation_function),
                    _ => Activation::None,
                };
                let (units, depth) = (w_t.shape[0] as usize, w_t.shape[1] as usize);
                let w_zp = w_t.quantization.as_ref().unwrap().zero_point[0] as i32;
                let mut p = fully_connected::fully_connected_params::<i8, i8>(
                    qparams(x_t),
                    &scales(w_t),
                    w_zp,
                    qparams(out_t),
                    act,
                    units,
                )
                .unwrap();
                if std::env::var("QK_DOUBLE").is_ok() {
                    p.rounding = ferrolite_runtime::kernels::quant::fixed_point::Rounding::Double;
                }
                let batches = x.data.len() / depth;
                let mut data = vec![0i8; batches * units];
                fully_connected::fully_connected(
                    &p,
                    &x.data,
                    &w,
                    bias.as_deref(),
                    depth,
                    &mut data,
                );
                Act {
                    shape: vec![batches, units],
                    data,
                }
            }
            B::MaxPool2d | B::AveragePool2d => {
                let o = match &op.options {
                    Some(O::Pool2DOptions(o)) => o,
                    other => panic!("pool options {other:?}"),
                };
                let geometry = Pool2DParams {
                    padding: padding(o.padding),
                    stride_h: o.stride_h as usize,
                    stride_w: o.stride_w as usize,
                    filter_h: o.filter_height as usize,
                    filter_w: o.filter_width as usize,
                    activation: activation(o.fused_activation_function),
                };
                let in_shape = dims4(&x.shape);
                let os = pool2d_output_shape(&geometry, in_shape).unwrap();
                let p = pool::pool_params::<i8>(&geometry, qparams(out_t));
                let mut data = vec![0i8; os.iter().product()];
                if op.kind.builtin() == B::MaxPool2d {
                    pool::max_pool2d(&p, &x.data, in_shape, &mut data, os);
                } else {
                    pool::average_pool2d(&p, &x.data, in_shape, &mut data, os);
                }
                Act {
                    shape: os.to_vec(),
                    data,
                }
            }
            B::Add => {
                let y = acts[&ins[1]].clone();
                let act = match &op.options {
                    Some(O::AddOptions(o)) => activation(o.fused_activation_function),
                    _ => Activation::None,
                };
                let p = elementwise::add_params::<i8>(
                    qparams(x_t),
                    qparams(&g.tensors[ins[1]]),
                    qparams(out_t),
                    act,
                )
                .unwrap();
                let mut data = vec![0i8; x.data.len().max(y.data.len())];
                elementwise::add(&p, &x.data, &x.shape, &y.data, &y.shape, &mut data).unwrap();
                let shape = if x.data.len() >= y.data.len() {
                    x.shape.clone()
                } else {
                    y.shape.clone()
                };
                Act { shape, data }
            }
            B::Mean => {
                let axes: Vec<usize> = const_i32(&g.tensors[ins[1]])
                    .iter()
                    .map(|&a| {
                        if a < 0 {
                            (a + x.shape.len() as i32) as usize
                        } else {
                            a as usize
                        }
                    })
                    .collect();
                let keep_dims = match &op.options {
                    Some(O::ReducerOptions(o)) => o.keep_dims,
                    _ => false,
                };
                let count: usize = axes.iter().map(|&a| x.shape[a]).product();
                let kept: Vec<usize> = (0..x.shape.len())
                    .map(|d| if axes.contains(&d) { 1 } else { x.shape[d] })
                    .collect();
                let shape: Vec<usize> = if keep_dims {
                    kept.clone()
                } else {
                    (0..x.shape.len())
                        .filter(|d| !axes.contains(d))
                        .map(|d| x.shape[d])
                        .collect()
                };
                let mut data = vec![0i8; kept.iter().product()];
                let mut sorted = axes.clone();
                sorted.sort_unstable();
                if keep_dims && x.shape.len() == 4 && sorted == [1, 2] {
                    let p = reduce::mean_hw_params(qparams(x_t), qparams(out_t), count);
                    reduce::mean_hw(&p, &x.data, dims4(&x.shape), &mut data);
                } else {
                    let p =
                        reduce::mean_params(qparams(x_t), qparams(out_t), count, false).unwrap();
                    reduce::mean(&p, &x.data, &x.shape, &axes, &mut data);
                }
                Act { shape, data }
            }
            B::Softmax => {
                let beta = match &op.options {
                    Some(O::SoftmaxOptions(o)) => o.beta,
                    _ => 1.0,
                };
                let p = softmax::softmax_params::<i8>(qparams(x_t), beta, qparams(out_t)).unwrap();
                let depth = *x.shape.last().unwrap();
                let mut data = vec![0i8; x.data.len()];
                softmax::softmax(&p, &x.data, depth, &mut data);
                Act {
                    shape: x.shape.clone(),
                    data,
                }
            }
            other => panic!("harness has no {other:?}"),
        };
        if let Ok(dir) = std::env::var("QK_ISOLATE") {
            let b = std::fs::read(format!("{dir}/{name}_t{out_idx}.bin")).unwrap();
            let n = b
                .iter()
                .zip(&result.data)
                .filter(|(x, y)| **x as i8 != **y)
                .count();
            println!(
                "  {name} {:?} -> t{out_idx}: {n} of {} differ",
                op.kind.builtin(),
                b.len()
            );
        }
        acts.insert(out_idx, result);
    }
    acts
}

/// Runs one int8 fixture and returns `(mismatches, max_abs_diff, total)` against LiteRT.
fn check_fixture(name: &str) -> (usize, i32, usize) {
    let dir = fixtures_dir().join(name);
    let model = ferrolite_model::read_file(dir.join(format!("{name}_int8.tflite"))).unwrap();
    let input = read_npy_i8(&dir.join(format!("{name}_int8.in.npy")));
    let want = read_npy_i8(&dir.join(format!("{name}_int8.out.npy")));
    let acts = run_int8(
        &model,
        Act {
            shape: input.shape.clone(),
            data: input.data,
        },
        name,
    );
    if let Ok(dump) = std::env::var("FERROLITE_QUANT_DUMP") {
        // Debug aid: write every activation as raw int8 for comparison with LiteRT's tensors.
        for (idx, act) in &acts {
            let path = Path::new(&dump).join(format!("{name}_t{idx}.bin"));
            let bytes: Vec<u8> = act.data.iter().map(|&v| v as u8).collect();
            std::fs::write(path, bytes).unwrap();
        }
    }
    let got = &acts[&model.subgraphs[0].outputs[0]];
    assert_eq!(got.shape, want.shape, "{name}: output shape");
    let mut mismatches = 0;
    let mut max_diff = 0;
    for (g, w) in got.data.iter().zip(&want.data) {
        let d = (i32::from(*g) - i32::from(*w)).abs();
        if d != 0 {
            mismatches += 1;
            max_diff = max_diff.max(d);
        }
    }
    (mismatches, max_diff, want.data.len())
}

#[test]
fn int8_fixtures_bit_exact_with_litert() {
    let mut failures = Vec::new();
    for name in ["mlp", "cnn_bn", "dwsep_res"] {
        let (mismatches, max_diff, total) = check_fixture(name);
        println!("{name}_int8: {mismatches} of {total} outputs differ, max |diff| {max_diff}");
        if mismatches != 0 {
            failures.push(name);
        }
    }
    assert!(failures.is_empty(), "not bit-exact: {failures:?}");
}
