"""Simulated room impulse responses: shoebox rooms with pyroomacoustics, cached on disk.

:func:`simulate_rirs` draws ``count`` rooms (:class:`RoomSimulationConfig`:
size, wall absorption, source and microphone positions) and computes each
one's RIR with the image source method (Allen & Berkley 1979) of
pyroomacoustics at the course's sample rate. Room ``i`` is drawn from its own
generator, ``speakerlib.seeds.rng(seed, "augment.rirs", i)``, so the first
``k`` rooms of a bank of ``n`` are the rooms of a bank of ``k``.

:func:`simulated_rir_bank` does that once per ``(seed, count, config)`` and
keeps the result as a plain ``.npz`` (no pickled objects, written atomically)
in a cache folder; later calls load it.

The image order
---------------
Room ``i`` has the Sabine reverberation time
``RT60 = 24 ln(10) V / (c S a)`` (volume ``V``, surface ``S``, absorption
``a``, speed of sound ``c``). The image sources are computed up to the order
that reaches ``c * RT60`` metres (:func:`pyroomacoustics.inverse_sabine`'s
rule), capped at ``max_order``: a cap below that order truncates the late
tail of the most reverberant rooms, and the simulation time grows about with
the cube of the order.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from speakerlib import seeds
from speakerlib._io import atomic_path
from speakerlib.audio import SAMPLE_RATE_HZ
from speakerlib.augmentation.checks import check_count, check_range, check_real
from speakerlib.augmentation.reverb import RirBank
from speakerlib.errors import ConfigError, ConfigTypeError, UnreadableAudioError
from speakerlib.paths import data_dir

__all__ = [
    "RoomSimulationConfig",
    "SimulatedRooms",
    "simulate_rirs",
    "simulated_rir_bank",
    "rir_cache_path",
    "default_rir_cache_dir",
]

#: Speed of sound used for the Sabine RT60 and the image order [m/s] (pyroomacoustics' default).
SPEED_OF_SOUND_M_S = 343.0
_MAX_POSITION_TRIES = 1000


@dataclass(frozen=True)
class RoomSimulationConfig:
    """How the simulated rooms are drawn: each quantity uniform on its range.

    Attributes
    ----------
    length_m, width_m, height_m : (float, float) [m]
        Ranges of the room's dimensions.
    absorption : (float, float), in (0, 1]
        Range of the energy absorption coefficient, the same on every surface
        of a room. With the default sizes, RT60 (Sabine) spans 0.09 s (the
        smallest room, most absorbing) to 0.85 s (the largest, least).
    wall_margin_m : float >= 0 [m]
        Source and microphone are at least this far from every surface.
    min_distance_m : float >= 0 [m]
        ... and at least this far from each other (positions are redrawn until
        they are).
    max_order : int >= 0
        Cap on the image source order (see the module docstring).
    sample_rate_hz : int > 0 [Hz]
        Rate of the RIRs (the course's).

    Raises
    ------
    ConfigError
        A range inverted or out of bounds, or rooms too small to hold a source
        and a microphone ``min_distance_m`` apart inside the margins.
    """

    length_m: tuple[float, float] = (3.0, 10.0)
    width_m: tuple[float, float] = (3.0, 8.0)
    height_m: tuple[float, float] = (2.4, 4.0)
    absorption: tuple[float, float] = (0.2, 0.8)
    wall_margin_m: float = 0.5
    min_distance_m: float = 1.0
    max_order: int = 50
    sample_rate_hz: int = SAMPLE_RATE_HZ

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("length_m", "width_m", "height_m"):
            set_(self, name, check_range(name, getattr(self, name), low=0.0, low_open=True, unit=" [m]"))
        set_(self, "absorption", check_range("absorption", self.absorption, low=0.0, high=1.0,
                                             low_open=True))
        set_(self, "wall_margin_m", check_real("wall_margin_m", self.wall_margin_m, low=0.0))
        set_(self, "min_distance_m", check_real("min_distance_m", self.min_distance_m, low=0.0))
        set_(self, "max_order", check_count("max_order", self.max_order, minimum=0))
        set_(self, "sample_rate_hz", check_count("sample_rate_hz", self.sample_rate_hz))
        inner = [getattr(self, n)[0] - 2 * self.wall_margin_m for n in ("length_m", "width_m", "height_m")]
        if min(inner) <= 0 or math.hypot(*inner) <= self.min_distance_m:
            raise ConfigError(
                f"RoomSimulationConfig: the smallest room ({self.length_m[0]} x {self.width_m[0]} x "
                f"{self.height_m[0]} m) minus wall_margin_m={self.wall_margin_m} on every side "
                f"leaves no two points min_distance_m={self.min_distance_m} apart; enlarge the "
                "smallest room or lower wall_margin_m or min_distance_m"
            )

    def key(self) -> str:
        """12 hex digits identifying the configuration (the cache file's name uses them)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SimulatedRooms:
    """What :func:`simulate_rirs` drew, one row per RIR (all arrays float64).

    Attributes
    ----------
    room_m : np.ndarray [shape=(count, 3)] [m]
        Length, width, height.
    absorption : np.ndarray [shape=(count,)]
        Energy absorption coefficient of every surface.
    source_m, microphone_m : np.ndarray [shape=(count, 3)] [m]
        Positions, from the room's corner.
    rt60_s : np.ndarray [shape=(count,)] [s]
        Sabine reverberation time.
    max_order : np.ndarray [shape=(count,), dtype=int64]
        Image source order used.
    """

    room_m: np.ndarray
    absorption: np.ndarray
    source_m: np.ndarray
    microphone_m: np.ndarray
    rt60_s: np.ndarray
    max_order: np.ndarray


def _sabine(room: np.ndarray, absorption: float) -> tuple[float, int]:
    length, width, height = room
    volume = length * width * height
    surface = 2 * (length * width + length * height + width * height)
    rt60 = 24 * math.log(10) * volume / (SPEED_OF_SOUND_M_S * surface * absorption)
    pairs = [(length, width), (length, height), (width, height)]
    radius = min(a * b / math.hypot(a, b) for a, b in pairs)
    return rt60, max(0, math.ceil(SPEED_OF_SOUND_M_S * rt60 / radius - 1))


def _draw_room(config: RoomSimulationConfig, rng: np.random.Generator):
    room = np.array([rng.uniform(*config.length_m), rng.uniform(*config.width_m),
                     rng.uniform(*config.height_m)])
    absorption = float(rng.uniform(*config.absorption))
    low, high = np.full(3, config.wall_margin_m), room - config.wall_margin_m
    for _ in range(_MAX_POSITION_TRIES):
        source, microphone = rng.uniform(low, high), rng.uniform(low, high)
        if np.linalg.norm(source - microphone) >= config.min_distance_m:
            return room, absorption, source, microphone
    raise ConfigError(  # only when the smallest rooms barely fit min_distance_m
        f"RoomSimulationConfig: found no source and microphone min_distance_m="
        f"{config.min_distance_m} apart in a {room.round(2).tolist()} m room after "
        f"{_MAX_POSITION_TRIES} draws; lower min_distance_m or wall_margin_m"
    )


def simulate_rirs(count: int, *, seed: int,
                  config: RoomSimulationConfig | None = None) -> tuple[RirBank, SimulatedRooms]:
    """Simulate ``count`` RIRs of random shoebox rooms (no cache: see :func:`simulated_rir_bank`).

    Parameters
    ----------
    count : int >= 1
        Number of rooms (one source and one microphone each).
    seed : int >= 0
        Room ``i`` is drawn from ``speakerlib.seeds.rng(seed, "augment.rirs", i)``.
    config : RoomSimulationConfig, optional
        The ranges; default ``RoomSimulationConfig()``.

    Returns
    -------
    bank : RirBank
        The RIRs (unit energy, float32) at ``config.sample_rate_hz``, named
        ``"simulated seed=<seed> room=<i>"``.
    rooms : SimulatedRooms
        The drawn rooms.
    """
    # pyroomacoustics takes about a second to import (numba, scipy.spatial) and only
    # simulation needs it: loading a cached bank does not.
    import pyroomacoustics as pra

    count = check_count("count", count)
    seed = check_count("seed", seed, minimum=0)
    config = _check_config(config)
    rirs, rows = [], []
    for i in range(count):
        room, absorption, source, microphone = _draw_room(config, seeds.rng(seed, "augment.rirs", i))
        rt60, order = _sabine(room, absorption)
        order = min(order, config.max_order)
        shoebox = pra.ShoeBox(room, fs=config.sample_rate_hz, materials=pra.Material(absorption),
                              max_order=order)
        shoebox.add_source(source)
        shoebox.add_microphone(microphone)
        shoebox.compute_rir()
        rirs.append(np.asarray(shoebox.rir[0][0], dtype=np.float64))
        rows.append((room, absorption, source, microphone, rt60, order))
    names = tuple(f"simulated seed={seed} room={i}" for i in range(count))
    bank = RirBank(rirs=tuple(rirs), sample_rate_hz=config.sample_rate_hz, names=names)
    rooms = SimulatedRooms(
        room_m=np.array([r[0] for r in rows]), absorption=np.array([r[1] for r in rows]),
        source_m=np.array([r[2] for r in rows]), microphone_m=np.array([r[3] for r in rows]),
        rt60_s=np.array([r[4] for r in rows]), max_order=np.array([r[5] for r in rows], dtype=np.int64),
    )
    return bank, rooms


def _check_config(config: object) -> RoomSimulationConfig:
    if config is None:
        return RoomSimulationConfig()
    if not isinstance(config, RoomSimulationConfig):
        raise ConfigTypeError(f"config: expected a RoomSimulationConfig, got {type(config).__name__}")
    return config


def default_rir_cache_dir() -> Path:
    """``<data folder>/cache/rirs`` (:func:`speakerlib.paths.data_dir`)."""
    return data_dir() / "cache" / "rirs"


def rir_cache_path(count: int, *, seed: int, config: RoomSimulationConfig | None = None,
                   cache_dir: str | Path | None = None) -> Path:
    """The cache file of a simulated bank: ``<cache_dir>/rirs-seed<seed>-count<count>-<config.key()>.npz``."""
    config = _check_config(config)
    folder = Path(cache_dir) if cache_dir is not None else default_rir_cache_dir()
    return folder / f"rirs-seed{int(seed)}-count{int(count)}-{config.key()}.npz"


def simulated_rir_bank(count: int, *, seed: int, config: RoomSimulationConfig | None = None,
                       cache_dir: str | Path | None = None) -> RirBank:
    """``count`` simulated RIRs, simulated on the first call and loaded from the cache afterwards.

    Parameters
    ----------
    count : int >= 1
    seed : int >= 0
    config : RoomSimulationConfig, optional
    cache_dir : path-like, optional
        Folder of the cache files; default :func:`default_rir_cache_dir`.
        The file is :func:`rir_cache_path`; it holds the RIRs concatenated
        (``samples``, float32) with their ``offsets``, the rooms
        (:class:`SimulatedRooms`' arrays), the seed, the count, the config as
        JSON and the pyroomacoustics version, and is read with
        ``allow_pickle=False``.

    Returns
    -------
    RirBank
        The same arrays whether simulated now or loaded.

    Raises
    ------
    UnreadableAudioError
        The cache file exists but cannot be read or was made with other
        settings (the message says to delete it).
    """
    count = check_count("count", count)
    seed = check_count("seed", seed, minimum=0)
    config = _check_config(config)
    path = rir_cache_path(count, seed=seed, config=config, cache_dir=cache_dir)
    if path.is_file():
        return _load_cache(path, count=count, seed=seed, config=config)
    bank, rooms = simulate_rirs(count, seed=seed, config=config)
    _write_cache(path, bank, rooms, seed=seed, config=config)
    return bank


def _write_cache(path: Path, bank: RirBank, rooms: SimulatedRooms, *, seed: int,
                 config: RoomSimulationConfig) -> None:
    import pyroomacoustics as pra  # already imported by simulate_rirs; for its version

    lengths = np.array([h.size for h in bank.rirs], dtype=np.int64)
    arrays = {
        "samples": np.concatenate(bank.rirs).astype(np.float32),
        "offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        "sample_rate_hz": np.int64(bank.sample_rate_hz),
        "seed": np.int64(seed),
        "count": np.int64(len(bank)),
        "config_json": np.array(json.dumps(asdict(config), sort_keys=True)),
        "pyroomacoustics_version": np.array(str(pra.__version__)),
        **{name: getattr(rooms, name) for name in SimulatedRooms.__dataclass_fields__},
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def _load_cache(path: Path, *, count: int, seed: int, config: RoomSimulationConfig) -> RirBank:
    fix = f"Delete {path} to simulate the RIRs again."
    try:
        with np.load(path, allow_pickle=False) as data:
            samples, offsets = data["samples"], data["offsets"]
            stored = (int(data["count"]), int(data["seed"]), str(data["config_json"]))
    except Exception as exc:  # zipfile, KeyError, ValueError (pickled objects)...
        raise UnreadableAudioError(
            f"{path}: expected a cache of simulated RIRs (samples, offsets, count, seed, "
            f"config_json), found a file that cannot be read as one ({exc}). {fix}"
        ) from exc
    asked = (count, seed, json.dumps(asdict(config), sort_keys=True))
    if stored != asked or offsets.size != count + 1 or offsets[-1] != samples.size:
        raise UnreadableAudioError(
            f"{path}: expected {count} RIRs simulated with seed {seed} and config {asked[2]}, "
            f"found a cache of {stored[0]} with seed {stored[1]} and config {stored[2]}. {fix}"
        )
    rirs = tuple(samples[a:b] for a, b in zip(offsets[:-1], offsets[1:]))
    names = tuple(f"simulated seed={seed} room={i}" for i in range(count))
    return RirBank(rirs=rirs, sample_rate_hz=config.sample_rate_hz, names=names)
