//! Operator glue: for each builtin, a `prepare` function that validates operands and options,
//! computes output shapes and returns a [`Kernel`] bound to its parameters.
//!
//! The registry ([`lookup`]) maps a `BuiltinOperator` to its [`OpRegistration`]. Op families live in
//! submodules (`arith`, `conv`, ...); each exposes a `register` function adding its entries, each
//! entry declaring the operand-type [`Variant`]s its prepare function accepts and optional notes
//! (known deviations from LiteRT, restrictions). [`registered`] lists them for `ferrolite ops`.

pub mod arith;
pub mod conv;
mod conv_quant;
pub mod detection;
pub mod fill;
pub mod flexbuffer;
pub mod generate;
pub mod logic;
pub mod matmul;
pub mod pad;
pub mod pool;
mod quant;
pub mod quantize;
pub mod reduce;
pub mod resize;
pub mod scan;
pub mod shape;
pub mod slice;
pub mod softmax;
mod support;
pub mod transform;
pub mod unary;

use crate::error::RuntimeError;
use crate::kernels::common::{Activation, KernelError, Padding};
use crate::tensor::{cast, TensorView, TensorViewMut};
use ferrolite_model::tflite::{self, BuiltinOperator};
use ferrolite_model::{DType, Operator, Quantization};
use std::collections::HashMap;
use std::sync::OnceLock;

pub use support::{Variant, VariantSet};

/// What a kernel needs at `invoke`: its operands; parameters were bound at prepare time.
pub trait Kernel: Send + Sync + std::fmt::Debug {
    /// Computes the outputs from the inputs (`None` = omitted optional input).
    fn eval(
        &self,
        inputs: &[Option<TensorView<'_>>],
        outputs: &mut [TensorViewMut<'_>],
    ) -> Result<(), KernelError>;

    /// True when the outputs depend only on input *shapes* (SHAPE): such an operator is folded at
    /// `allocate_tensors` even when its inputs are activations, so shape arithmetic that follows it
    /// (STRIDED_SLICE → PACK → RESHAPE for a dynamic batch) becomes constant too. Its `eval` then
    /// sees inputs with correct shapes but empty data.
    fn depends_only_on_shapes(&self) -> bool {
        false
    }

    /// Heap bytes the kernel keeps for the model's lifetime (weights packed at prepare time),
    /// reported by `Interpreter::persistent_bytes`.
    fn persistent_bytes(&self) -> usize {
        0
    }
}

/// An operand as seen while preparing.
#[derive(Debug, Clone)]
pub struct OperandInfo<'a> {
    /// Tensor index in the subgraph.
    pub index: usize,
    /// Tensor name.
    pub name: &'a str,
    /// Resolved shape.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Quantization parameters.
    pub quant: Option<&'a Quantization>,
    /// The value, when known before `invoke` (constants and folded results).
    pub value: Option<&'a [u8]>,
}

impl OperandInfo<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An output as the model declares it.
#[derive(Debug, Clone)]
pub struct OutputDecl<'a> {
    /// Tensor index in the subgraph.
    pub index: usize,
    /// Tensor name.
    pub name: &'a str,
    /// Declared element type (kernels must produce exactly this).
    pub dtype: DType,
    /// Declared static shape.
    pub shape: &'a [i32],
    /// Quantization parameters.
    pub quant: Option<&'a Quantization>,
}

/// Everything `prepare` may look at.
#[derive(Debug)]
pub struct PrepareCtx<'a> {
    /// The operator.
    pub op: &'a Operator,
    /// Its position in execution order.
    pub op_index: usize,
    /// Inputs (`None` = omitted optional input).
    pub inputs: Vec<Option<OperandInfo<'a>>>,
    /// Outputs as declared.
    pub outputs: Vec<OutputDecl<'a>>,
}

/// The result of preparing one operator.
#[derive(Debug)]
pub struct Prepared {
    /// Shape of each output.
    pub output_shapes: Vec<Vec<usize>>,
    /// The kernel to run.
    pub kernel: Box<dyn Kernel>,
}

impl Prepared {
    /// One output of the given shape.
    pub fn single(shape: Vec<usize>, kernel: impl Kernel + 'static) -> Self {
        Prepared {
            output_shapes: vec![shape],
            kernel: Box::new(kernel),
        }
    }
}

/// A prepare function.
pub type PrepareFn = fn(&PrepareCtx<'_>) -> Result<Prepared, RuntimeError>;

/// How a builtin is supported.
#[derive(Debug, Clone)]
pub struct OpRegistration {
    /// Highest operator version accepted.
    pub max_version: i32,
    /// The prepare function.
    pub prepare: PrepareFn,
    /// The operand-type variants `prepare` accepts (what the support table shows).
    pub support: VariantSet,
    /// Notes for the support table: restrictions, extra dtypes, known deviations from LiteRT.
    pub notes: Vec<&'static str>,
}

impl OpRegistration {
    /// Declares variants `prepare` accepts (adds to earlier declarations).
    pub fn supports(&mut self, variants: &[Variant]) -> &mut Self {
        for &v in variants {
            self.support.insert(v);
        }
        self
    }

    /// Adds a note shown under the support table.
    pub fn note(&mut self, text: &'static str) -> &mut Self {
        self.notes.push(text);
        self
    }
}

/// The registry of builtin operators.
pub fn registry() -> &'static HashMap<BuiltinOperator, OpRegistration> {
    static REGISTRY: OnceLock<HashMap<BuiltinOperator, OpRegistration>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry::default();
        register_all(&mut r);
        r.map
    })
}

/// Looks up a builtin.
pub fn lookup(op: BuiltinOperator) -> Option<&'static OpRegistration> {
    registry().get(&op)
}

/// The registry of custom operators (by custom code) that have a kernel.
pub fn custom_registry() -> &'static HashMap<&'static str, OpRegistration> {
    static REGISTRY: OnceLock<HashMap<&'static str, OpRegistration>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let custom = |prepare: PrepareFn, support: &[Variant]| OpRegistration {
            max_version: 1,
            prepare,
            support: VariantSet::of(support),
            notes: Vec::new(),
        };
        HashMap::from([(
            detection::DETECTION_POSTPROCESS,
            custom(detection::prepare_post_process, &[Variant::F32]),
        )])
    })
}

/// Looks up a custom operator by its custom code (`TFLite_Detection_PostProcess`).
pub fn lookup_custom(name: &str) -> Option<&'static OpRegistration> {
    custom_registry().get(name)
}

/// Every registered builtin with its TFLite name (`CONV_2D`), sorted by name.
pub fn registered() -> Vec<(String, BuiltinOperator, &'static OpRegistration)> {
    let mut all: Vec<_> = registry()
        .iter()
        .map(|(&op, reg)| (ferrolite_model::names::builtin_name(op), op, reg))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Builder used by family `register` functions.
#[derive(Default)]
pub struct Registry {
    map: HashMap<BuiltinOperator, OpRegistration>,
}

impl Registry {
    /// Adds an operator; declare its variants on the returned entry
    /// (`r.add(B::Add, 5, prepare).supports(&[F32, Int8])`).
    pub fn add(
        &mut self,
        op: BuiltinOperator,
        max_version: i32,
        prepare: PrepareFn,
    ) -> &mut OpRegistration {
        let reg = OpRegistration {
            max_version,
            prepare,
            support: VariantSet::EMPTY,
            notes: Vec::new(),
        };
        self.map.entry(op).insert_entry(reg).into_mut()
    }
}

fn register_all(r: &mut Registry) {
    arith::register(r);
    logic::register(r);
    reduce::register(r);
    softmax::register(r);
    unary::register(r);
    fill::register(r);
    pad::register(r);
    quantize::register(r);
    shape::register(r);
    slice::register(r);
    transform::register(r);
    conv::register(r);
    matmul::register(r);
    pool::register(r);
    resize::register(r);
    detection::register(r);
    scan::register(r);
    generate::register(r);
}

impl<'a> PrepareCtx<'a> {
    /// The operator's name.
    pub fn op_name(&self) -> String {
        self.op.kind.name()
    }

    /// An `InvalidOp` error for this operator.
    pub fn invalid(&self, reason: impl Into<String>) -> RuntimeError {
        RuntimeError::InvalidOp {
            op_index: self.op_index,
            op: self.op_name(),
            reason: reason.into(),
        }
    }

    /// An `UnsupportedOp` error for this operator (valid model, no kernel for this case).
    pub fn unsupported(&self, reason: impl Into<String>) -> RuntimeError {
        let inputs = self
            .inputs
            .iter()
            .map(|i| match i {
                Some(i) => format!("{}: {}{:?}", i.name, i.dtype, i.shape),
                None => "-".into(),
            })
            .collect();
        let outputs = self
            .outputs
            .iter()
            .map(|o| format!("{}: {}{:?}", o.name, o.dtype, o.shape))
            .collect();
        RuntimeError::UnsupportedOp {
            op_index: self.op_index,
            op: self.op_name(),
            version: self.op.version,
            reason: reason.into(),
            inputs,
            outputs,
        }
    }

    /// Checks the number of inputs (`min..=max`, counting omitted optional ones) and outputs.
    pub fn expect_arity(
        &self,
        min_in: usize,
        max_in: usize,
        outputs: usize,
    ) -> Result<(), RuntimeError> {
        let n = self.inputs.len();
        if n < min_in || n > max_in {
            let want = if min_in == max_in {
                format!("{min_in}")
            } else {
                format!("{min_in} to {max_in}")
            };
            return Err(self.invalid(format!("expects {want} inputs, has {n}")));
        }
        if self.outputs.len() != outputs {
            return Err(self.invalid(format!(
                "expects {outputs} outputs, has {}",
                self.outputs.len()
            )));
        }
        Ok(())
    }

    /// Input `i`, which must be present.
    pub fn input(&self, i: usize) -> Result<&OperandInfo<'a>, RuntimeError> {
        self.inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.invalid(format!("input {i} is missing")))
    }

    /// Input `i` if present.
    pub fn optional_input(&self, i: usize) -> Option<&OperandInfo<'a>> {
        self.inputs.get(i).and_then(Option::as_ref)
    }

    /// Output `i`'s declaration.
    pub fn output(&self, i: usize) -> Result<&OutputDecl<'a>, RuntimeError> {
        self.outputs
            .get(i)
            .ok_or_else(|| self.invalid(format!("output {i} is missing")))
    }

    /// Fails unless input `i` has one of `dtypes`.
    pub fn expect_input_dtype(&self, i: usize, dtypes: &[DType]) -> Result<DType, RuntimeError> {
        let d = self.input(i)?.dtype;
        if dtypes.contains(&d) {
            Ok(d)
        } else {
            Err(self.unsupported(format!("input {i} has dtype {d}, supported: {dtypes:?}")))
        }
    }

    /// Fails unless output `i` is declared with `dtype`.
    pub fn expect_output_dtype(&self, i: usize, dtype: DType) -> Result<(), RuntimeError> {
        let d = self.output(i)?.dtype;
        if d == dtype {
            Ok(())
        } else {
            Err(self.invalid(format!(
                "output {i} is declared {d} but the op produces {dtype}"
            )))
        }
    }

    /// The raw value of input `i`, which must be known before `invoke` (a constant or a folded
    /// result); otherwise [`RuntimeError::NeedsValue`], which makes the interpreter prepare again
    /// at `invoke` once the graph inputs are set.
    pub fn input_value(&self, i: usize) -> Result<&'a [u8], RuntimeError> {
        let t = self.input(i)?;
        t.value.ok_or_else(|| RuntimeError::NeedsValue {
            op_index: self.op_index,
            op: self.op_name(),
            input: i,
            name: t.name.to_owned(),
        })
    }

    /// The value of an int32/int64 input that must be known before `invoke` (axes, shapes, ...).
    pub fn const_ints(&self, i: usize) -> Result<Vec<i64>, RuntimeError> {
        let t = self.input(i)?;
        let bytes = self.input_value(i)?;
        let err = |e: KernelError| self.invalid(e.to_string());
        match t.dtype {
            DType::I32 => Ok(cast::<i32>(bytes)
                .map_err(err)?
                .iter()
                .map(|&v| i64::from(v))
                .collect()),
            DType::I64 => Ok(cast::<i64>(bytes).map_err(err)?.to_vec()),
            d => Err(self.invalid(format!("input {i} must be int32 or int64, is {d}"))),
        }
    }

    /// Converts a kernel-level shape error into an `InvalidOp` error.
    pub fn kernel_err(&self, e: KernelError) -> RuntimeError {
        self.invalid(e.to_string())
    }
}

/// Maps TFLite's fused activation to ours.
pub fn activation(a: tflite::ActivationFunctionType) -> Activation {
    match a {
        tflite::ActivationFunctionType::None => Activation::None,
        tflite::ActivationFunctionType::Relu => Activation::Relu,
        tflite::ActivationFunctionType::ReluN1To1 => Activation::ReluN1To1,
        tflite::ActivationFunctionType::Relu6 => Activation::Relu6,
        tflite::ActivationFunctionType::Tanh => Activation::Tanh,
        tflite::ActivationFunctionType::SignBit => Activation::SignBit,
    }
}

/// Maps TFLite's padding to ours.
pub fn padding(p: tflite::Padding) -> Padding {
    match p {
        tflite::Padding::Same => Padding::Same,
        tflite::Padding::Valid => Padding::Valid,
    }
}
