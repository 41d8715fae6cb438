"""Where every random draw comes from: one run seed, and a named stream for each use of it.

A run has one integer seed. Each part of the pipeline that draws random
numbers takes its own :class:`numpy.random.Generator` from the stream named
for it in :data:`STREAMS`, keyed by what the draw depends on (an epoch, a
layer number), so that

* two uses of one seed never share random numbers by accident, and adding a
  stream changes no other;
* a draw depends only on ``(seed, stream, keys)``: epoch 5 of a resumed run
  draws exactly what epoch 5 of an uninterrupted run drew.

The generator of stream ``s`` with keys ``k1, k2...`` is
``numpy.random.default_rng([seed, k1, k2, ..., STREAMS[s]])``. The numbers in
the table are arbitrary but fixed: changing one changes every result that
depends on it. Two streams take the seed alone (``None`` in the table:
``default_rng(seed)``), as they did before the table existed, so that the
committed results reproduce; they are used on unrelated things (which speakers
are held out, and which trials a bootstrap resample draws).

Per-speaker draws (the val utterances of a training speaker, a speaker's
enrolment utterances) are keyed by a hash of the speaker's id instead, so
that they do not depend on the other speakers:
:func:`speakerlib.data.splits.speaker_rng`.
"""

from __future__ import annotations

import numpy as np

from speakerlib.errors import UnknownNameError

__all__ = ["STREAMS", "rng", "set_global_seed"]

#: Stream name -> the number that follows the keys in the generator's seed.
STREAMS: dict[str, int | None] = {
    # speakerlib.data.splits
    "split.speakers": None,   # no keys: which speakers are train, dev and test
    "split.carved": 29,       # keys (stable_hash(part),): which speakers carve_part moves to a new part
    # speakerlib.train
    "train.batches": 7,       # keys (epoch,): the order of the training utterances in the batches
    "train.crops": 11,        # keys (epoch,): the stateless seeds of each batch's random crops
    "train.layers": 13,       # keys (k,): the state of the model's k-th random layer (dropout, masks)
    "triplet.batches": 17,    # keys (epoch,): the speakers x utterances batches of the triplet stage
    # speakerlib.evaluation
    "trials.targets": 1,      # no keys: which same-speaker pairs a trial list samples
    "trials.nontargets": 2,   # no keys: which different-speaker pairs
    "si.bootstrap": 7,        # no keys: the SI protocol's bootstrap resamples
    "sv.bootstrap": None,     # no keys: the SV report's bootstrap resamples
    # speakerlib.augmentation
    "augment.rirs": 19,       # keys (i,): the i-th simulated room (size, absorption, positions)
    "augment.chain": 23,      # keys (epoch, example): the generator augment() gets for one crop
}


def rng(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """The generator of ``stream`` for ``seed`` and ``keys`` (see the module docstring).

    Parameters
    ----------
    seed : int >= 0
        The run's (or the evaluation's) seed.
    stream : str
        A name in :data:`STREAMS`.
    *keys : int >= 0
        What the draw depends on besides the seed (an epoch, a layer index).

    Raises
    ------
    UnknownNameError
        If ``stream`` is not in :data:`STREAMS`.

    Examples
    --------
    >>> rng(0, "train.batches", 3).permutation(5).tolist() == \\
    ...     np.random.default_rng([0, 3, 7]).permutation(5).tolist()
    True
    """
    if stream not in STREAMS:
        raise UnknownNameError(f"unknown random stream {stream!r}; valid: {', '.join(STREAMS)}")
    salt = STREAMS[stream]
    return np.random.default_rng([int(seed), *(int(k) for k in keys), *(() if salt is None else (salt,))])


def set_global_seed(seed: int) -> None:
    """Seed the global generators Keras draws initial weights from (Python, NumPy, TensorFlow).

    ``keras.utils.set_random_seed``; Keras offers no narrower switch. Keras is
    imported here, not at the top, so that the modules of the pipeline that
    never build a model do not load it.
    """
    from speakerlib._tensorflow import keras

    keras.utils.set_random_seed(int(seed))
