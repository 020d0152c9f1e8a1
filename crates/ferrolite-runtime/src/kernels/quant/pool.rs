//! Quantized `AVERAGE_POOL_2D` and `MAX_POOL_2D` (int8, uint8, int16; NHWC).
//!
//! Inputs and outputs share scale and zero point (TFLite requires it), so pooling works on raw
//! integers: windows are clipped to the input, the average is TFLite's rounded integer division
//! `(sum ± count/2) / count` (C truncation, i.e. ties away from zero), the maximum is taken over
//! in-bounds cells, and the fused activation is clamped in the quantized domain. Output shapes
//! come from the float module's `pool2d_output_shape`.

use super::{quantized_activation_range, QuantElem, QuantParams};
use crate::kernels::pool::{pool_driver, Pool2DParams};

/// Prepared parameters of a quantized pooling op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantPoolParams {
    /// Geometry (window, strides, padding); its activation is folded into the clamp.
    pub geometry: Pool2DParams,
    /// Lower clamp.
    pub act_min: i32,
    /// Upper clamp.
    pub act_max: i32,
}

/// Prepares a quantized pooling op for storage type `T` with the (shared) output quantization.
pub fn pool_params<T: QuantElem>(geometry: &Pool2DParams, output: QuantParams) -> QuantPoolParams {
    let (act_min, act_max) =
        quantized_activation_range(geometry.activation, output, T::MIN, T::MAX);
    QuantPoolParams {
        geometry: *geometry,
        act_min,
        act_max,
    }
}

/// Quantized AVERAGE_POOL_2D. An empty window (impossible for valid shapes) yields the clamp of 0.
pub fn average_pool2d<T: QuantElem>(
    params: &QuantPoolParams,
    input: &[T],
    input_shape: [usize; 4],
    output: &mut [T],
    output_shape: [usize; 4],
) {
    pool_driver(
        &params.geometry,
        input,
        input_shape,
        output,
        output_shape,
        0i32,
        |sum, x| sum + x.to_i32(),
        |sum, count| {
            let count = count as i32;
            let avg = if count == 0 {
                0
            } else if sum > 0 {
                (sum + count / 2) / count
            } else {
                (sum - count / 2) / count
            };
            T::from_i32_clamped(avg.clamp(params.act_min, params.act_max))
        },
    );
}

/// Quantized MAX_POOL_2D.
pub fn max_pool2d<T: QuantElem>(
    params: &QuantPoolParams,
    input: &[T],
    input_shape: [usize; 4],
    output: &mut [T],
    output_shape: [usize; 4],
) {
    pool_driver(
        &params.geometry,
        input,
        input_shape,
        output,
        output_shape,
        T::MIN,
        |max, x| max.max(x.to_i32()),
        |max, _| T::from_i32_clamped(max.clamp(params.act_min, params.act_max)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::{Activation, Padding};

    fn geometry(padding: Padding, k: usize, s: usize, activation: Activation) -> Pool2DParams {
        Pool2DParams {
            padding,
            stride_h: s,
            stride_w: s,
            filter_h: k,
            filter_w: k,
            activation,
        }
    }

    #[test]
    fn average_rounds_half_away_from_zero() {
        let p = pool_params::<i8>(
            &geometry(Padding::Valid, 2, 2, Activation::None),
            QuantParams::new(1.0, 0),
        );
        // windows: [1,2,3,4] -> 10/4 = 2.5 -> 3 ; [-1,-2,-3,-4] -> -3 ; [1,1,1,0] -> 0.75 -> 1
        let input = [1i8, 2, -1, -2, 1, 1, 3, 4, -3, -4, 1, 0];
        // shape [1, 2, 6, 1]: row0 = 1 2 -1 -2 1 1 ; row1 = 3 4 -3 -4 1 0
        let mut out = [0i8; 3];
        average_pool2d(&p, &input, [1, 2, 6, 1], &mut out, [1, 1, 3, 1]);
        assert_eq!(out, [3, -3, 1]);
    }

    #[test]
    fn same_padding_divides_by_in_bounds_count() {
        let p = pool_params::<u8>(
            &geometry(Padding::Same, 3, 1, Activation::None),
            QuantParams::new(1.0, 0),
        );
        let input = [10u8, 20, 30, 40];
        let mut out = [0u8; 4];
        average_pool2d(&p, &input, [1, 2, 2, 1], &mut out, [1, 2, 2, 1]);
        assert_eq!(out, [25; 4]);
    }

    #[test]
    fn max_pool_with_activation() {
        let p = pool_params::<i8>(
            &geometry(Padding::Valid, 2, 2, Activation::Relu6),
            QuantParams::new(0.1, -10),
        );
        assert_eq!((p.act_min, p.act_max), (-10, 50));
        let input = [-100i8, -50, -20, -60, 100, 3, 0, 1];
        let mut out = [0i8; 2];
        max_pool2d(&p, &input, [1, 2, 4, 1], &mut out, [1, 1, 2, 1]);
        // windows: [-100,-50,100,3] -> 100 -> 50 ; [-20,-60,0,1] -> 1
        assert_eq!(out, [50, 1]);
    }
}
