//! The operators the integer pass adds once every tensor has its type: requantizing QUANTIZEs in
//! front of shared-scale operators, the model's input/output conversions, and the
//! DEQUANTIZE / QUANTIZE pairs around operators that stay float.
//!
//! Tensor names follow the converter each scheme imitates. int8 (TF's MLIR quantizer): the first
//! quantized model input is `tfl.quantize`, a quantized model output keeps its name on the float
//! (or uint8) side and the integer side gets a number appended, float fallbacks add
//! `tfl.dequantize` / `tfl.quantize<n>`. int16x8 (TF's legacy quantizer): integer sides are
//! `<name>_int16`, DEQUANTIZE outputs `<name>_float`, requantized inputs `<name>_requantized`.

use super::spec::{OpSpec, Scheme};
use crate::error::{QuantError, Result};
use crate::graph::{consumers, names, producers, unique_name};
use crate::params::Affine;
use crate::Io;
use ferrolite_model::tflite::BuiltinOperator as B;
use ferrolite_model::{DType, Operator, Quantization, Subgraph, Tensor};
use std::collections::{HashMap, HashSet};

/// Operators to add, positioned relative to the original operator list.
struct Edits {
    front: Vec<Operator>,
    before: Vec<Vec<Operator>>,
    after: Vec<Vec<Operator>>,
    back: Vec<Operator>,
}

/// The pass state: the subgraph, names in use, and where each tensor's values come from.
pub(crate) struct Rewriter<'a> {
    sg: &'a mut Subgraph,
    specs: &'a [Option<OpSpec>],
    scheme: Scheme,
    taken: HashSet<String>,
    /// For each tensor, the original tensor holding the same values (for error reports).
    origin: Vec<usize>,
    edits: Edits,
}

/// `base` itself when unused, else `base` with a number appended.
fn unique_name_or(taken: &mut HashSet<String>, base: &str) -> String {
    if taken.insert(base.to_string()) {
        base.to_string()
    } else {
        unique_name(taken, base)
    }
}

/// What a new tensor is for (decides its name).
#[derive(Clone, Copy)]
enum Purpose {
    Requantize,
    ModelInput,
    ModelOutput,
    FallbackQuantize,
    FallbackDequantize,
}

fn operator(kind: B, from: usize, to: usize, version: i32) -> Operator {
    let mut op = Operator::new(kind, vec![Some(from)], vec![Some(to)]);
    op.version = version;
    op
}

impl<'a> Rewriter<'a> {
    /// A rewriter over `sg` whose operators have `specs` (`None`: stays float).
    pub fn new(sg: &'a mut Subgraph, specs: &'a [Option<OpSpec>], scheme: Scheme) -> Self {
        let n = sg.operators.len();
        Rewriter {
            taken: names(sg),
            origin: (0..sg.tensors.len()).collect(),
            edits: Edits {
                front: Vec::new(),
                before: vec![Vec::new(); n],
                after: vec![Vec::new(); n],
                back: Vec::new(),
            },
            sg,
            specs,
            scheme,
        }
    }

    fn name(&mut self, src: usize, purpose: Purpose) -> String {
        let own = self.sg.tensors[src].name.clone();
        let base = match (self.scheme, purpose) {
            (Scheme::Int8, Purpose::Requantize | Purpose::ModelOutput) => {
                return unique_name(&mut self.taken, &own)
            }
            (Scheme::Int8, Purpose::ModelInput | Purpose::FallbackQuantize) => {
                "tfl.quantize".to_string()
            }
            (Scheme::Int8, Purpose::FallbackDequantize) => "tfl.dequantize".to_string(),
            (Scheme::Int16x8, Purpose::Requantize) => format!("{own}_requantized"),
            (Scheme::Int16x8, Purpose::FallbackDequantize) => format!("{own}_float"),
            (Scheme::Int16x8, _) => format!("{own}_int16"),
        };
        unique_name_or(&mut self.taken, &base)
    }

    /// Appends a copy of tensor `src` (shape, type, parameters) named for `purpose`.
    fn copy_of(&mut self, src: usize, purpose: Purpose) -> usize {
        let mut t: Tensor = self.sg.tensors[src].clone();
        t.name = self.name(src, purpose);
        self.sg.tensors.push(t);
        self.origin.push(self.origin[src]);
        self.sg.tensors.len() - 1
    }

    /// QUANTIZE version for operators the legacy quantizer adds before versioning (2), and for
    /// everything else (1; the int8 pass re-derives versions afterwards anyway).
    fn inner_quantize_version(&self) -> i32 {
        match self.scheme {
            Scheme::Int8 => 1,
            Scheme::Int16x8 => 2,
        }
    }

    /// Inserts a QUANTIZE in front of each listed operator input, converting it to the
    /// operator's output parameters.
    pub fn requantize(&mut self, requant: &[(usize, usize)], params: &[Option<Affine>]) {
        for &(o, slot) in requant {
            let Some(src) = self.sg.operators[o].inputs[slot] else {
                continue;
            };
            let Some(target) = self.sg.operators[o].outputs[0].and_then(|t| params[t]) else {
                continue;
            };
            let new = self.copy_of(src, Purpose::Requantize);
            self.sg.tensors[new].quantization =
                Some(Quantization::per_tensor(target.scale, target.zero_point));
            self.sg.operators[o].inputs[slot] = Some(new);
            let v = self.inner_quantize_version();
            self.edits.before[o].push(operator(B::Quantize, src, new, v));
        }
    }

    fn is_quantized_activation(&self, t: usize) -> bool {
        let tensor = &self.sg.tensors[t];
        tensor.dtype == self.scheme.act_dtype() && tensor.data.is_none()
    }

    /// The uint8 view of an int8 tensor's parameters (zero point + 128), as TF's converter
    /// makes uint8 model inputs and outputs.
    fn retype_uint8(&mut self, t: usize) -> Result<()> {
        let tensor = &mut self.sg.tensors[t];
        let q = tensor.quantization.clone().unwrap_or_default();
        let (Some(&scale), Some(&zp)) = (q.scale.first(), q.zero_point.first()) else {
            return Err(QuantError::tensor(
                self.sg,
                t,
                "has no quantization parameters",
            ));
        };
        tensor.dtype = DType::U8;
        tensor.quantization = Some(Quantization::per_tensor(scale, zp + 128));
        Ok(())
    }

    /// Makes the model's inputs and outputs the type `io` asks for: float (QUANTIZE after each
    /// input, DEQUANTIZE before each output) or uint8 (QUANTIZE uint8→int8 and int8→uint8);
    /// integer I/O of the activation type needs nothing.
    pub fn model_io(&mut self, io: Io) -> Result<()> {
        match (io, self.scheme) {
            (Io::Float, _) | (Io::Int8, Scheme::Int8) | (Io::Int16, Scheme::Int16x8) => {}
            (Io::Uint8, Scheme::Int8) => {}
            (io, scheme) => {
                return Err(QuantError::Unsupported(format!(
                    "{} model inputs/outputs do not go with {} activations",
                    io.name(),
                    scheme.act_name()
                )))
            }
        }
        if matches!(io, Io::Int8 | Io::Int16) {
            return Ok(());
        }
        let uses = consumers(self.sg);
        for t in self.sg.inputs.clone() {
            if !self.is_quantized_activation(t) {
                continue;
            }
            let q = self.copy_of(t, Purpose::ModelInput);
            for &(o, slot) in &uses[t] {
                if io == Io::Uint8 || self.specs[o].is_some() {
                    self.sg.operators[o].inputs[slot] = Some(q);
                }
            }
            if io == Io::Uint8 {
                self.retype_uint8(t)?;
            } else {
                self.sg.tensors[t].dtype = DType::F32;
                self.sg.tensors[t].quantization = None;
            }
            self.edits.front.push(operator(B::Quantize, t, q, 1));
        }
        let producer = producers(self.sg);
        let uses = consumers(self.sg);
        for t in self.sg.outputs.clone() {
            let Some(p) = producer[t].filter(|&p| self.specs[p].is_some()) else {
                continue; // a constant, a model input or a float operator's output
            };
            if !self.is_quantized_activation(t) {
                continue;
            }
            let n = self.copy_of(t, Purpose::ModelOutput);
            for slot in self.sg.operators[p].outputs.iter_mut() {
                if *slot == Some(t) {
                    *slot = Some(n);
                }
            }
            for &(o, slot) in &uses[t] {
                self.sg.operators[o].inputs[slot] = Some(n);
            }
            let op = if io == Io::Uint8 {
                self.retype_uint8(t)?;
                operator(B::Quantize, n, t, 1)
            } else {
                let tensor = &mut self.sg.tensors[t];
                tensor.dtype = DType::F32;
                tensor.quantization = None;
                operator(B::Dequantize, n, t, 2)
            };
            self.edits.back.push(op);
        }
        Ok(())
    }

    /// Adds the conversions around operators that stay float: a QUANTIZE after each float
    /// output that quantized operators read (the float tensor keeps `float_minmax` as TF's
    /// legacy quantizer leaves it), and a DEQUANTIZE in front of the first float reader of each
    /// quantized tensor.
    pub fn float_fallback(&mut self, float_minmax: &[Option<(f32, f32)>]) {
        let n_ops = self.specs.len();
        let producer = producers(self.sg);
        let uses = consumers(self.sg);
        for t in 0..self.sg.tensors.len() {
            let Some(p) = producer[t].filter(|&p| p < n_ops && self.specs[p].is_none()) else {
                continue;
            };
            if !self.is_quantized_activation(t) {
                continue;
            }
            let q = self.copy_of(t, Purpose::FallbackQuantize);
            for &(o, slot) in &uses[t] {
                if o < n_ops && self.specs[o].is_some() {
                    self.sg.operators[o].inputs[slot] = Some(q);
                }
            }
            let tensor = &mut self.sg.tensors[t];
            tensor.dtype = DType::F32;
            tensor.quantization = match (self.scheme, float_minmax.get(t).copied().flatten()) {
                (Scheme::Int16x8, Some((lo, hi))) => Some(Quantization {
                    min: vec![lo],
                    max: vec![hi],
                    ..Default::default()
                }),
                _ => None,
            };
            let v = self.inner_quantize_version();
            self.edits.after[p].push(operator(B::Quantize, t, q, v));
        }
        let mut float_copy: HashMap<usize, usize> = HashMap::new();
        for o in 0..n_ops {
            if self.specs[o].is_some() {
                continue;
            }
            for slot in 0..self.sg.operators[o].inputs.len() {
                let Some(t) = self.sg.operators[o].inputs[slot] else {
                    continue;
                };
                if !self.is_quantized_activation(t) {
                    continue;
                }
                let f = match float_copy.get(&t) {
                    Some(&f) => f,
                    None => {
                        let f = self.copy_of(t, Purpose::FallbackDequantize);
                        let tensor = &mut self.sg.tensors[f];
                        tensor.dtype = DType::F32;
                        tensor.quantization = None;
                        self.edits.before[o].push(operator(B::Dequantize, t, f, 2));
                        float_copy.insert(t, f);
                        f
                    }
                };
                self.sg.operators[o].inputs[slot] = Some(f);
            }
        }
    }

    /// Applies the pending operator insertions; returns the number of operators added and,
    /// for every tensor, the original tensor holding the same values.
    pub fn finish(self) -> (usize, Vec<usize>) {
        let Edits {
            front,
            before,
            after,
            back,
        } = self.edits;
        let original = std::mem::take(&mut self.sg.operators);
        let mut ops = front;
        for ((op, b), a) in original.into_iter().zip(before).zip(after) {
            ops.extend(b);
            ops.push(op);
            ops.extend(a);
        }
        ops.extend(back);
        let added = ops.len() - self.specs.len();
        self.sg.operators = ops;
        (added, self.origin)
    }
}
