//! A minimal reader for FlexBuffers maps, the encoding of TFLite custom-operator options
//! (`custom_options_format = FLEXBUFFERS`).
//!
//! Only what option maps use is supported: a root map whose values are scalars (null, signed and
//! unsigned integers, floats, booleans, inline or indirect) of any byte width. Every offset is
//! bounds-checked; malformed input is an error, never a panic. Layout reference: the FlexBuffers
//! section of the FlatBuffers documentation (root = value, packed type byte, root byte width at
//! the end; a map is a vector of values preceded by its length and a pointer to a sorted key
//! vector, followed by one packed type byte per value).

use std::collections::BTreeMap;

/// A scalar option value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlexValue {
    /// Null (absent in C++ terms).
    Null,
    /// A signed or unsigned integer.
    Int(i64),
    /// A float (f32 or f64 in the buffer).
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl FlexValue {
    /// The value as an integer (floats truncate, booleans are 0/1), as FlexBuffers' `AsInt64`.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            FlexValue::Int(v) => Some(v),
            FlexValue::Float(v) => Some(v as i64),
            FlexValue::Bool(b) => Some(i64::from(b)),
            FlexValue::Null => None,
        }
    }

    /// The value as a float, as FlexBuffers' `AsFloat`.
    pub fn as_f32(self) -> Option<f32> {
        match self {
            FlexValue::Int(v) => Some(v as f32),
            FlexValue::Float(v) => Some(v as f32),
            FlexValue::Bool(b) => Some(f32::from(u8::from(b))),
            FlexValue::Null => None,
        }
    }

    /// The value as a boolean (non-zero numbers are true), as FlexBuffers' `AsBool`.
    pub fn as_bool(self) -> Option<bool> {
        match self {
            FlexValue::Bool(b) => Some(b),
            FlexValue::Int(v) => Some(v != 0),
            FlexValue::Float(v) => Some(v != 0.0),
            FlexValue::Null => None,
        }
    }
}

// FlexBuffers type codes used here.
const NULL: u8 = 0;
const INT: u8 = 1;
const UINT: u8 = 2;
const FLOAT: u8 = 3;
const INDIRECT_INT: u8 = 6;
const INDIRECT_UINT: u8 = 7;
const INDIRECT_FLOAT: u8 = 8;
const MAP: u8 = 9;
const BOOL: u8 = 26;

/// Reads `width` bytes at `pos` as an unsigned little-endian integer.
fn read_u(buf: &[u8], pos: usize, width: usize) -> Result<u64, String> {
    let bytes = pos
        .checked_add(width)
        .and_then(|end| buf.get(pos..end))
        .ok_or_else(|| {
            format!(
                "read of {width} bytes at {pos} is out of bounds ({})",
                buf.len()
            )
        })?;
    if !matches!(width, 1 | 2 | 4 | 8) {
        return Err(format!("invalid byte width {width}"));
    }
    Ok(bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Reads a signed integer of `width` bytes.
fn read_i(buf: &[u8], pos: usize, width: usize) -> Result<i64, String> {
    let u = read_u(buf, pos, width)?;
    let shift = 64 - 8 * width as u32;
    Ok(((u << shift) as i64) >> shift)
}

/// Reads a float of `width` bytes (4 or 8).
fn read_f(buf: &[u8], pos: usize, width: usize) -> Result<f64, String> {
    let u = read_u(buf, pos, width)?;
    match width {
        4 => Ok(f64::from(f32::from_bits(u as u32))),
        8 => Ok(f64::from_bits(u)),
        w => Err(format!("float of {w} bytes")),
    }
}

/// The target of an offset stored at `pos` (offsets point backwards).
fn deref(buf: &[u8], pos: usize, width: usize) -> Result<usize, String> {
    let off = read_u(buf, pos, width)?;
    usize::try_from(off)
        .ok()
        .and_then(|o| pos.checked_sub(o))
        .ok_or_else(|| format!("offset {off} at {pos} points before the buffer"))
}

/// Decodes the scalar stored at `pos` in a slot of `parent_width` bytes with packed type `packed`.
fn scalar(buf: &[u8], pos: usize, parent_width: usize, packed: u8) -> Result<FlexValue, String> {
    let ty = packed >> 2;
    let width = 1usize << (packed & 3);
    Ok(match ty {
        NULL => FlexValue::Null,
        INT => FlexValue::Int(read_i(buf, pos, parent_width)?),
        UINT => FlexValue::Int(read_u(buf, pos, parent_width)? as i64),
        FLOAT => FlexValue::Float(read_f(buf, pos, parent_width)?),
        BOOL => FlexValue::Bool(read_u(buf, pos, parent_width)? != 0),
        INDIRECT_INT => FlexValue::Int(read_i(buf, deref(buf, pos, parent_width)?, width)?),
        INDIRECT_UINT => FlexValue::Int(read_u(buf, deref(buf, pos, parent_width)?, width)? as i64),
        INDIRECT_FLOAT => FlexValue::Float(read_f(buf, deref(buf, pos, parent_width)?, width)?),
        t => return Err(format!("value of FlexBuffers type {t} is not a scalar")),
    })
}

/// The NUL-terminated key at `pos`.
fn key(buf: &[u8], pos: usize) -> Result<String, String> {
    let rest = buf.get(pos..).ok_or("key out of bounds")?;
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or("key is not NUL-terminated")?;
    String::from_utf8(rest[..end].to_vec()).map_err(|_| "key is not UTF-8".to_string())
}

/// Parses a FlexBuffers buffer whose root is a map of scalars. Non-scalar values (strings,
/// vectors, nested maps) are skipped.
pub fn parse_map(buf: &[u8]) -> Result<BTreeMap<String, FlexValue>, String> {
    let n = buf.len();
    if n < 3 {
        return Err(format!("{n} bytes is too short for a FlexBuffer"));
    }
    let root_width = usize::from(buf[n - 1]);
    let root_packed = buf[n - 2];
    let root_pos = n
        .checked_sub(2 + root_width)
        .ok_or("root byte width exceeds the buffer")?;
    if root_packed >> 2 != MAP {
        return Err(format!(
            "root has FlexBuffers type {}, expected a map",
            root_packed >> 2
        ));
    }
    let map = deref(buf, root_pos, root_width)?;
    let width = 1usize << (root_packed & 3);
    let len = read_u(
        buf,
        map.checked_sub(width).ok_or("map header out of bounds")?,
        width,
    )?;
    let len = usize::try_from(len).map_err(|_| "map length overflows")?;
    let keys_slot = map
        .checked_sub(3 * width)
        .ok_or("map header out of bounds")?;
    let keys = deref(buf, keys_slot, width)?;
    let keys_width =
        usize::try_from(read_u(buf, map - 2 * width, width)?).map_err(|_| "key width overflows")?;
    let types = len
        .checked_mul(width)
        .and_then(|b| map.checked_add(b))
        .ok_or("map too long")?;
    if types.checked_add(len).is_none_or(|end| end > n) {
        return Err("map values run past the buffer".into());
    }
    let mut out = BTreeMap::new();
    for i in 0..len {
        let k = key(buf, deref(buf, keys + i * keys_width, keys_width)?)?;
        let packed = buf[types + i];
        let ty = packed >> 2;
        if matches!(
            ty,
            NULL | INT | UINT | FLOAT | BOOL | INDIRECT_INT | INDIRECT_UINT | INDIRECT_FLOAT
        ) {
            out.insert(k, scalar(buf, map + i * width, width, packed)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `flexbuffers.Dumps({"a": 1, "b": 2.5, "c": True, "d": -300})` from Python's `flatbuffers`.
    const SAMPLE: [u8; 51] = [
        97, 0, 98, 0, 99, 0, 100, 0, 4, 9, 8, 7, 6, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1,
        0, 0, 0, 0, 0, 32, 64, 1, 0, 0, 0, 212, 254, 255, 255, 6, 14, 106, 6, 20, 38, 1,
    ];

    #[test]
    fn reads_a_python_generated_map() {
        let m = parse_map(&SAMPLE).unwrap();
        assert_eq!(m["a"], FlexValue::Int(1));
        assert_eq!(m["b"], FlexValue::Float(2.5));
        assert_eq!(m["c"], FlexValue::Bool(true));
        assert_eq!(m["d"], FlexValue::Int(-300));
        assert_eq!(m["b"].as_i64(), Some(2));
        assert_eq!(m["a"].as_f32(), Some(1.0));
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(parse_map(&[]).is_err());
        assert!(parse_map(&[0, 4, 1]).is_err());
        for cut in 1..SAMPLE.len() {
            let _ = parse_map(&SAMPLE[cut..]); // must not panic
        }
        let mut bad = SAMPLE;
        bad[16] = 0xff; // the key vector offset
        let _ = parse_map(&bad);
    }
}
