//! Keras converter (in progress).
