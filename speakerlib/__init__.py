"""speakerlib: the package behind the deep speaker recognition course.

The layout follows the pipeline a reader walks through the book::

    data (corpora, manifests, splits) -> audio -> vad -> framing -> features
    -> models -> train -> embed -> evaluate -> plots

Every stage is a module (or a sub-package) with pure functions that take the
signal first and settings as keywords; the command line (``speakerlib --help``)
exposes what the notebooks do.
"""

from speakerlib.errors import SpeakerlibError

__version__ = "0.1.0"

__all__ = ["SpeakerlibError", "__version__"]
