//! Layers that move data around: Permute (TRANSPOSE), RepeatVector (EXPAND_DIMS + TILE) and
//! Embedding (GATHER from the embedding matrix; float indices are CAST to int32 first), each
//! as TF lowers it.

use super::call::Call;
use super::Lowering;
use crate::error::Result;
use crate::keras::weights::{expect_shape, Role};
use ferrolite_model::tflite::{self, BuiltinOperator as B, BuiltinOptions};
use ferrolite_model::DType;

/// `Permute(dims)`: TRANSPOSE with permutation `[0, *dims]` (`dims` is 1-based).
pub fn permute(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let rank = lw.b.sig(x).len();
    let dims = call
        .ints("dims")?
        .ok_or_else(|| call.bad("dims", "missing"))?;
    let mut sorted = dims.clone();
    sorted.sort_unstable();
    if sorted != (1..rank as i64).collect::<Vec<_>>() {
        return Err(call.bad(
            "dims",
            format!("{dims:?} is not a permutation of 1..={}", rank - 1),
        ));
    }
    let perm: Vec<i32> = std::iter::once(0)
        .chain(dims.iter().map(|&d| d as i32))
        .collect();
    Ok(vec![lw.transpose(x, &perm, &call.name())])
}

/// `RepeatVector(n)`: `[N, D]` → EXPAND_DIMS `[N, 1, D]` → TILE `[1, n, 1]` → `[N, n, D]`.
pub fn repeat_vector(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    if sig.len() != 2 {
        return Err(call.bad_shape(format!("expects a [batch, features] input, got {sig:?}")));
    }
    let n = call.positive("n", None)?;
    let n = i32::try_from(n).map_err(|_| call.unsupported("n", n, "n < 2^31"))?;
    let name = call.name();
    let e = lw.expand_dims(x, 1, &format!("{name}/ExpandDims"));
    let m =
        lw.b.const_i32(format!("{name}/multiples"), &[3], &[1, n, 1]);
    let y = lw.b.activation(&name, &[sig[0], n, sig[1]]);
    lw.b.op(B::Tile, vec![Some(e), Some(m)], vec![y], None);
    Ok(vec![y])
}

/// `Embedding`: GATHER rows of the `[input_dim, output_dim]` matrix at the (int) indices.
pub fn embedding(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let x = call.one_input()?;
    let sig = lw.b.sig(x);
    let vocab = call.positive("input_dim", None)?;
    let dim = call.positive("output_dim", None)?;
    let ws = lw.weights.take(
        &call.layer.name,
        &[Role {
            name: "embeddings",
            aliases: &["embeddings"],
        }],
    )?;
    expect_shape(&call.layer.name, "embeddings", ws[0], &[vocab, dim])?;
    let table = ws[0].data.clone();
    let params = lw.weight_const(call, "embeddings", &[vocab as i32, dim as i32], &table);
    let name = call.name();
    let indices = match lw.b.dtype(x) {
        DType::I32 | DType::I64 => x,
        DType::F32 => {
            let c = lw.b.tensor(format!("{name}/Cast"), DType::I32, &sig);
            lw.b.op(B::Cast, vec![Some(x)], vec![c], None);
            c
        }
        other => return Err(call.unsupported("input dtype", other, "int32, int64, float32")),
    };
    let mut out = sig.clone();
    out.push(dim as i32);
    let y = lw.b.activation(&name, &out);
    let options = tflite::GatherOptions {
        axis: 0,
        batch_dims: 0,
    };
    lw.b.op(
        B::Gather,
        vec![Some(params), Some(indices)],
        vec![y],
        Some(BuiltinOptions::GatherOptions(Box::new(options))),
    );
    Ok(vec![y])
}
