"""The augmentation chain of training: its settings, its sources, and :func:`augment`.

For each training crop, :func:`augment` independently

1. with probability ``reverb_probability``, reverberates it with an RIR drawn
   uniformly from the bank (:func:`~speakerlib.augmentation.reverb.reverberate`);
2. with probability ``noise_probability``, adds one noise: a source drawn
   uniformly from ``noise_sources`` (a MUSAN category, or generated coloured
   noise), a file uniformly from that category and a random window of it, at
   an SNR drawn uniformly from that source's range;
3. with probability ``babble_probability``, adds babble of
   ``babble_speakers`` other talkers at an SNR drawn from ``babble_snr_db``.

The SNRs are relative to the signal as it is at that step (reverberant, if it
was reverberated; noisy, for babble after noise). Speed perturbation is not
part of the chain: it changes who the speaker sounds like, so the caller
applies :func:`~speakerlib.augmentation.speed.speed_perturb` to whole
utterances with ``speed_factors`` and gives each factor its own class.

Randomness: :func:`augment` takes three decisions and three seeds from the
generator passed in (always, whatever the settings), and each step draws
only from its own seed, so switching reverberation off does not change which
noise is added. An input pipeline takes the generator of each example from
``speakerlib.seeds.rng(seed, "augment.chain", epoch, index)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from speakerlib.audio import SAMPLE_RATE_HZ
from speakerlib.augmentation.checks import (
    check_count,
    check_range,
    check_real,
    check_rng,
    check_signal,
)
from speakerlib.augmentation.corpora import (
    MUSAN_CATEGORIES,
    RIR_KINDS,
    NoiseCatalogue,
    load_rirs,
    read_musan,
    read_noise_segment,
    read_rirs_noises,
)
from speakerlib.augmentation.noise import babble, coloured_noise, mix_at_snr
from speakerlib.augmentation.reverb import RirBank, reverberate
from speakerlib.augmentation.simulate import RoomSimulationConfig, simulated_rir_bank
from speakerlib.errors import ConfigError, ConfigTypeError
from speakerlib.registry import check_name

__all__ = [
    "NOISE_SOURCES",
    "AugmentationConfig",
    "AugmentationSources",
    "load_sources",
    "check_sources",
    "augment",
]

#: The additive noise sources: MUSAN's categories and generated coloured noise.
NOISE_SOURCES: tuple[str, ...] = (*MUSAN_CATEGORIES, "coloured")


@dataclass(frozen=True)
class AugmentationConfig:
    """Settings of :func:`augment` (and the speed factors its caller applies).

    The defaults follow Kaldi's VoxCeleb recipe and WeSpeaker's SNR ranges
    (noise 0-15 dB, music 5-15 dB, speech and babble 13-20 dB, 3-7 babble
    talkers, speeds 0.9/1.0/1.1); the probabilities are a starting point,
    not tuned values.

    Attributes
    ----------
    noise_probability, babble_probability, reverb_probability : float in [0, 1]
        Chance of each step for one crop. Babble is off by default: it needs
        other speakers' audio (``AugmentationSources.babble``).
    noise_sources : tuple of str
        Sources drawn from (uniformly) for the noise step, from
        :data:`NOISE_SOURCES`; MUSAN categories need a catalogue holding them.
    noise_snr_db, music_snr_db, speech_snr_db, coloured_snr_db, babble_snr_db : (float, float) [dB]
        SNR range of each source, ``low <= high``.
    coloured_exponent : (float, float)
        Range of the spectral exponent of coloured noise (0 white, 1 pink, 2 brown).
    babble_speakers : (int, int), 1 <= low <= high
        Range of the number of babble talkers.
    speed_factors : tuple of float in [0.25, 4]
        Speeds the caller perturbs whole utterances with (not used by
        :func:`augment`); at least one.

    Raises
    ------
    ConfigError
        A probability outside [0, 1], an inverted range, an empty
        ``speed_factors`` or ``noise_sources`` while ``noise_probability > 0``,
        a repeated source...; the message names the field and the fix.
    UnknownNameError
        A source not in :data:`NOISE_SOURCES`.

    Examples
    --------
    >>> AugmentationConfig(noise_snr_db=(15, 0))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ConfigError: noise_snr_db: expected a range (low, high) with low <= high [dB], ...
    """

    noise_probability: float = 0.6
    babble_probability: float = 0.0
    reverb_probability: float = 0.6
    noise_sources: tuple[str, ...] = ("noise", "music", "speech")
    noise_snr_db: tuple[float, float] = (0.0, 15.0)
    music_snr_db: tuple[float, float] = (5.0, 15.0)
    speech_snr_db: tuple[float, float] = (13.0, 20.0)
    coloured_snr_db: tuple[float, float] = (0.0, 15.0)
    babble_snr_db: tuple[float, float] = (13.0, 20.0)
    coloured_exponent: tuple[float, float] = (0.0, 2.0)
    babble_speakers: tuple[int, int] = (3, 7)
    speed_factors: tuple[float, ...] = (0.9, 1.0, 1.1)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("noise_probability", "babble_probability", "reverb_probability"):
            set_(self, name, check_real(name, getattr(self, name), low=0.0, high=1.0))
        for name in ("noise_snr_db", "music_snr_db", "speech_snr_db", "coloured_snr_db", "babble_snr_db"):
            set_(self, name, check_range(name, getattr(self, name), unit=" [dB]"))
        set_(self, "coloured_exponent", check_range("coloured_exponent", self.coloured_exponent))
        set_(self, "noise_sources", self._sources())
        set_(self, "babble_speakers", self._speakers())
        set_(self, "speed_factors", self._speeds())

    def _sources(self) -> tuple[str, ...]:
        value = self.noise_sources
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"noise_sources: expected a tuple of names from {NOISE_SOURCES}, "
                              f"got {value!r}")
        sources = tuple(check_name("noise source", s, NOISE_SOURCES) for s in value)
        if len(set(sources)) != len(sources):
            raise ConfigError(f"noise_sources: expected each source once, got {sources!r}; drop the "
                              "repeats (sources are drawn uniformly: weight them with probabilities)")
        if not sources and self.noise_probability > 0:
            raise ConfigError(
                f"noise_sources: expected at least one of {NOISE_SOURCES} since noise_probability="
                f"{self.noise_probability}, got none; name a source or set noise_probability=0"
            )
        return sources

    def _speakers(self) -> tuple[int, int]:
        value = self.babble_speakers
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
            raise ConfigError(f"babble_speakers: expected a pair (low, high) of talker counts, got {value!r}")
        low = check_count("babble_speakers[0]", value[0])
        high = check_count("babble_speakers[1]", value[1])
        if low > high:
            raise ConfigError(f"babble_speakers: expected low <= high, got the inverted range "
                              f"({low}, {high}); swap the two ends: ({high}, {low})")
        return low, high

    def _speeds(self) -> tuple[float, ...]:
        value = self.speed_factors
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
            raise ConfigError(
                f"speed_factors: expected at least one speed factor (e.g. (0.9, 1.0, 1.1); (1.0,) "
                f"for no speed perturbation), got {value!r}"
            )
        factors = tuple(check_real(f"speed_factors[{i}]", f, low=0.25, high=4.0) for i, f in enumerate(value))
        if len(set(factors)) != len(factors):
            raise ConfigError(f"speed_factors: expected each factor once, got {factors!r}")
        return factors

    def snr_range_db(self, source: str) -> tuple[float, float]:
        """The SNR range [dB] of a noise source (one of :data:`NOISE_SOURCES`, or ``"babble"``)."""
        check_name("noise source", source, (*NOISE_SOURCES, "babble"))
        return getattr(self, f"{source}_snr_db")

    def to_dict(self) -> dict:
        """The settings as a JSON-ready dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, record: Mapping) -> AugmentationConfig:
        """The inverse of :meth:`to_dict`; unknown keys are a ConfigError listing the valid ones."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(record) - set(valid))
        if unknown:
            raise ConfigError(f"AugmentationConfig: unknown setting(s) {unknown}; valid: {valid}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items()})


def _frozen_signal(y: object, name: str) -> np.ndarray:
    out = np.array(check_signal(y, name), dtype=np.float32)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class AugmentationSources:
    """What :func:`augment` draws from, loaded once: noise files, RIRs, babble talkers.

    Attributes
    ----------
    noises : NoiseCatalogue or None
        Noise files by category (:func:`~speakerlib.augmentation.corpora.read_musan`);
        read a window at a time.
    rirs : RirBank or None
        Impulse responses, in memory, at ``sample_rate_hz``.
    babble : tuple of np.ndarray [shape=(n_i,), dtype=float32]
        Utterances for babble (read-only copies), drawn from for every crop.
        To keep a crop's own speaker out of its babble, pass a pool per call
        instead (``augment(..., babble_pool=...)``).
    sample_rate_hz : int > 0 [Hz]
        Rate of the signals to augment.

    Raises
    ------
    ConfigTypeError
        A field of the wrong type.
    ConfigError
        An RIR bank at another rate, or a babble utterance that is not 1-D samples.
    """

    noises: NoiseCatalogue | None = None
    rirs: RirBank | None = None
    babble: tuple[np.ndarray, ...] = ()
    sample_rate_hz: int = SAMPLE_RATE_HZ

    def __post_init__(self) -> None:
        rate = check_count("sample_rate_hz", self.sample_rate_hz)
        if self.noises is not None and not isinstance(self.noises, NoiseCatalogue):
            raise ConfigTypeError(f"noises: expected a NoiseCatalogue (read_musan) or None, "
                                  f"got {type(self.noises).__name__}")
        if self.rirs is not None and not isinstance(self.rirs, RirBank):
            raise ConfigTypeError(f"rirs: expected a RirBank or None, got {type(self.rirs).__name__}")
        if self.rirs is not None and self.rirs.sample_rate_hz != rate:
            raise ConfigError(
                f"rirs: expected RIRs at sample_rate_hz={rate} Hz, got a bank at "
                f"{self.rirs.sample_rate_hz} Hz; load or simulate them at {rate} Hz"
            )
        object.__setattr__(self, "babble", tuple(
            _frozen_signal(u, f"babble[{i}]") for i, u in enumerate(self.babble)))
        object.__setattr__(self, "sample_rate_hz", rate)


def load_sources(
    *,
    musan_root: str | Path | None = None,
    rirs_root: str | Path | None = None,
    rir_kinds: Sequence[str] = RIR_KINDS,
    num_simulated_rirs: int = 0,
    seed: int = 0,
    room_config: RoomSimulationConfig | None = None,
    cache_dir: str | Path | None = None,
    babble: Sequence[np.ndarray] = (),
    sample_rate_hz: int = SAMPLE_RATE_HZ,
) -> AugmentationSources:
    """Read the noise folder, load (and/or simulate) the RIRs, and hold the babble talkers.

    Parameters
    ----------
    musan_root : path-like, optional
        A MUSAN folder (:func:`~speakerlib.augmentation.corpora.read_musan`).
    rirs_root : path-like, optional
        An OpenSLR 28 folder; its RIRs of ``rir_kinds`` are loaded into memory.
    rir_kinds : sequence of str
        Kinds of :data:`~speakerlib.augmentation.corpora.RIR_KINDS` to load.
    num_simulated_rirs : int >= 0
        RIRs to simulate (or load from the cache:
        :func:`~speakerlib.augmentation.simulate.simulated_rir_bank`), added
        after those of ``rirs_root``.
    seed : int >= 0
        Seed of the simulated rooms.
    room_config : RoomSimulationConfig, optional
        Ranges of the simulated rooms; its ``sample_rate_hz`` must be ``sample_rate_hz``.
    cache_dir : path-like, optional
        Cache folder of simulated RIRs.
    babble : sequence of np.ndarray [shape=(n_i,), float]
        Other speakers' audio at ``sample_rate_hz``.
    sample_rate_hz : int > 0 [Hz]

    Returns
    -------
    AugmentationSources

    Raises
    ------
    CorpusNotFoundError, EmptyCorpusError, CorpusLayoutError
        A folder is missing, empty or in another layout (the message names it
        and the parameter to set: ``musan_root`` or ``rirs_root``).
    UnreadableAudioError, InvalidAudioError
        A file in it cannot be decoded, or an RIR is silent (named).
    ConfigError
        ``room_config`` at another rate than ``sample_rate_hz``.
    """
    rate = check_count("sample_rate_hz", sample_rate_hz)
    num_simulated = check_count("num_simulated_rirs", num_simulated_rirs, minimum=0)
    noises = read_musan(musan_root) if musan_root is not None else None
    banks = []
    if rirs_root is not None:
        banks.append(load_rirs(read_rirs_noises(rirs_root, kinds=rir_kinds).files, sample_rate_hz=rate))
    if num_simulated:
        room_config = room_config or RoomSimulationConfig(sample_rate_hz=rate)
        if room_config.sample_rate_hz != rate:
            raise ConfigError(f"room_config.sample_rate_hz: expected {rate} Hz (sample_rate_hz), got "
                              f"{room_config.sample_rate_hz}; simulate at the signals' rate")
        banks.append(simulated_rir_bank(num_simulated, seed=seed, config=room_config, cache_dir=cache_dir))
    rirs = RirBank.concat(banks) if banks else None
    return AugmentationSources(noises=noises, rirs=rirs, babble=tuple(babble), sample_rate_hz=rate)


def check_sources(config: AugmentationConfig, sources: AugmentationSources, *,
                  babble_pool: Sequence[np.ndarray] | None = None) -> None:
    """Raise ConfigError if a step ``config`` can take has nothing to draw from in ``sources``
    (or, for babble, in ``babble_pool`` when it is given)."""
    if config.reverb_probability > 0 and sources.rirs is None:
        raise ConfigError(
            f"reverb_probability={config.reverb_probability} but the sources hold no RIRs: pass "
            "rirs_root or num_simulated_rirs to load_sources, or set reverb_probability=0"
        )
    if config.noise_probability > 0:
        have = sources.noises.categories if sources.noises is not None else ()
        missing = [s for s in config.noise_sources if s != "coloured" and s not in have]
        if missing:
            where = f"the catalogue of {sources.noises.root} holds {list(have)}" if sources.noises \
                else "the sources hold no noise catalogue"
            raise ConfigError(
                f"noise_sources: {missing} asked for, but {where}; pass a musan_root with those "
                "folders to load_sources, or remove them from noise_sources"
            )
    pool, where = (sources.babble, "the sources hold") if babble_pool is None else \
        (babble_pool, "babble_pool holds")
    if config.babble_probability > 0 and len(pool) < config.babble_speakers[0]:
        raise ConfigError(
            f"babble_probability={config.babble_probability} needs at least babble_speakers[0]="
            f"{config.babble_speakers[0]} babble utterances, {where} {len(pool)}; pass other "
            "speakers' audio (load_sources(babble=...) or babble_pool), or set babble_probability=0"
        )


def _noise(source: str, *, num_samples: int, config: AugmentationConfig,
           sources: AugmentationSources, rng: np.random.Generator) -> np.ndarray:
    if source == "coloured":
        exponent = rng.uniform(*config.coloured_exponent)
        return coloured_noise(max(num_samples, 2), exponent=exponent, rng=rng)[:num_samples]
    files = sources.noises.in_category(source)
    file = files[int(rng.integers(len(files)))]
    return read_noise_segment(file, num_samples=num_samples, rng=rng, sample_rate_hz=sources.sample_rate_hz)


def augment(
    y: np.ndarray,
    *,
    config: AugmentationConfig,
    sources: AugmentationSources,
    rng: np.random.Generator,
    babble_pool: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Apply the training augmentation chain to one crop (see the module docstring).

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float], n >= 1
        The crop, at ``sources.sample_rate_hz``.
    config : AugmentationConfig
    sources : AugmentationSources
        Must hold what ``config`` can ask for (checked on every call).
    rng : np.random.Generator
        Three decisions and three seeds are drawn from it on every call.
    babble_pool : sequence of np.ndarray [shape=(n_i,), float], optional
        Other speakers' utterances to make this crop's babble from (at least
        ``babble_speakers[0]`` of them when babble may be added); default
        ``sources.babble``.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float32]
        A new array, not clipped (noise at a low SNR can exceed full scale).
        ``y`` itself (as float32) when no step is taken.

    Raises
    ------
    ConfigTypeError
        ``config``, ``sources`` or ``rng`` of the wrong type.
    ConfigError
        ``sources`` lacks what ``config`` asks for (the message names both
        and the fix), or ``y`` is not 1-D real samples.
    UnreadableAudioError
        A noise file can no longer be read.
    """
    if not isinstance(config, AugmentationConfig):
        raise ConfigTypeError(f"config: expected an AugmentationConfig, got {type(config).__name__}")
    if not isinstance(sources, AugmentationSources):
        raise ConfigTypeError(f"sources: expected AugmentationSources (load_sources), got "
                              f"{type(sources).__name__}")
    rng = check_rng(rng)
    check_sources(config, sources, babble_pool=babble_pool)
    out = np.array(check_signal(y), dtype=np.float32)
    decide = rng.random(3)
    reverb_rng, noise_rng, babble_rng = (np.random.default_rng(int(k)) for k in rng.integers(0, 2**63, size=3))
    if decide[0] < config.reverb_probability:
        out = reverberate(out, sources.rirs.draw(reverb_rng))
    if decide[1] < config.noise_probability:
        source = config.noise_sources[int(noise_rng.integers(len(config.noise_sources)))]
        snr = noise_rng.uniform(*config.snr_range_db(source))
        noise = _noise(source, num_samples=out.size, config=config, sources=sources, rng=noise_rng)
        out = mix_at_snr(out, noise, snr_db=snr)
    if decide[2] < config.babble_probability:
        low, high = config.babble_speakers
        snr = babble_rng.uniform(*config.babble_snr_db)
        pool = sources.babble if babble_pool is None else babble_pool
        talkers = babble(pool, num_samples=out.size, rng=babble_rng,
                         min_speakers=low, max_speakers=high)
        out = mix_at_snr(out, talkers, snr_db=snr)
    return out
