//! Named entry points: run a model through its signature's input and output names.

use super::Interpreter;
use crate::error::{Result, RuntimeError};
use crate::tensor::Element;

/// Runs a signature with named inputs and outputs.
#[derive(Debug)]
pub struct SignatureRunner<'a> {
    pub(super) interp: &'a mut Interpreter,
    pub(super) signature: ferrolite_model::Signature,
}

impl SignatureRunner<'_> {
    fn lookup(list: &[(String, usize)], name: &str, what: &str) -> Result<usize> {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
                RuntimeError::NotFound(format!(
                    "no {what} named '{name}' (signature has {names:?})"
                ))
            })
    }

    /// Input names.
    pub fn input_names(&self) -> Vec<String> {
        self.signature
            .inputs
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Output names.
    pub fn output_names(&self) -> Vec<String> {
        self.signature
            .outputs
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Copies data into a named input.
    pub fn set_input<T: Element>(&mut self, name: &str, data: &[T]) -> Result<()> {
        let t = Self::lookup(&self.signature.inputs, name, "input")?;
        self.interp.set_tensor(t, data)
    }

    /// Runs the model.
    pub fn invoke(&mut self) -> Result<()> {
        self.interp.invoke()
    }

    /// A typed view of a named output.
    pub fn output<T: Element>(&self, name: &str) -> Result<&[T]> {
        let t = Self::lookup(&self.signature.outputs, name, "output")?;
        self.interp.tensor(t)
    }
}
