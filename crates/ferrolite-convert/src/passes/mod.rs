//! Graph rewrites applied after lowering, in the order TF's converter applies their
//! counterparts: drop identities, merge reshapes, fold transposes into BATCH_MATMUL, merge
//! common subexpressions, fold constant affine ops into neighbouring conv / dense ops
//! (BatchNormalization, Rescaling, Normalization), fuse relu-family activations, merge again,
//! remove dead code, then stamp operator versions (from which [`runtime`] derives
//! `min_runtime_version`).
//!
//! Each pass is a plain function over a [`Subgraph`] that records what it changed in the
//! [`Report`]. They are independent of Keras and work on any float ferrolite graph.

pub mod affine;
pub mod cse;
pub mod dce;
pub mod fold;
pub mod fuse;
pub mod identity;
pub mod matmul;
pub mod runtime;
pub mod transpose;
pub mod version;

use crate::report::Report;
use ferrolite_model::Subgraph;

/// Runs every pass, in order, on one subgraph.
pub fn optimize(sg: &mut Subgraph, report: &mut Report) {
    identity::remove_identities(sg, report);
    identity::merge_reshapes(sg, report);
    matmul::fold_transposes(sg, report);
    cse::eliminate_common_subexpressions(sg, report);
    fold::fold_into_producer(sg, report);
    fold::fold_into_consumer(sg, report);
    fuse::fuse_activations(sg, report);
    cse::eliminate_common_subexpressions(sg, report);
    dce::eliminate_dead_code(sg, report);
    version::stamp_versions(sg);
}
