"""Writes the NumPy reference files next to this script (run: tools/.venv/bin/python <this>).

Each dtype file holds shape (2, 3) with values [min, max, 0, 1, a, b] (see the Rust test
`tests/numpy_reference.rs` for the exact list); the rest exercise versions, scalars, empty
arrays, deflated archives and the rejected layouts.
"""
import os
import numpy as np
import numpy.lib.format as fmt

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


ints = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
for name in ints:
    info = np.iinfo(name)
    extra = [-1, 42] if info.min < 0 else [2, 42]
    np.save(path(f"{name}.npy"), np.array([info.min, info.max, 0, 1] + extra, dtype=name).reshape(2, 3))
for name in ["float16", "float32", "float64"]:
    info = np.finfo(name)
    vals = np.array([-1.5, 0.0, 2.25, 0.001, float(info.max), -np.inf]).astype(name)
    np.save(path(f"{name}.npy"), vals.reshape(2, 3))
np.save(path("bool.npy"), np.array([True, False, True, True, False, False]).reshape(2, 3))
np.save(path("scalar_f64.npy"), np.float64(3.5))
np.save(path("empty_f32.npy"), np.zeros((0, 3), np.float32))
for version in [(2, 0), (3, 0)]:
    with open(path(f"v{version[0]}_i32.npy"), "wb") as f:
        fmt.write_array(f, np.arange(5, dtype=np.int32), version=version)
np.save(path("fortran_f32.npy"), np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
np.save(path("bigendian_f4.npy"), np.arange(3, dtype=">f4"))
np.save(path("structured.npy"), np.zeros(2, dtype=[("a", "<f4"), ("b", "<i2")]))
np.save(path("complex64.npy"), np.zeros(2, dtype=np.complex64))
np.savez_compressed(path("deflated.npz"), weights=np.linspace(0, 1, 50, dtype=np.float32).reshape(5, 10),
                    labels=np.arange(5, dtype=np.int64), flag=np.bool_(True))
np.savez(path("stored.npz"), b=np.arange(4, dtype=np.uint8), a=np.full((2, 2), -7, np.int16))
