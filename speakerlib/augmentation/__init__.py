"""Waveform augmentation for training: noise, babble, reverberation, speed perturbation.

Training a speaker-embedding network on clean read speech and testing it on
anything else loses accuracy; the x-vector and WeSpeaker recipes add noise,
music, babble and reverberation to the training crops, and speed-perturb
whole utterances (Snyder et al. 2018; Ko et al. 2017). This package does it
on the waveform, with numpy and scipy, before the features are computed.
Every random choice comes from a :class:`numpy.random.Generator` passed in, so
a result depends only on its seed. (:class:`speakerlib.models.augment.SpecAugment`
is the other kind: masks on the features, inside the model.)

:mod:`~speakerlib.augmentation.noise`
    :func:`mix_at_snr` (add noise at an SNR), :func:`coloured_noise`
    (white, pink, brown...), :func:`babble` (a sum of other talkers).
:mod:`~speakerlib.augmentation.reverb`
    :func:`reverberate` (convolve with an RIR, aligned on its direct path),
    :class:`RirBank` (RIRs in memory).
:mod:`~speakerlib.augmentation.simulate`
    Shoebox rooms simulated with pyroomacoustics, cached as ``.npz``
    (:func:`simulated_rir_bank`).
:mod:`~speakerlib.augmentation.corpora`
    Readers of MUSAN (:func:`read_musan`) and OpenSLR 28 RIRS_NOISES
    (:func:`read_rirs_noises`, :func:`load_rirs`).
:mod:`~speakerlib.augmentation.speed`
    :func:`speed_perturb` (duration / factor, pitch x factor).
:mod:`~speakerlib.augmentation.chain`
    :class:`AugmentationConfig`, :class:`AugmentationSources` (:func:`load_sources`)
    and :func:`augment`, the chain a training input pipeline applies to each crop.

Layer: with :mod:`speakerlib.vad` and :mod:`speakerlib.framing`; it reads audio
(:mod:`speakerlib.audio`) and uses the corpus checks of :mod:`speakerlib.data`.

Examples
--------
>>> sources = load_sources(musan_root="musan", num_simulated_rirs=200, seed=0)  # doctest: +SKIP
>>> crop = augment(crop, config=AugmentationConfig(), sources=sources,
...                rng=speakerlib.seeds.rng(seed, "augment.chain", epoch, index))  # doctest: +SKIP
"""

from speakerlib.augmentation.chain import (
    NOISE_SOURCES,
    AugmentationConfig,
    AugmentationSources,
    augment,
    check_sources,
    load_sources,
)
from speakerlib.augmentation.corpora import (
    MUSAN_CATEGORIES,
    RIR_KINDS,
    NoiseCatalogue,
    NoiseFile,
    RirCatalogue,
    RirFile,
    load_rirs,
    read_musan,
    read_noise_segment,
    read_rirs_noises,
)
from speakerlib.augmentation.noise import (
    NOISE_COLOURS,
    babble,
    coloured_noise,
    fit_noise_length,
    measure_snr_db,
    mix_at_snr,
)
from speakerlib.augmentation.reverb import RirBank, direct_path_index, reverberate
from speakerlib.augmentation.simulate import (
    RoomSimulationConfig,
    SimulatedRooms,
    default_rir_cache_dir,
    rir_cache_path,
    simulate_rirs,
    simulated_rir_bank,
)
from speakerlib.augmentation.speed import speed_perturb

__all__ = [
    # noise
    "mix_at_snr",
    "measure_snr_db",
    "fit_noise_length",
    "coloured_noise",
    "NOISE_COLOURS",
    "babble",
    # reverberation
    "reverberate",
    "direct_path_index",
    "RirBank",
    "RoomSimulationConfig",
    "SimulatedRooms",
    "simulate_rirs",
    "simulated_rir_bank",
    "rir_cache_path",
    "default_rir_cache_dir",
    # readers
    "MUSAN_CATEGORIES",
    "RIR_KINDS",
    "NoiseFile",
    "NoiseCatalogue",
    "read_musan",
    "read_noise_segment",
    "RirFile",
    "RirCatalogue",
    "read_rirs_noises",
    "load_rirs",
    # speed
    "speed_perturb",
    # the chain
    "NOISE_SOURCES",
    "AugmentationConfig",
    "AugmentationSources",
    "load_sources",
    "check_sources",
    "augment",
]
