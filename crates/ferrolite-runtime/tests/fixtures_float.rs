//! End-to-end check against LiteRT: every float model variant in `tests/fixtures/manifest.json`
//! (repo root) is run on `inputs_f32.npy` and compared with LiteRT's built-in-kernel output.
//!
//! The fixtures were produced with a dynamic batch resized to 16 (`run_mode: resize`); we do the
//! same. The tolerance is issue #4's: `|got - want| <= 1e-5 * max(1, |want|)` per element. The
//! quantized variants (`int8`, `int8_float_io`, `dynamic`) are checked by `fixtures_quant.rs`.

use ferrolite_runtime::{Interpreter, RuntimeError};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The repo's `tests/fixtures` directory.
fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Element type of a `.npy` array (the two the fixtures use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NpyType {
    F32,
    I8,
}

/// A C-order `.npy` array: its element type, shape and raw little-endian data.
#[derive(Debug)]
struct Npy {
    dtype: NpyType,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Npy {
    /// The values as f32 (an error for other element types).
    fn f32s(&self) -> Result<Vec<f32>, String> {
        match self.dtype {
            NpyType::F32 => Ok(self
                .data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()),
            NpyType::I8 => Err("array is int8, not float32".into()),
        }
    }
}

/// The text after `'key':` in a `.npy` header dict, trimmed.
fn header_field<'h>(header: &'h str, key: &str) -> Result<&'h str, String> {
    let pat = format!("'{key}':");
    let at = header
        .find(&pat)
        .ok_or_else(|| format!("npy header lacks {key}: {header}"))?;
    Ok(header[at + pat.len()..].trim_start())
}

/// Parses a `.npy` file (versions 1-3) holding a C-order `<f4` or `i1` array.
fn parse_npy(bytes: &[u8]) -> Result<Npy, String> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or("not an .npy file (bad magic)")?;
    let (major, rest) = rest.split_first().ok_or("truncated .npy")?;
    let rest = rest.get(1..).ok_or("truncated .npy")?;
    let (len, rest) = match major {
        1 => {
            let (l, r) = rest.split_at_checked(2).ok_or("truncated .npy")?;
            (usize::from(u16::from_le_bytes([l[0], l[1]])), r)
        }
        2 | 3 => {
            let (l, r) = rest.split_at_checked(4).ok_or("truncated .npy")?;
            (u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize, r)
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let (header, data) = rest.split_at_checked(len).ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|e| e.to_string())?;

    let descr = header_field(header, "descr")?;
    let dtype = if descr.starts_with("'<f4'") {
        NpyType::F32
    } else if descr.starts_with("'|i1'") || descr.starts_with("'<i1'") {
        NpyType::I8
    } else {
        return Err(format!("unsupported npy dtype in {header}"));
    };
    if !header_field(header, "fortran_order")?.starts_with("False") {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_text = header_field(header, "shape")?;
    let close = shape_text.find(')').ok_or("unterminated shape")?;
    let shape = shape_text
        .get(1..close)
        .ok_or("bad shape")?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|e| format!("shape {s}: {e}")))
        .collect::<Result<Vec<usize>, String>>()?;
    let size = match dtype {
        NpyType::F32 => 4,
        NpyType::I8 => 1,
    };
    let want = shape.iter().product::<usize>() * size;
    if data.len() != want {
        return Err(format!(
            "npy holds {} data bytes, expected {want}",
            data.len()
        ));
    }
    Ok(Npy {
        dtype,
        shape,
        data: data.to_vec(),
    })
}

/// Reads a `.npy` file under the fixtures directory.
fn read_npy(rel: &str) -> Npy {
    let path = fixtures_dir().join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_npy(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The parsed manifest.
fn manifest() -> Value {
    let path = fixtures_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("manifest.json parses")
}

/// `(model, variant, description)` for every variant named in `wanted`, sorted by model.
fn variants<'m>(manifest: &'m Value, wanted: &[&str]) -> Vec<(String, String, &'m Value)> {
    let models = manifest["models"].as_object().expect("models object");
    let mut out = Vec::new();
    for (model, desc) in models {
        let vars = desc["variants"].as_object().expect("variants object");
        for &v in wanted {
            if let Some(d) = vars.get(v) {
                out.push((model.clone(), v.to_string(), d));
            }
        }
    }
    out
}

/// Tensor index of the first entry of a variant's `inputs` / `outputs` list.
fn first_index(desc: &Value, list: &str) -> usize {
    desc[list][0]["index"]
        .as_u64()
        .unwrap_or_else(|| panic!("{list}[0].index missing")) as usize
}

/// Loads a variant, resizes its input to the fixture batch and allocates.
fn prepare(desc: &Value, input_shape: &[usize]) -> Result<Interpreter, RuntimeError> {
    assert_eq!(
        desc["run_mode"], "resize",
        "only run_mode resize is handled"
    );
    let file = desc["file"].as_str().expect("file");
    let mut interp = Interpreter::from_file(fixtures_dir().join(file))?;
    interp.resize_input_tensor(first_index(desc, "inputs"), input_shape)?;
    interp.allocate_tensors()?;
    Ok(interp)
}

/// Largest `|got - want|` and largest error relative to issue #4's tolerance scale.
fn compare(got: &[f32], want: &[f32]) -> (f32, f32) {
    assert_eq!(got.len(), want.len(), "output length");
    got.iter()
        .zip(want)
        .fold((0.0f32, 0.0f32), |(abs, rel), (&g, &w)| {
            let e = (g - w).abs();
            // NaN errors must fail, so they become infinite.
            let e = if e.is_nan() { f32::INFINITY } else { e };
            (abs.max(e), rel.max(e / w.abs().max(1.0)))
        })
}

#[test]
fn float_variants_match_litert_reference() {
    const TOL: f32 = 1e-5;
    let inputs = read_npy("inputs_f32.npy");
    let x = inputs.f32s().expect("inputs are float32");
    let manifest = manifest();
    let cases = variants(&manifest, &["float32", "float16"]);
    assert!(cases.len() >= 6, "expected 3 models x 2 float variants");
    let mut failures = Vec::new();
    for (model, variant, desc) in &cases {
        let name = format!("{model}/{variant}");
        let mut interp = prepare(desc, &inputs.shape).unwrap_or_else(|e| panic!("{name}: {e}"));
        interp
            .set_tensor(first_index(desc, "inputs"), &x)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        interp.invoke().unwrap_or_else(|e| panic!("{name}: {e}"));
        let out_index = first_index(desc, "outputs");
        let want = read_npy(desc["reference_out"].as_str().expect("reference_out"));
        assert_eq!(
            interp.tensor_shape(out_index).unwrap(),
            want.shape.as_slice(),
            "{name}: output shape"
        );
        let got = interp.tensor::<f32>(out_index).unwrap();
        let (abs, rel) = compare(got, &want.f32s().unwrap());
        println!("{name:<20} max abs error {abs:.3e} (scaled {rel:.3e})");
        if rel > TOL {
            failures.push(format!("{name}: scaled error {rel:.3e} > {TOL:e}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A version-1 `.npy` file with the given header fields and data bytes.
fn npy_file(descr: &str, fortran: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let header =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}\n");
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend_from_slice(&(header.len() as u16).to_le_bytes());
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(data);
    file
}

#[test]
fn npy_reader_parses_headers_and_rejects_bad_files() {
    let file = npy_file("|i1", "False", "(3,)", &[1, 2, 255]);
    let a = parse_npy(&file).unwrap();
    assert_eq!((a.dtype, a.shape.as_slice()), (NpyType::I8, &[3][..]));
    assert_eq!(a.data, [1, 2, 255]);
    assert!(a.f32s().is_err());
    let f = parse_npy(&npy_file(
        "<f4",
        "False",
        "(1, 2)",
        &[0, 0, 128, 63, 0, 0, 0, 64],
    ))
    .unwrap();
    assert_eq!((f.f32s().unwrap(), f.shape), (vec![1.0, 2.0], vec![1, 2]));
    let scalar = parse_npy(&npy_file("<f4", "False", "()", &[0, 0, 128, 63])).unwrap();
    assert!(scalar.shape.is_empty());
    // Truncated data, bad magic, Fortran order, an unsupported dtype.
    assert!(parse_npy(&file[..file.len() - 1]).is_err());
    assert!(parse_npy(b"\x93NUMPX\x01\x00").is_err());
    assert!(parse_npy(&npy_file("|i1", "True", "(3,)", &[1, 2, 3])).is_err());
    assert!(parse_npy(&npy_file("<f8", "False", "(1,)", &[0; 8])).is_err());
}
