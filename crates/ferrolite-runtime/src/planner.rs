//! The arena memory planner: one buffer for all activations, offsets reused once a tensor is dead.
//!
//! Each non-constant tensor has a lifetime `[first, last]` in operator steps. Tensors are placed
//! largest first at the lowest aligned offset that does not overlap any already-placed tensor whose
//! lifetime intersects its own — the greedy-by-size strategy of TFLite's arena planner.

/// Alignment of every tensor in the arena (a cache line; enough for any SIMD load).
pub const ARENA_ALIGNMENT: usize = 64;

/// One tensor to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// Bytes needed.
    pub size: usize,
    /// First step at which the tensor must hold data (its producer, or 0 for graph inputs).
    pub first: usize,
    /// Last step that reads it (inclusive; `usize::MAX` for graph outputs).
    pub last: usize,
}

/// The result of planning: an offset per request and the arena size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Offset of each allocation, in request order.
    pub offsets: Vec<usize>,
    /// Total bytes needed.
    pub arena_bytes: usize,
}

fn align(n: usize) -> usize {
    n.div_ceil(ARENA_ALIGNMENT) * ARENA_ALIGNMENT
}

/// Places every allocation; zero-sized ones get offset 0 and occupy nothing.
pub fn plan(requests: &[Allocation]) -> Plan {
    let mut order: Vec<usize> = (0..requests.len()).collect();
    // Largest first; ties by earlier first use so the layout is deterministic.
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&requests[a], &requests[b]);
        rb.size
            .cmp(&ra.size)
            .then(ra.first.cmp(&rb.first))
            .then(a.cmp(&b))
    });
    let mut offsets = vec![0usize; requests.len()];
    // Placed (offset, end, request) triples, kept sorted by offset.
    let mut placed: Vec<(usize, usize, usize)> = Vec::new();
    let mut arena_bytes = 0;
    for &i in &order {
        let r = requests[i];
        if r.size == 0 {
            continue;
        }
        let size = align(r.size);
        let mut candidate = 0;
        for &(off, end, j) in &placed {
            let o = requests[j];
            let overlaps_in_time = o.first <= r.last && r.first <= o.last;
            if !overlaps_in_time {
                continue;
            }
            if off >= candidate + size {
                // The gap before this block fits; since `placed` is sorted, we are done.
                break;
            }
            candidate = candidate.max(end);
        }
        offsets[i] = candidate;
        let pos = placed.partition_point(|&(off, _, _)| off <= candidate);
        placed.insert(pos, (candidate, candidate + size, i));
        arena_bytes = arena_bytes.max(candidate + size);
    }
    Plan {
        offsets,
        arena_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlaps(a: &Allocation, oa: usize, b: &Allocation, ob: usize) -> bool {
        let time = a.first <= b.last && b.first <= a.last;
        let space = oa < ob + b.size && ob < oa + a.size;
        a.size > 0 && b.size > 0 && time && space
    }

    #[test]
    fn dead_tensors_share_memory() {
        // A chain a -> b -> c: a and c never live together, so c reuses a's bytes.
        let reqs = [
            Allocation {
                size: 1000,
                first: 0,
                last: 1,
            },
            Allocation {
                size: 1000,
                first: 1,
                last: 2,
            },
            Allocation {
                size: 1000,
                first: 2,
                last: 3,
            },
        ];
        let p = plan(&reqs);
        assert_eq!(p.arena_bytes, 2 * align(1000));
        assert_eq!(p.offsets[0], p.offsets[2]);
    }

    #[test]
    fn random_plans_never_overlap_live_tensors() {
        let mut seed = 12345u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        for _ in 0..200 {
            let n = 1 + next(30) as usize;
            let reqs: Vec<Allocation> = (0..n)
                .map(|_| {
                    let first = next(20) as usize;
                    Allocation {
                        size: next(5000) as usize,
                        first,
                        last: first + next(6) as usize,
                    }
                })
                .collect();
            let p = plan(&reqs);
            for i in 0..n {
                assert_eq!(p.offsets[i] % ARENA_ALIGNMENT, 0);
                assert!(p.offsets[i] + reqs[i].size <= p.arena_bytes || reqs[i].size == 0);
                for j in 0..i {
                    assert!(
                        !overlaps(&reqs[i], p.offsets[i], &reqs[j], p.offsets[j]),
                        "{i} and {j} overlap"
                    );
                }
            }
            let total: usize = reqs.iter().map(|r| align(r.size)).sum();
            assert!(p.arena_bytes <= total);
        }
    }
}
