//! Fuzz-style robustness: thousands of random mutations of valid `.npy` and `.npz` bytes must
//! give `Ok` (with a self-consistent array) or `Err`, never a panic or a huge allocation.

use ferrolite_npy::*;

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that make header text interesting when spliced in.
const TOKENS: &[&[u8]] = &[
    b"(",
    b")",
    b",",
    b"'",
    b"\"",
    b"{",
    b"}",
    b":",
    b"9999999999999999999999",
    b"-1",
    b"True",
    b"<f8",
    b">i4",
    b"|b1",
    b"[",
    b"]",
    b"\\",
    b"L",
    b"\xff",
    b"\n",
    b"0",
];

fn mutate(rng: &mut Rng, original: &[u8], header_end: usize) -> Vec<u8> {
    let mut b = original.to_vec();
    for _ in 0..1 + rng.below(4) {
        // Mostly aim at the prefix and header, where the parsing is.
        let limit = if rng.below(4) == 0 {
            b.len()
        } else {
            header_end.min(b.len())
        };
        let at = rng.below(limit.max(1));
        match rng.below(6) {
            0 if !b.is_empty() => {
                let at = at.min(b.len() - 1);
                b[at] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let at = at.min(b.len() - 1);
                b[at] = rng.next() as u8;
            }
            2 => b.truncate(rng.below(b.len() + 1)),
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                let at = at.min(b.len());
                b.splice(at..at, t.iter().copied());
            }
            4 if at < b.len() => {
                let end = (at + 1 + rng.below(8)).min(b.len());
                b.drain(at..end);
            }
            _ => {
                let at = at.min(b.len());
                b.insert(at, rng.next() as u8);
            }
        }
    }
    b
}

#[test]
fn mutated_npy_never_panics() {
    let arrays = [
        Array::from_f32(&[4, 3], &[0.5; 12]).unwrap(),
        Array::from_i64(&[], &[-5]).unwrap(),
        Array::from_bool(&[2, 0, 3], &[]).unwrap(),
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut outcomes = [0usize; 2];
    for i in 0..2000 {
        let a = &arrays[i % arrays.len()];
        let valid = to_npy_bytes(a).unwrap();
        let mutated = mutate(&mut rng, &valid, 128);
        match read_npy_bytes(&mutated) {
            Ok(back) => {
                back.validate().unwrap();
                outcomes[0] += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                outcomes[1] += 1;
            }
        }
    }
    // Both paths get exercised.
    assert!(outcomes[0] >= 5 && outcomes[1] > 200, "{outcomes:?}");
}

#[test]
fn mutated_npz_never_panics() {
    let x = Array::from_f32(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let y = Array::from_u8(&[4], &[1, 2, 3, 4]).unwrap();
    let mut rng = Rng(12345);
    for i in 0..2000 {
        let c = if i % 2 == 0 {
            NpzCompression::Stored
        } else {
            NpzCompression::Deflated
        };
        let valid = to_npz_bytes(&[("x", &x), ("y", &y)], c).unwrap();
        let len = valid.len();
        let mutated = mutate(&mut rng, &valid, len);
        if let Ok(entries) = read_npz_bytes(&mutated) {
            for (_, a) in entries {
                a.validate().unwrap();
            }
        }
    }
}
