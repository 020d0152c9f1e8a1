//! The `.npy` header: magic, version, length, and the Python dict literal describing the array.
//!
//! Layout: `\x93NUMPY`, major and minor version bytes, the header length (u16 little-endian for
//! 1.0, u32 for 2.0 and 3.0), then the header text (latin-1 for 1.0/2.0, UTF-8 for 3.0): a dict
//! with exactly the keys `descr`, `fortran_order` and `shape`, padded with spaces and a final
//! newline so the data starts at a multiple of 64 bytes. The parser is a small bounded recursive
//! descent over the Python literal subset NumPy emits; it never panics and limits nesting.

use crate::dtype::NpyDType;
use crate::error::{NpyError, Result};

/// The six magic bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Largest header accepted when reading (NumPy itself refuses more than 10 000 by default).
pub const MAX_HEADER_LEN: usize = 1 << 20;
/// Data alignment NumPy uses.
const ALIGN: usize = 64;
/// Spare spaces NumPy leaves after the dict so the first dimension can grow in place.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// Deepest literal nesting the parser follows.
const MAX_DEPTH: usize = 16;

/// The parsed description of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Element type.
    pub dtype: NpyDType,
    /// Dimensions (empty for a scalar).
    pub shape: Vec<usize>,
}

/// Where the fixed-size prefix ends and how long the dict text is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prefix {
    /// Major version (1, 2 or 3).
    pub major: u8,
    /// Bytes of magic + version + length field.
    pub prefix_len: usize,
    /// Bytes of header text after the prefix.
    pub header_len: usize,
}

fn escape(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        s.extend(std::ascii::escape_default(b).map(char::from));
    }
    s.push('"');
    s
}

/// Parses the fixed prefix from the first bytes available (`start` holds at least what the
/// caller could read, up to 12 bytes).
pub(crate) fn parse_prefix(file: &str, start: &[u8]) -> Result<Prefix> {
    let magic_len = start.len().min(MAGIC.len());
    if start[..magic_len] != MAGIC[..magic_len] {
        return Err(NpyError::BadMagic {
            file: file.into(),
            found: escape(&start[..start.len().min(8)]),
        });
    }
    if start.len() < 8 {
        return Err(NpyError::TruncatedHeader {
            file: file.into(),
            detail: format!("only {} bytes, the magic and version need 8", start.len()),
        });
    }
    let (major, minor) = (start[6], start[7]);
    let len_bytes = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(NpyError::UnsupportedVersion {
                file: file.into(),
                major,
                minor,
            })
        }
    };
    let prefix_len = 8 + len_bytes;
    if start.len() < prefix_len {
        return Err(NpyError::TruncatedHeader {
            file: file.into(),
            detail: format!(
                "the header length field needs {prefix_len} bytes, only {} present",
                start.len()
            ),
        });
    }
    let header_len = if len_bytes == 2 {
        u16::from_le_bytes([start[8], start[9]]) as usize
    } else {
        let n = u32::from_le_bytes([start[8], start[9], start[10], start[11]]);
        usize::try_from(n).unwrap_or(usize::MAX)
    };
    if header_len > MAX_HEADER_LEN {
        return Err(NpyError::BadHeader {
            file: file.into(),
            detail: format!(
                "header length {header_len} exceeds the limit of {MAX_HEADER_LEN} bytes"
            ),
        });
    }
    Ok(Prefix {
        major,
        prefix_len,
        header_len,
    })
}

/// A Python literal value, as far as `.npy` headers use them.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Seq(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.peek() {
            Some(got) if got == c => {
                self.pos += 1;
                Ok(())
            }
            Some(got) => Err(format!(
                "expected '{c}' at offset {}, found '{got}'",
                self.pos
            )),
            None => Err(format!(
                "expected '{c}' at offset {}, found the end",
                self.pos
            )),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("literal nested too deeply".into());
        }
        match self.peek() {
            None => Err("unexpected end of header".into()),
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                self.string(q).map(Value::Str)
            }
            Some('(') => self.seq('(', ')', depth).map(Value::Seq),
            Some('[') => self.seq('[', ']', depth).map(Value::Seq),
            Some('{') => self.dict(depth),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.int().map(Value::Int),
            Some(c) if c.is_alphabetic() => {
                let start = self.pos;
                while self
                    .chars
                    .get(self.pos)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_')
                {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    "None" => Ok(Value::None),
                    _ => Err(format!("unexpected name '{word}' at offset {start}")),
                }
            }
            Some(c) => Err(format!("unexpected '{c}' at offset {}", self.pos)),
        }
    }

    fn string(&mut self, quote: char) -> Result<String, String> {
        let mut s = String::new();
        loop {
            let Some(&c) = self.chars.get(self.pos) else {
                return Err("unterminated string".into());
            };
            self.pos += 1;
            if c == quote {
                return Ok(s);
            }
            if c == '\\' {
                let Some(&e) = self.chars.get(self.pos) else {
                    return Err("unterminated string".into());
                };
                self.pos += 1;
                s.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
            } else {
                s.push(c);
            }
        }
    }

    fn int(&mut self) -> Result<i128, String> {
        let start = self.pos;
        let negative = match self.chars.get(self.pos) {
            Some('-') => {
                self.pos += 1;
                true
            }
            Some('+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        let mut n: i128 = 0;
        let mut digits = 0;
        while let Some(d) = self.chars.get(self.pos).and_then(|c| c.to_digit(10)) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(i128::from(d)))
                .ok_or_else(|| format!("integer at offset {start} is too large"))?;
            digits += 1;
            self.pos += 1;
        }
        if digits == 0 {
            return Err(format!("expected digits at offset {start}"));
        }
        // Python 2 long suffix, still found in old files.
        if matches!(self.chars.get(self.pos), Some('L' | 'l')) {
            self.pos += 1;
        }
        Ok(if negative { -n } else { n })
    }

    fn seq(&mut self, open: char, close: char, depth: usize) -> Result<Vec<Value>, String> {
        self.expect(open)?;
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(c) if c == close => {}
                _ => return Err(format!("expected ',' or '{close}' at offset {}", self.pos)),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Value, String> {
        self.expect('{')?;
        let mut items = Vec::new();
        loop {
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Value::Dict(items));
            }
            let key = self.value(depth + 1)?;
            self.expect(':')?;
            let value = self.value(depth + 1)?;
            items.push((key, value));
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                _ => return Err(format!("expected ',' or '}}' at offset {}", self.pos)),
            }
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// Parses the header text (the bytes after the prefix) of a file with format `major`.
pub(crate) fn parse_header(file: &str, major: u8, text: &[u8]) -> Result<Header> {
    let bad = |detail: String| NpyError::BadHeader {
        file: file.into(),
        detail,
    };
    let chars: Vec<char> = if major >= 3 {
        std::str::from_utf8(text)
            .map_err(|_| bad("version 3.0 header is not valid UTF-8".into()))?
            .chars()
            .collect()
    } else {
        text.iter().map(|&b| char::from(b)).collect()
    };
    let mut p = Parser {
        chars: &chars,
        pos: 0,
    };
    let dict = match p.value(0).map_err(&bad)? {
        Value::Dict(items) => items,
        other => return Err(bad(format!("expected a dict, found {}", describe(&other)))),
    };
    if p.peek().is_some() {
        return Err(bad(format!(
            "unexpected text after the dict at offset {}",
            p.pos
        )));
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in dict {
        let slot = match &k {
            Value::Str(s) if s == "descr" => &mut descr,
            Value::Str(s) if s == "fortran_order" => &mut fortran,
            Value::Str(s) if s == "shape" => &mut shape,
            other => return Err(bad(format!("unexpected key {}", describe(other)))),
        };
        if slot.replace(v).is_some() {
            return Err(bad(format!("key {} appears twice", describe(&k))));
        }
    }
    let missing = |k: &str| bad(format!("missing key '{k}'"));
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let fortran = fortran.ok_or_else(|| missing("fortran_order"))?;
    let shape = shape.ok_or_else(|| missing("shape"))?;

    let dtype = match &descr {
        Value::Str(s) => NpyDType::from_descr(s).map_err(|detail| NpyError::UnsupportedDType {
            file: file.into(),
            descr: s.clone(),
            detail,
        })?,
        other => {
            return Err(NpyError::UnsupportedDType {
                file: file.into(),
                descr: describe(other),
                detail: "structured and object dtypes are not supported".into(),
            })
        }
    };
    match fortran {
        Value::Bool(false) => {}
        Value::Bool(true) => return Err(NpyError::FortranOrder { file: file.into() }),
        other => {
            return Err(bad(format!(
                "fortran_order must be True or False, found {}",
                describe(&other)
            )))
        }
    }
    let Value::Seq(dims) = shape else {
        return Err(bad(format!(
            "shape must be a tuple, found {}",
            describe(&shape)
        )));
    };
    let mut out = Vec::with_capacity(dims.len().min(64));
    for d in &dims {
        match d {
            Value::Int(n) => out.push(
                usize::try_from(*n)
                    .map_err(|_| bad(format!("shape {dims:?} has an invalid dimension {n}")))?,
            ),
            other => {
                return Err(bad(format!(
                    "shape entries must be integers, found {}",
                    describe(other)
                )))
            }
        }
    }
    Ok(Header { dtype, shape: out })
}

/// Python's `repr` of a shape tuple: `()`, `(5,)`, `(2, 3)`.
fn shape_repr(shape: &[usize]) -> String {
    match shape {
        [] => "()".into(),
        [d] => format!("({d},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// Encodes the prefix and padded header exactly as NumPy's `np.save` does (version 1.0 unless
/// the header needs more than 65 535 bytes, then 2.0).
pub fn encode_header(header: &Header) -> Vec<u8> {
    let mut text = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
        header.dtype.descr(),
        shape_repr(&header.shape)
    );
    if let Some(first) = header.shape.first() {
        let digits = first.to_string().len();
        text.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let hlen = text.len() + 1;
    let (version, len_bytes) = {
        let pad = ALIGN - (MAGIC.len() + 2 + 2 + hlen) % ALIGN;
        if hlen + pad <= usize::from(u16::MAX) {
            (1u8, 2)
        } else {
            (2u8, 4)
        }
    };
    let pad = ALIGN - (MAGIC.len() + 2 + len_bytes + hlen) % ALIGN;
    let total = hlen + pad;
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + len_bytes + total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if len_bytes == 2 {
        out.extend_from_slice(&(total as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(total as u32).to_le_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Header> {
        parse_header("t", 1, text.as_bytes())
    }

    #[test]
    fn parses_numpy_style_headers() {
        let h = parse("{'descr': '<f4', 'fortran_order': False, 'shape': (16, 8, 8, 1), }   \n")
            .unwrap();
        assert_eq!(h.dtype, NpyDType::F32);
        assert_eq!(h.shape, vec![16, 8, 8, 1]);
        let h = parse("{\"shape\": (), \"descr\": \"|b1\", \"fortran_order\": False}").unwrap();
        assert_eq!(h.shape, Vec::<usize>::new());
        let h = parse("{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 4L), }").unwrap();
        assert_eq!(h.shape, vec![3, 4]);
        assert_eq!(
            parse("{'descr':'<u2','fortran_order':False,'shape':[5]}")
                .unwrap()
                .shape,
            vec![5]
        );
    }

    #[test]
    fn rejects_bad_headers() {
        let cases = [
            "",
            "{",
            "[1, 2]",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
            "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999999999999999999999,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': 3}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk",
            "{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",
        ];
        for c in cases {
            assert!(
                matches!(parse(c), Err(NpyError::BadHeader { .. })),
                "{c:?}: {:?}",
                parse(c)
            );
        }
        let deep = format!("{}{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': {deep}}}"
        ))
        .is_err());
        assert!(matches!(
            parse("{'descr': '<f4', 'fortran_order': True, 'shape': (1,)}"),
            Err(NpyError::FortranOrder { .. })
        ));
        assert!(matches!(
            parse("{'descr': '>f8', 'fortran_order': False, 'shape': (1,)}"),
            Err(NpyError::UnsupportedDType { .. })
        ));
        assert!(matches!(
            parse("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}"),
            Err(NpyError::UnsupportedDType { .. })
        ));
    }

    #[test]
    fn encoded_headers_are_aligned_and_parse_back() {
        for shape in [vec![], vec![7], vec![16, 8, 8, 1], vec![usize::MAX]] {
            for dtype in NpyDType::ALL {
                let h = Header {
                    dtype,
                    shape: shape.clone(),
                };
                let bytes = encode_header(&h);
                assert_eq!(bytes.len() % 64, 0);
                assert_eq!(*bytes.last().unwrap(), b'\n');
                let p = parse_prefix("t", &bytes[..12]).unwrap();
                assert_eq!(p.prefix_len + p.header_len, bytes.len());
                assert_eq!(parse_header("t", 1, &bytes[p.prefix_len..]).unwrap(), h);
            }
        }
        let big = Header {
            dtype: NpyDType::U8,
            shape: vec![1; 30_000],
        };
        let bytes = encode_header(&big);
        assert_eq!(bytes[6], 2);
        assert_eq!(bytes.len() % 64, 0);
    }

    #[test]
    fn prefix_errors() {
        assert!(matches!(
            parse_prefix("t", b"\x93NUMP"),
            Err(NpyError::TruncatedHeader { .. })
        ));
        assert!(matches!(
            parse_prefix("t", b"PK\x03\x04"),
            Err(NpyError::BadMagic { .. })
        ));
        assert!(matches!(
            parse_prefix("t", b""),
            Err(NpyError::TruncatedHeader { .. })
        ));
        assert!(matches!(
            parse_prefix("t", b"\x93NUMPY\x04\x00\x10\x00"),
            Err(NpyError::UnsupportedVersion { major: 4, .. })
        ));
        assert!(matches!(
            parse_prefix("t", b"\x93NUMPY\x02\x00\x10\x00"),
            Err(NpyError::TruncatedHeader { .. })
        ));
        assert!(matches!(
            parse_prefix("t", b"\x93NUMPY\x02\x00\xff\xff\xff\xff"),
            Err(NpyError::BadHeader { .. })
        ));
    }
}
