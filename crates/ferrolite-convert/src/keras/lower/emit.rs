//! Small emitters the layer families share: unary and broadcasting binary ops, comparisons,
//! scalar constants, RESHAPE to a static shape, and the options TF writes for each op.

use super::Lowering;
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions};
use ferrolite_model::DType;

/// Numpy-style broadcast of two shape signatures (`-1` = dynamic batch).
pub fn broadcast(a: &[i32], b: &[i32]) -> Option<Vec<i32>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, o) in out.iter_mut().enumerate() {
        let pick = |s: &[i32]| {
            if i + s.len() >= n {
                s[i + s.len() - n]
            } else {
                1
            }
        };
        *o = match (pick(a), pick(b)) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// The options TF writes for a binary op (`None` for ops without options).
pub fn binary_options(op: B) -> Option<BuiltinOptions> {
    match op {
        B::Add => Some(BuiltinOptions::AddOptions(Box::new(tflite::AddOptions {
            pot_scale_int16: true,
            ..Default::default()
        }))),
        B::Sub => Some(BuiltinOptions::SubOptions(Box::new(tflite::SubOptions {
            pot_scale_int16: true,
            ..Default::default()
        }))),
        B::Mul => Some(BuiltinOptions::MulOptions(Box::default())),
        B::Div => Some(BuiltinOptions::DivOptions(Box::default())),
        _ => None,
    }
}

impl Lowering<'_> {
    /// `op(x)` into a new float tensor `name` of the same shape.
    pub fn unary(&mut self, op: B, x: usize, name: &str, options: Option<BuiltinOptions>) -> usize {
        let y = self.b.activation(name, &self.b.sig(x));
        self.b.op(op, vec![Some(x)], vec![y], options);
        y
    }

    /// `op(a, b)` with numpy broadcasting into a new tensor `name` of element type `dtype`.
    fn binary_typed(&mut self, op: B, a: usize, b: usize, name: &str, dtype: DType) -> usize {
        let (sa, sb) = (self.b.sig(a), self.b.sig(b));
        let sig = broadcast(&sa, &sb).unwrap_or(sa);
        let y = self.b.tensor(name, dtype, &sig);
        self.b
            .op(op, vec![Some(a), Some(b)], vec![y], binary_options(op));
        y
    }

    /// A float binary op (ADD, SUB, MUL, DIV, MINIMUM, SQUARED_DIFFERENCE, ...).
    pub fn binary(&mut self, op: B, a: usize, b: usize, name: &str) -> usize {
        self.binary_typed(op, a, b, name, DType::F32)
    }

    /// A comparison (GREATER, LESS, ...) producing a bool tensor.
    pub fn compare(&mut self, op: B, a: usize, b: usize, name: &str) -> usize {
        self.binary_typed(op, a, b, name, DType::Bool)
    }

    /// A rank-0 float constant.
    pub fn scalar(&mut self, name: &str, v: f32) -> usize {
        self.b.const_f32(name, &[], &[v])
    }

    /// `SELECT_V2(cond, a, b)` into a float tensor `name` of `a`'s shape.
    pub fn select(&mut self, cond: usize, a: usize, b: usize, name: &str) -> usize {
        let y = self.b.activation(name, &self.b.sig(a));
        self.b.op(
            B::SelectV2,
            vec![Some(cond), Some(a), Some(b)],
            vec![y],
            None,
        );
        y
    }

    /// `RESHAPE(x, sig)` with a constant int32 shape (`-1` for a dynamic batch).
    pub fn reshape_to(&mut self, x: usize, sig: &[i32], name: &str) -> usize {
        let s = self
            .b
            .const_i32(format!("{name}/shape"), &[sig.len() as i32], sig);
        let y = self.b.tensor(name, self.b.dtype(x), sig);
        self.b.op(B::Reshape, vec![Some(x), Some(s)], vec![y], None);
        y
    }

    /// `EXPAND_DIMS(x, axis)` with a scalar int32 axis, as TF writes it.
    pub fn expand_dims(&mut self, x: usize, axis: i32, name: &str) -> usize {
        let sig = self.b.sig(x);
        let rank = sig.len() as i32 + 1;
        let at = if axis < 0 { axis + rank } else { axis };
        let mut out = sig.clone();
        out.insert(at.clamp(0, rank - 1) as usize, 1);
        let a = self.b.const_i32(format!("{name}/dim"), &[], &[axis]);
        let y = self.b.tensor(name, self.b.dtype(x), &out);
        self.b
            .op(B::ExpandDims, vec![Some(x), Some(a)], vec![y], None);
        y
    }

    /// `TRANSPOSE(x, perm)` with a constant permutation.
    pub fn transpose(&mut self, x: usize, perm: &[i32], name: &str) -> usize {
        let sig = self.b.sig(x);
        let out: Vec<i32> = perm.iter().map(|&p| sig[p as usize]).collect();
        let p = self
            .b
            .const_i32(format!("{name}/perm"), &[perm.len() as i32], perm);
        let y = self.b.tensor(name, self.b.dtype(x), &out);
        self.b
            .op(B::Transpose, vec![Some(x), Some(p)], vec![y], None);
        y
    }
}

#[cfg(test)]
mod tests {
    use super::broadcast;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[-1, 4, 4, 3], &[3]), Some(vec![-1, 4, 4, 3]));
        assert_eq!(
            broadcast(&[-1, 1, 1, 3], &[-1, 4, 4, 1]),
            Some(vec![-1, 4, 4, 3])
        );
        assert_eq!(broadcast(&[-1, 2], &[-1, 3]), None);
        assert_eq!(broadcast(&[], &[-1, 3]), Some(vec![-1, 3]));
    }
}
