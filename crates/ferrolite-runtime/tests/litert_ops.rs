//! Every single-operator model in `tests/fixtures/ops` (built by TensorFlow's converter, outputs
//! from LiteRT's own kernels) runs in ferrolite and agrees with LiteRT.
//!
//! Tolerance: float outputs within 1e-5 × max(1, |expected|) (issue #4: LiteRT's optimized kernels
//! sum in a different order than our scalar ones); integer and bool outputs exactly; int8 outputs
//! exactly (TFLite's integer arithmetic is deterministic).

mod litert_support;

use litert_support::{check_every_case, compare, fixtures_dir, invoke_case, manifest, output};

#[test]
fn every_single_op_fixture_matches_litert() {
    let dir = fixtures_dir("ops");
    check_every_case(&manifest(&dir), 150, |_, case| {
        let interp = invoke_case(&dir, case)?;
        let mut worst = 0.0f64;
        for o in case["outputs"].as_array().unwrap() {
            let (index, expected, ours) = output(&interp, &dir, o)?;
            let n = expected.shape.iter().product();
            worst = worst.max(compare(index, &expected, ours, n, false)?);
        }
        Ok(worst)
    });
}
