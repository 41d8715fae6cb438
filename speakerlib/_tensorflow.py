"""TensorFlow and Keras, imported once without their start-up lines on the console.

Importing TensorFlow 2.21 writes lines such as ``WARNING: All log messages
before absl::InitializeLog() is called are written to STDERR`` and ``oneDNN
custom operations are on`` straight to the process's standard error, before
``TF_CPP_MIN_LOG_LEVEL`` takes effect, so they reach every command's output and
every notebook cell that imports a model. Later, TensorFlow's C++ runtime logs
informational lines and warnings of its own while it runs (``cpu_feature_guard``:
which CPU instructions the binary was not built for; ``generator_dataset_op``:
``Memory patch applied``...). None of them says anything a user can act on.
Every speakerlib module that needs TensorFlow imports it from here::

    from speakerlib._tensorflow import keras, tf

What is hidden
--------------
* The first import runs with file descriptor 2 pointed at a temporary file;
  if the import fails, what was written there is replayed on standard error
  before the exception propagates, so nothing that explains a failure is lost.
  Later imports are Python's cached modules and print nothing anyway.
* ``TF_CPP_MIN_LOG_LEVEL`` is set to ``2`` before the import when it is not
  set already: TensorFlow's C++ INFO and WARNING lines are dropped, its ERROR
  lines still show. A value the user set is kept.
* TensorFlow's Python logger (``tf.get_logger()``) is set to ERROR, which hides
  its WARNING lines such as "5 out of the last 21 calls to <function
  TensorFlowTrainer._make_function...> triggered tf.function retracing": Keras
  traces its train and test functions again for each new crop length (a
  large-margin stage, the val crops), which is expected and costs a second.

``SPEAKERLIB_VERBOSE=1`` in the environment (the command line's ``--verbose``
sets it) turns both off: TensorFlow prints everything it would on its own.
It must be set before speakerlib first imports TensorFlow (the command line
sets it before it runs a command).

oneDNN itself is left on (``TF_ENABLE_ONEDNN_OPTS`` unchanged): turning it off
would change the numbers.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile

__all__ = ["tf", "keras", "verbose"]

#: The environment variable that lets TensorFlow's own console output through (``1``).
VERBOSE_ENV = "SPEAKERLIB_VERBOSE"


def verbose() -> bool:
    """True when ``SPEAKERLIB_VERBOSE`` is ``1`` (or ``true``/``yes``): TensorFlow's lines are not hidden."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes")


def _import_quietly():
    if "tensorflow" in sys.modules or verbose():  # imported already, or nothing to hide
        import keras
        import tensorflow

        return tensorflow, keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras
            import tensorflow
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    tensorflow.get_logger().setLevel(logging.ERROR)
    return tensorflow, keras


tf, keras = _import_quietly()
