//! What each registered operator supports: the operand-type [`Variant`]s a prepare function
//! accepts (the columns of the README's support table and of `ferrolite ops`), as a compact
//! [`VariantSet`].
//!
//! Declarations are written next to each `Registry::add` call (`.supports(&[F32, Int8, ...])`)
//! and kept honest by `tests/support_table.rs`, which classifies every operator of every fixture
//! model into a variant and fails when a model that runs exercises an undeclared one.

use std::fmt;

/// One way of running an operator, named after the kind of model that needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// float32 activations and float32 weights (the converter's default output).
    F32,
    /// int8 activations (full-integer models): int8 weights, int32 bias, scales and zero points.
    Int8,
    /// Legacy asymmetric uint8 activations and uint8 weights (TF1-era quantized models).
    UInt8,
    /// int16 symmetric activations with int8 weights and int64 (or int32) bias (the 16x8 scheme).
    Int16x8,
    /// Dynamic-range ("hybrid"): float32 activations with int8 constant weights, the activations
    /// quantized on the fly inside the kernel.
    Hybrid,
    /// float16 constants expanded to float32 by a DEQUANTIZE feeding a float32 operator
    /// (float16-quantized models); needs DEQUANTIZE from float16 and the op's float32 form.
    F16Weights,
}

impl Variant {
    /// Every variant, in table-column order.
    pub const ALL: [Variant; 6] = [
        Variant::F32,
        Variant::Int8,
        Variant::UInt8,
        Variant::Int16x8,
        Variant::Hybrid,
        Variant::F16Weights,
    ];

    /// The short name used in tables and JSON (`f32`, `int8`, `uint8`, `int16x8`, `hybrid`,
    /// `f16-weights`).
    pub fn name(self) -> &'static str {
        match self {
            Variant::F32 => "f32",
            Variant::Int8 => "int8",
            Variant::UInt8 => "uint8",
            Variant::Int16x8 => "int16x8",
            Variant::Hybrid => "hybrid",
            Variant::F16Weights => "f16-weights",
        }
    }

    /// The variant called `name` (as [`Variant::name`] spells it).
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// This variant's bit in a [`VariantSet`].
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Variant`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct VariantSet(u8);

impl VariantSet {
    /// The empty set.
    pub const EMPTY: VariantSet = VariantSet(0);

    /// The set holding `variants`.
    pub fn of(variants: &[Variant]) -> Self {
        let mut s = VariantSet::EMPTY;
        for &v in variants {
            s.insert(v);
        }
        s
    }

    /// Adds `v`.
    pub fn insert(&mut self, v: Variant) {
        self.0 |= v.bit();
    }

    /// True when `v` is in the set.
    pub fn contains(self, v: Variant) -> bool {
        self.0 & v.bit() != 0
    }

    /// True when the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members in [`Variant::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Variant> {
        Variant::ALL.into_iter().filter(move |&v| self.contains(v))
    }
}

impl FromIterator<Variant> for VariantSet {
    fn from_iter<I: IntoIterator<Item = Variant>>(iter: I) -> Self {
        let mut s = VariantSet::EMPTY;
        for v in iter {
            s.insert(v);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_keep_column_order() {
        for v in Variant::ALL {
            assert_eq!(Variant::from_name(v.name()), Some(v));
        }
        assert_eq!(Variant::from_name("float32"), None);
        let s = VariantSet::of(&[Variant::F16Weights, Variant::Int8, Variant::Int8]);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [Variant::Int8, Variant::F16Weights]
        );
        assert!(s.contains(Variant::Int8) && !s.contains(Variant::F32));
        assert!(VariantSet::EMPTY.is_empty() && !s.is_empty());
        let collected: VariantSet = [Variant::Hybrid].into_iter().collect();
        assert_eq!(collected, VariantSet::of(&[Variant::Hybrid]));
    }

    #[test]
    fn every_registered_op_declares_its_support() {
        let all = crate::ops::registered();
        assert!(all.len() >= 89, "only {} ops registered", all.len());
        for (name, _, reg) in &all {
            // An op with no variant (bool-only ops) must say why in a note.
            assert!(
                !reg.support.is_empty() || !reg.notes.is_empty(),
                "{name} declares no variant and no note"
            );
            // A float16 constant reaches any float32 op through DEQUANTIZE, and only that way.
            let f32 = reg.support.contains(Variant::F32);
            let f16 = reg.support.contains(Variant::F16Weights);
            if name == "DEQUANTIZE" {
                assert!(f16 && !f32, "DEQUANTIZE: f16 input, not an f32 op");
            } else {
                assert_eq!(f32, f16, "{name}: f16-weights must go with f32");
            }
            // Hybrid kernels take float activations.
            if reg.support.contains(Variant::Hybrid) {
                assert!(f32, "{name}: hybrid without f32");
            }
        }
        let names: Vec<&str> = all.iter().map(|(n, _, _)| n.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "registered() is sorted by name");
    }
}
