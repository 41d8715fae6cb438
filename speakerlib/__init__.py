"""speakerlib: the package behind the deep speaker recognition course.

A reader walks the pipeline in this order, one chapter each::

    data (corpora, manifests, splits) -> audio -> vad -> framing -> features
    -> store -> models -> train -> embed -> evaluate -> use

and the package has one home for each stage. Its modules are layered: a module
imports only from its own layer and the ones before it (``tests/test_layout.py``
checks this), so each stage can be read, tested and replaced without the later
ones:

=================  =========================================================
layer              modules
=================  =========================================================
foundation         :mod:`~speakerlib.errors` (every exception),
                   :mod:`~speakerlib.registry` (every list of names),
                   :mod:`~speakerlib.seeds` (every random stream),
                   :mod:`~speakerlib._io` (atomic writes),
                   :mod:`~speakerlib._lock` (one writer per folder),
                   :mod:`~speakerlib.paths` (the folders of an experiment),
                   :mod:`~speakerlib.display` (tables to the precision of their units)
audio              :mod:`speakerlib.audio`: decoding any file, NIST SPHERE
data               :mod:`speakerlib.data`: corpora, manifests, splits, downloads,
                   the synthetic corpus, WAV conversion
vad, framing       :mod:`speakerlib.vad`, :mod:`speakerlib.framing`,
                   :mod:`speakerlib.augmentation` (noise, reverberation, speed)
features           :mod:`speakerlib.features`
store, prepare     :mod:`speakerlib.store` (the feature store), :mod:`speakerlib.prepare` (filling it)
evaluation         :mod:`speakerlib.evaluation`: metrics and protocols on embeddings,
                   whoever made them (so training's dev metrics use it too)
models             :mod:`speakerlib.models`: architectures, losses, augmentation
train              :mod:`speakerlib.train`: recipes, profiles, stages, run folders
embed              :mod:`speakerlib.embed`
inference          :mod:`speakerlib.inference`: a trained model on your own recordings
                   (encoder, calibration, speaker database)
top                :mod:`speakerlib.baseline`, :mod:`speakerlib.reproduce`, :mod:`speakerlib.pretrain`,
                   :mod:`speakerlib.cli`
=================  =========================================================

Every stage is a module (or a sub-package) with pure functions that take the
signal first and settings as keywords; the command line (``speakerlib --help``)
exposes what the notebooks do.
"""

from speakerlib.errors import SpeakerlibError

__version__ = "0.1.0"

__all__ = ["SpeakerlibError", "__version__"]
