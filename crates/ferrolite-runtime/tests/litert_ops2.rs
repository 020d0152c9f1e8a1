//! The second batch of single-operator fixtures (`tests/fixtures/ops2`, built by
//! `tools/make_op_fixtures2.py`, outputs from LiteRT's own kernels) runs in ferrolite and agrees
//! with LiteRT: NMS V4/V5, the SSD `TFLite_Detection_PostProcess` custom op, scans, sorting,
//! layout and generator ops, and DEQUANTIZE's position-dependent rounding.
//!
//! Tolerance: float outputs within 1e-5 × max(1, |expected|) (transcendental functions may differ
//! in the last bit between libm builds), except DEQUANTIZE, which must be bit-identical; integer
//! and bool outputs exactly. For the SSD op's fast-NMS cases only the first `valid_rows`
//! detections are compared: LiteRT leaves later rows unwritten (ours are zero).

mod litert_support;

use litert_support::{check_every_case, compare, fixtures_dir, invoke_case, manifest, output};
use serde_json::Value;

/// Elements of output `k` to compare: all, or the first `valid_rows` rows of the SSD outputs.
fn compared_len(case: &Value, k: usize, shape: &[usize]) -> usize {
    let all: usize = shape.iter().product();
    match case["valid_rows"].as_u64() {
        Some(rows) if k < 3 => {
            let per_row: usize = shape[2..].iter().product();
            (rows as usize * per_row).min(all)
        }
        _ => all,
    }
}

#[test]
fn every_ops2_fixture_matches_litert() {
    let dir = fixtures_dir("ops2");
    check_every_case(&manifest(&dir), 45, |name, case| {
        let interp = invoke_case(&dir, case)?;
        let exact = name.starts_with("dequant_");
        let mut worst = 0.0f64;
        for (k, o) in case["outputs"].as_array().unwrap().iter().enumerate() {
            let (index, expected, ours) = output(&interp, &dir, o)?;
            let n = compared_len(case, k, &expected.shape);
            worst = worst.max(compare(index, &expected, ours, n, exact)?);
        }
        Ok(worst)
    });
}

/// The DEQUANTIZE fixtures can tell LiteRT's two formulas apart: the generator counted how many
/// elements each candidate reproduces, and for the 8-bit cases neither formula alone matches
/// every element (so a bit-exact pass above means the position-dependent rule is implemented).
#[test]
fn dequantize_fixtures_distinguish_the_formulas() {
    let manifest = manifest(&fixtures_dir("ops2"));
    for name in [
        "dequant_int8_formula",
        "dequant_uint8_formula",
        "dequant_int8_short",
        "dequant_uint8_long",
    ] {
        let case = &manifest["cases"][name];
        let n = case["elements"].as_u64().unwrap();
        let f = &case["formulas_matching_litert"];
        let one = f["one_rounding"].as_u64().unwrap();
        let two = f["mul_then_add_zp_times_scale"].as_u64().unwrap();
        assert!(one < n || two < n, "{name}: {f}");
        if n >= 8 {
            assert!(
                one < n,
                "{name}: the one-rounding formula alone would pass: {f}"
            );
        }
    }
}
