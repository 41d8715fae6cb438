"""TensorFlow and Keras, imported once without their start-up lines on the console.

Importing TensorFlow 2.21 writes lines such as ``WARNING: All log messages
before absl::InitializeLog() is called are written to STDERR`` and ``oneDNN
custom operations are on`` straight to the process's standard error, before
``TF_CPP_MIN_LOG_LEVEL`` takes effect, so they reach every command's output and
every notebook cell that imports a model. They say nothing a user can act on.
Every speakerlib module that needs TensorFlow imports it from here::

    from speakerlib._tensorflow import keras, tf

The first import runs with file descriptor 2 pointed at a temporary file; if
the import fails, what was written there is replayed on standard error before
the exception propagates, so nothing that explains a failure is lost. Later
imports are Python's cached modules and print nothing anyway. oneDNN itself is
left on (``TF_ENABLE_ONEDNN_OPTS`` unchanged): turning it off would change the
numbers.
"""

from __future__ import annotations

import os
import sys
import tempfile

__all__ = ["tf", "keras"]


def _import_quietly():
    if "tensorflow" in sys.modules:
        import keras
        import tensorflow

        return tensorflow, keras
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
    return tensorflow, keras


tf, keras = _import_quietly()
