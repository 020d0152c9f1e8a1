//! What a conversion did: layers lowered, ops folded, fused and dropped.
//!
//! Lowering and every graph pass append [`Event`]s to a [`Report`]; the CLI prints it after
//! `ferrolite convert`, and tests assert on it.

use std::fmt;

/// The kind of a report event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A constant operation was folded into another op's weights or bias (BatchNorm, Rescaling).
    Folded,
    /// An activation was fused into the producing op's `fused_activation_function`.
    Fused,
    /// A layer or op that does nothing at inference was removed (Dropout, identities).
    Dropped,
    /// Anything else worth telling (format, versions, approximations).
    Note,
}

impl EventKind {
    /// Lower-case label used when printing.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::Folded => "folded",
            EventKind::Fused => "fused",
            EventKind::Dropped => "dropped",
            EventKind::Note => "note",
        }
    }
}

/// One thing the converter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What kind of change.
    pub kind: EventKind,
    /// Human-readable description naming the layers or tensors involved.
    pub message: String,
}

/// The summary of one conversion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The source file (or a caller-supplied name).
    pub source: String,
    /// Container format (`legacy HDF5 .h5`, `Keras 3 .keras`, ...).
    pub format: String,
    /// `keras_version` recorded in the file, when present.
    pub keras_version: Option<String>,
    /// Number of Keras layers in the model config.
    pub layers: usize,
    /// Events in the order they happened.
    pub events: Vec<Event>,
}

impl Report {
    /// Appends an event.
    pub fn push(&mut self, kind: EventKind, message: impl Into<String>) {
        self.events.push(Event {
            kind,
            message: message.into(),
        });
    }

    /// Number of events of one kind.
    pub fn count(&self, kind: EventKind) -> usize {
        self.events.iter().filter(|e| e.kind == kind).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.format)?;
        if let Some(v) = &self.keras_version {
            write!(f, " (keras_version {v})")?;
        }
        writeln!(
            f,
            ", {} layers; {} folded, {} fused, {} dropped",
            self.layers,
            self.count(EventKind::Folded),
            self.count(EventKind::Fused),
            self.count(EventKind::Dropped)
        )?;
        for e in &self.events {
            writeln!(f, "  {:<8} {}", e.kind.label(), e.message)?;
        }
        Ok(())
    }
}
