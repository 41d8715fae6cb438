"""speakerlib.augmentation's readers (MUSAN, OpenSLR 28), RIR loading, simulation and its cache.

The folders are small copies of the release layouts written in tmp_path; simulated RIRs are
checked against the physics (the direct path arrives after distance / c) and are kept few and
small so that the file runs in seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf

import speakerlib.augmentation.simulate as simulate_module
from speakerlib.audio import AudioConversionWarning
from speakerlib.augmentation import (
    AugmentationConfig,
    RoomSimulationConfig,
    augment,
    load_rirs,
    load_sources,
    read_musan,
    read_noise_segment,
    read_rirs_noises,
    rir_cache_path,
    simulate_rirs,
    simulated_rir_bank,
)
from speakerlib.errors import (
    ConfigError,
    CorpusLayoutError,
    CorpusNotFoundError,
    EmptyCorpusError,
    InvalidAudioError,
    UnknownNameError,
    UnreadableAudioError,
)

RATE = 16_000
SMALL_ROOMS = RoomSimulationConfig(length_m=(3.0, 4.0), width_m=(3.0, 4.0), height_m=(2.5, 3.0),
                                   absorption=(0.5, 0.8), max_order=6)


def write_wav(path, samples, rate=RATE, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, rate, subtype=subtype)
    return path


def noise(seconds, seed=0, rate=RATE):
    return 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))


def fake_rir(length=800, peak=30, seed=0):
    rng = np.random.default_rng(seed)
    h = 0.05 * rng.standard_normal(length) * np.exp(-np.arange(length) / 150)
    h[:peak] = 0.0
    h[peak] = 0.9
    return h


@pytest.fixture
def musan(tmp_path):
    root = tmp_path / "musan"
    write_wav(root / "music" / "fma" / "music-fma-0000.wav", noise(1.0, 1))
    write_wav(root / "noise" / "free-sound" / "noise-free-sound-0000.wav", noise(0.5, 2))
    write_wav(root / "noise" / "sound-bible" / "noise-sound-bible-0001.wav", noise(2.0, 3))
    (root / "noise" / "free-sound" / "ANNOTATIONS").write_text("not audio\n")
    (root / "README").write_text("MUSAN\n")
    (root / "noise" / "free-sound" / "._noise-free-sound-0000.wav").write_bytes(b"AppleDouble")
    return root


@pytest.fixture
def rirs_noises(tmp_path):
    root = tmp_path / "RIRS_NOISES"
    sim = root / "simulated_rirs"
    write_wav(sim / "smallroom" / "Room001" / "Room001-00001.wav", fake_rir(seed=1), subtype="FLOAT")
    write_wav(sim / "smallroom" / "Room001" / "Room001-00002.wav", fake_rir(seed=2), subtype="FLOAT")
    write_wav(sim / "mediumroom" / "Room002" / "Room002-00001.wav", fake_rir(seed=3), subtype="FLOAT")
    (sim / "smallroom" / "rir_list").write_text("--rir-id ...\n")
    real = root / "real_rirs_isotropic_noises"
    write_wav(real / "RVB2014_type1_rir_largeroom1_near_angla.wav",
              np.stack([fake_rir(seed=4), fake_rir(seed=5)], axis=1), subtype="FLOAT")
    write_wav(real / "RVB2014_type1_noise_largeroom1_1.wav", noise(0.5, 6))
    return root


# --------------------------------------------------------------------------- MUSAN
def test_musan_reader_catalogues_every_wav_by_category(musan):
    catalogue = read_musan(musan)
    assert catalogue.root == musan.resolve()
    assert catalogue.categories == ("music", "noise")  # speech/ is optional
    assert [f.path.name for f in catalogue.in_category("noise")] == [
        "noise-free-sound-0000.wav", "noise-sound-bible-0001.wav"]
    assert len(catalogue) == 3 and catalogue.in_category("speech") == ()
    assert all(f.sample_rate_hz == RATE and f.num_channels == 1 for f in catalogue.files)
    assert catalogue.duration_s("noise") == pytest.approx(2.5)


def test_musan_bad_folders_say_what_and_how(tmp_path, musan):
    with pytest.raises(CorpusNotFoundError, match="nowhere.*musan_root"):
        read_musan(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyCorpusError, match="empty folder.*musan_root"):
        read_musan(tmp_path / "empty")
    (tmp_path / "no_wavs" / "noise").mkdir(parents=True)
    (tmp_path / "no_wavs" / "noise" / "README").write_text("x")
    with pytest.raises(EmptyCorpusError, match=r"found none \(checked: noise/\)"):
        read_musan(tmp_path / "no_wavs")
    # the parent of the MUSAN folder: .wav files, but not under a category folder
    write_wav(tmp_path / "parent" / "musan-v1" / "noise" / "a.wav", noise(0.1))
    with pytest.raises(CorpusLayoutError, match="musan-v1/noise/a.wav.*musan_root"):
        read_musan(tmp_path / "parent")


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00garbage, not audio at all"])
def test_musan_unreadable_file_is_named_not_skipped(musan, content):
    bad = musan / "music" / "fma" / "music-fma-0001.wav"
    bad.write_bytes(content)
    with pytest.raises(UnreadableAudioError, match="music-fma-0001.wav.*none is skipped"):
        read_musan(musan)


def test_noise_segment_is_a_window_of_the_file(musan):
    file = read_musan(musan).in_category("noise")[1]  # 2 s
    whole, _ = sf.read(str(file.path), dtype="float32")
    starts = set()
    for seed in range(5):
        window = read_noise_segment(file, num_samples=4000, rng=np.random.default_rng(seed))
        assert window.shape == (4000,) and window.dtype == np.float32
        heads = np.lib.stride_tricks.sliding_window_view(whole, 16)
        start = int(np.flatnonzero(np.all(heads == window[:16], axis=1))[0])  # where it was cut
        np.testing.assert_array_equal(window, whole[start : start + 4000])
        starts.add(start)
    assert len(starts) > 1
    short = read_musan(musan).in_category("noise")[0]  # 0.5 s: returned whole
    np.testing.assert_array_equal(read_noise_segment(short, num_samples=20_000, rng=np.random.default_rng(0)),
                                  sf.read(str(short.path), dtype="float32")[0])


def test_noise_at_another_rate_or_stereo_is_converted_with_a_warning(tmp_path):
    root = tmp_path / "musan"
    write_wav(root / "noise" / "x" / "eight-khz.wav", noise(1.0, 1, rate=8000), rate=8000)
    write_wav(root / "noise" / "x" / "stereo.wav", np.stack([noise(1.0, 2), noise(1.0, 3)], axis=1))
    low, stereo = read_musan(root).in_category("noise")
    with pytest.warns(AudioConversionWarning, match="eight-khz.wav.*resampled from 8000 Hz to 16000 Hz"):
        window = read_noise_segment(low, num_samples=6000, rng=np.random.default_rng(0))
    assert window.shape == (6000,)
    with pytest.warns(AudioConversionWarning, match="stereo.wav.*downmixed 2 channels"):
        read_noise_segment(stereo, num_samples=100, rng=np.random.default_rng(0))
    stereo.path.write_bytes(b"")  # deleted or truncated after it was catalogued
    with pytest.raises(UnreadableAudioError, match="stereo.wav.*read the noise folder again"):
        read_noise_segment(stereo, num_samples=100, rng=np.random.default_rng(0))


# --------------------------------------------------------------------------- OpenSLR 28
def test_openslr28_reader_lists_rirs_by_kind_and_noises_apart(rirs_noises):
    catalogue = read_rirs_noises(rirs_noises)
    assert [(f.kind, f.room, f.path.name) for f in catalogue.files] == [
        ("smallroom", "Room001", "Room001-00001.wav"), ("smallroom", "Room001", "Room001-00002.wav"),
        ("mediumroom", "Room002", "Room002-00001.wav"),
        ("real", "RVB2014_type1_rir_largeroom1_near_angla", "RVB2014_type1_rir_largeroom1_near_angla.wav")]
    assert [f.path.name for f in catalogue.isotropic_noises] == ["RVB2014_type1_noise_largeroom1_1.wav"]
    assert catalogue.files[-1].num_channels == 2
    assert [f.kind for f in read_rirs_noises(rirs_noises, kinds=["mediumroom"]).files] == ["mediumroom"]
    assert len(catalogue.of_kind("smallroom")) == 2
    with pytest.raises(UnknownNameError, match="hugeroom"):
        read_rirs_noises(rirs_noises, kinds=["hugeroom"])


def test_openslr28_bad_folders_say_what_and_how(tmp_path, rirs_noises):
    with pytest.raises(CorpusNotFoundError, match="rirs_root"):
        read_rirs_noises(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyCorpusError, match="empty folder"):
        read_rirs_noises(tmp_path / "empty")
    with pytest.raises(EmptyCorpusError, match=r"other kinds \['smallroom', 'mediumroom', 'real'\]"):
        read_rirs_noises(rirs_noises, kinds=["largeroom"])
    only_noise = tmp_path / "only_noise" / "real_rirs_isotropic_noises"
    write_wav(only_noise / "RVB2014_type1_noise_largeroom1_1.wav", noise(0.1))
    with pytest.raises(EmptyCorpusError, match="1 isotropic noise file"):
        read_rirs_noises(tmp_path / "only_noise")
    write_wav(tmp_path / "above" / "RIRS_NOISES" / "real_rirs_isotropic_noises" / "a_rir.wav", fake_rir())
    with pytest.raises(CorpusLayoutError, match="RIRS_NOISES folder itself"):
        read_rirs_noises(tmp_path / "above")
    stray = write_wav(rirs_noises / "simulated_rirs" / "smallroom" / "extra.wav", fake_rir())
    with pytest.raises(CorpusLayoutError, match="smallroom/extra.wav.*none is skipped"):
        read_rirs_noises(rirs_noises)
    stray.unlink()
    (rirs_noises / "simulated_rirs" / "mediumroom" / "Room002" / "Room002-00002.wav").write_bytes(b"junk")
    with pytest.raises(UnreadableAudioError, match="Room002-00002.wav"):
        read_rirs_noises(rirs_noises)


def test_load_rirs_keeps_channel_zero_and_resamples_with_a_warning(tmp_path, rirs_noises):
    files = read_rirs_noises(rirs_noises).files
    with pytest.warns(AudioConversionWarning, match="near_angla.wav.*kept channel 0 of 2"):
        bank = load_rirs(files)
    assert len(bank) == 4 and bank.names[0].endswith("Room001-00001.wav")
    for h, f in zip(bank.rirs, files):
        stored = sf.read(str(f.path), always_2d=True)[0][:, 0]
        np.testing.assert_allclose(h, stored / np.sqrt(np.sum(stored**2)), atol=1e-6)
    low = write_wav(tmp_path / "rir-8k.wav", fake_rir(400, 15), rate=8000, subtype="FLOAT")
    with pytest.warns(AudioConversionWarning, match="rir-8k.wav.*resampled from 8000 Hz to 16000 Hz"):
        resampled = load_rirs([low])
    assert resampled.rirs[0].size == 800 and abs(int(np.argmax(resampled.rirs[0])) - 30) <= 1
    silent = write_wav(tmp_path / "silent.wav", np.zeros(100))
    with pytest.raises(InvalidAudioError, match="silent.wav.*silent"):
        load_rirs([silent])
    with pytest.raises(ConfigError, match="at least one"):
        load_rirs([])


# --------------------------------------------------------------------------- simulation
def test_simulated_rirs_follow_the_rooms():
    bank, rooms = simulate_rirs(4, seed=0, config=SMALL_ROOMS)
    assert len(bank) == 4 and bank.sample_rate_hz == RATE
    for h, source, mic, room in zip(bank.rirs, rooms.source_m, rooms.microphone_m, rooms.room_m):
        assert h.dtype == np.float32 and abs(float(np.sum(h.astype(np.float64) ** 2)) - 1) < 1e-5
        assert np.all(source >= 0.5) and np.all(source <= room - 0.5)
        assert np.linalg.norm(source - mic) >= 1.0
        # direct path: distance / c, plus the 40-sample centre of pyroomacoustics' 81-tap
        # fractional-delay filter
        expected = np.linalg.norm(source - mic) / 343.0 * RATE + 40
        assert abs(int(np.argmax(np.abs(h))) - expected) <= 1.0
    assert np.all((rooms.room_m >= [3, 3, 2.5]) & (rooms.room_m <= [4, 4, 3]))
    assert np.all((rooms.absorption >= 0.5) & (rooms.absorption <= 0.8))
    assert np.all(rooms.rt60_s > 0) and np.all(rooms.max_order <= 6)
    again, _ = simulate_rirs(2, seed=0, config=SMALL_ROOMS)  # room i depends on (seed, i) only
    assert all(np.array_equal(a, b) for a, b in zip(again.rirs, bank.rirs))
    other, _ = simulate_rirs(2, seed=1, config=SMALL_ROOMS)
    assert not np.array_equal(other.rirs[0], bank.rirs[0])


def test_simulated_bank_is_cached_and_reused(tmp_path, monkeypatch):
    first = simulated_rir_bank(3, seed=5, config=SMALL_ROOMS, cache_dir=tmp_path)
    path = rir_cache_path(3, seed=5, config=SMALL_ROOMS, cache_dir=tmp_path)
    assert path.is_file() and sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no .part left
    with np.load(path, allow_pickle=False) as data:  # plain arrays, no pickled objects
        assert int(data["count"]) == 3 and data["offsets"].tolist()[-1] == data["samples"].size

    def no_simulation(*args, **kwargs):
        raise AssertionError("simulated again instead of loading the cache")

    monkeypatch.setattr(simulate_module, "simulate_rirs", no_simulation)
    second = simulated_rir_bank(3, seed=5, config=SMALL_ROOMS, cache_dir=tmp_path)
    assert second.names == first.names
    assert all(np.array_equal(a, b) for a, b in zip(first.rirs, second.rirs))
    with pytest.raises(AssertionError, match="simulated again"):  # another count is another file
        simulated_rir_bank(2, seed=5, config=SMALL_ROOMS, cache_dir=tmp_path)
    path.write_bytes(b"not a zip file")
    with pytest.raises(UnreadableAudioError, match=f"{path.name}.*Delete"):
        simulated_rir_bank(3, seed=5, config=SMALL_ROOMS, cache_dir=tmp_path)


def test_room_config_refuses_rooms_that_cannot_hold_the_positions():
    with pytest.raises(ConfigError, match="wall_margin_m"):
        RoomSimulationConfig(length_m=(1.0, 2.0), width_m=(1.0, 2.0), height_m=(1.0, 2.0))
    with pytest.raises(ConfigError, match="absorption.*swap"):
        RoomSimulationConfig(absorption=(0.8, 0.2))
    with pytest.raises(ConfigError, match="absorption"):
        RoomSimulationConfig(absorption=(0.0, 0.5))


# --------------------------------------------------------------------------- all together
def test_load_sources_and_augment_from_folders(tmp_path, musan, rirs_noises):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioConversionWarning)  # the 2-channel real RIR
        sources = load_sources(musan_root=musan, rirs_root=rirs_noises, num_simulated_rirs=2,
                               room_config=SMALL_ROOMS, cache_dir=tmp_path / "cache")
    assert len(sources.rirs) == 6 and sources.rirs.names[-1] == "simulated seed=0 room=1"
    config = AugmentationConfig(noise_probability=1.0, reverb_probability=0.0,
                                noise_sources=("noise", "music"), noise_snr_db=(3.0, 6.0),
                                music_snr_db=(3.0, 6.0))
    t = np.arange(2 * RATE) / RATE
    y = (0.3 * np.sin(2 * np.pi * 250 * t)).astype(np.float32)
    for seed in range(6):
        out = augment(y, config=config, sources=sources, rng=np.random.default_rng(seed))
        snr = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean((out - y).astype(np.float64) ** 2))
        assert 3.0 - 1e-3 <= snr <= 6.0 + 1e-3
    with pytest.raises(CorpusNotFoundError, match="musan_root"):
        load_sources(musan_root=tmp_path / "no-musan")
    with pytest.raises(ConfigError, match=r"\['speech'\].*holds \['music', 'noise'\]"):
        augment(y, config=AugmentationConfig(noise_sources=("speech",)), sources=sources,
                rng=np.random.default_rng(0))
