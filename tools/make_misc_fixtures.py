"""Small odd-case .tflite files for error-path tests (tests/fixtures/misc/).

Regenerate: tools/.venv/bin/python tools/make_misc_fixtures.py
- cumsum.tflite: a float model whose CUMSUM operator ferrolite has no kernel for; the interpreter
  must refuse it at allocate_tensors, naming the operator and its tensors.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "misc")


@tf.function(input_signature=[tf.TensorSpec([1, 5], tf.float32, name="x")])
def cumsum(x):
    return tf.math.cumsum(tf.nn.relu(x), axis=1)


def main():
    os.makedirs(OUT, exist_ok=True)
    cf = cumsum.get_concrete_function()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], cumsum)
    with open(os.path.join(OUT, "cumsum.tflite"), "wb") as f:
        f.write(conv.convert())


if __name__ == "__main__":
    main()
