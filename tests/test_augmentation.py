"""speakerlib.augmentation's signal processing and chain, against independent references.

SNRs are measured with the clean signal known; reverberation is compared with numpy's direct
convolution; coloured noise's slope is fitted on Welch's PSD estimate; speed perturbation is
checked on a tone's measured frequency; babble's talkers are counted as spectral peaks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal

from speakerlib import seeds
from speakerlib.augmentation import (
    AugmentationConfig,
    AugmentationSources,
    RirBank,
    augment,
    babble,
    coloured_noise,
    direct_path_index,
    measure_snr_db,
    mix_at_snr,
    reverberate,
    speed_perturb,
)
from speakerlib.errors import (
    AudioTooShortError,
    ConfigError,
    ConfigTypeError,
    InvalidAudioError,
    UnknownNameError,
)

RATE = 16_000


def tone(freq_hz: float, seconds: float, *, rate: int = RATE, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def measured_snr(clean: np.ndarray, mixture: np.ndarray) -> float:
    """Independent of the package: 10 log10 of the clean power over the residual's."""
    clean, mixture = clean.astype(np.float64), mixture.astype(np.float64)
    return 10 * np.log10(np.mean(clean**2) / np.mean((mixture - clean) ** 2))


def peak_frequency(y: np.ndarray, rate: int = RATE) -> float:
    """Frequency of the strongest spectral line [Hz]: Hann window, 2**20-point FFT, parabolic peak."""
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size), n=2**20))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / 2**20


# --------------------------------------------------------------------------- additive noise
@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5, 20.0])
@pytest.mark.parametrize("noise_seconds", [0.3, 1.0, 2.5])  # tiled, equal, cropped
def test_tone_plus_noise_measures_the_snr_asked_for(snr, noise_seconds):
    clean = tone(440.0, 1.0)
    noise = np.random.default_rng(1).standard_normal(int(noise_seconds * RATE)).astype(np.float32)
    mixture = mix_at_snr(clean, noise, snr_db=snr)
    assert mixture.shape == clean.shape and mixture.dtype == np.float32
    assert abs(measured_snr(clean, mixture) - snr) < 0.5
    assert abs(measured_snr(clean, mixture) - snr) < 1e-3  # "exactly", up to float32 rounding
    # the added part is the noise tiled from its start (np.resize repeats an array), scaled
    expected = np.resize(noise.astype(np.float64), clean.size)
    residual = mixture.astype(np.float64) - clean
    gain = np.dot(residual, expected) / np.dot(expected, expected)
    np.testing.assert_allclose(residual, gain * expected, atol=1e-6)


def test_mix_at_snr_keeps_float64_and_leaves_inputs_alone():
    clean = tone(300.0, 0.5).astype(np.float64)
    noise = np.random.default_rng(0).standard_normal(100)
    before = clean.copy()
    mixture = mix_at_snr(clean, noise, snr_db=3.0)
    assert mixture.dtype == np.float64 and np.array_equal(clean, before)
    assert abs(measured_snr(clean, mixture) - 3.0) < 1e-9
    assert abs(measure_snr_db(clean, mixture - clean) - 3.0) < 1e-9


def test_silent_signal_or_silent_noise_is_a_documented_no_op():
    noise = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    silent = np.zeros(1000, dtype=np.float32)
    out = mix_at_snr(silent, noise, snr_db=10.0)
    assert np.array_equal(out, silent) and out is not silent
    clean = tone(200.0, 0.1)
    assert np.array_equal(mix_at_snr(clean, np.zeros(50), snr_db=10.0), clean)
    # a quiet but not silent noise is scaled up, not skipped
    assert abs(measured_snr(clean, mix_at_snr(clean, 1e-4 * noise, snr_db=10.0)) - 10.0) < 1e-3


def test_mix_at_snr_refuses_bad_input():
    clean, noise = tone(200.0, 0.1), np.ones(10)
    with pytest.raises(ConfigError, match="snr_db"):
        mix_at_snr(clean, noise, snr_db=float("nan"))
    with pytest.raises(ConfigTypeError, match="snr_db"):
        mix_at_snr(clean, noise, snr_db="10")
    with pytest.raises(AudioTooShortError, match="noise"):
        mix_at_snr(clean, np.array([]), snr_db=10.0)
    with pytest.raises(ConfigError, match=r"shape \(n,\)"):
        mix_at_snr(np.ones((2, 5)), noise, snr_db=10.0)
    with pytest.raises(InvalidAudioError, match="NaN"):
        mix_at_snr(clean, np.array([1.0, np.nan]), snr_db=10.0)


# --------------------------------------------------------------------------- coloured noise
@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 1.5])
def test_coloured_noise_slope_matches_the_exponent(exponent):
    x = coloured_noise(2**18, exponent=exponent, rng=np.random.default_rng(3))
    assert x.dtype == np.float32 and x.shape == (2**18,)
    assert abs(np.mean(x.astype(np.float64) ** 2) - 1.0) < 1e-5
    freqs, psd = scipy.signal.welch(x.astype(np.float64), nperseg=4096)
    band = (freqs > 2e-3) & (freqs < 0.45)  # cycles/sample, away from DC and Nyquist
    slope = np.polyfit(np.log10(freqs[band]), np.log10(psd[band]), 1)[0]
    assert abs(slope + exponent) < 0.1, slope


def test_coloured_noise_depends_only_on_the_seed():
    a = coloured_noise(1000, exponent=1.0, rng=np.random.default_rng(5))
    b = coloured_noise(1000, exponent=1.0, rng=np.random.default_rng(5))
    c = coloured_noise(1000, exponent=1.0, rng=np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ConfigError, match="num_samples"):
        coloured_noise(1, exponent=0.0, rng=np.random.default_rng(0))
    with pytest.raises(ConfigTypeError, match="Generator"):
        coloured_noise(100, exponent=0.0, rng=0)


# --------------------------------------------------------------------------- babble
def test_babble_sums_three_to_seven_equally_loud_talkers():
    # talkers are tones on exact FFT bins (of 8000 samples, 2 Hz apart), so each shows as one line
    freqs = [200 + 100 * k for k in range(9)]
    talkers = [tone(f, 1.5, amplitude=0.05 * (k + 1)) for k, f in enumerate(freqs)]
    counts = set()
    for seed in range(40):
        out = babble(talkers, num_samples=8000, rng=np.random.default_rng(seed))
        assert out.shape == (8000,) and out.dtype == np.float32
        assert abs(np.mean(out.astype(np.float64) ** 2) - 1.0) < 1e-5
        spectrum = np.abs(np.fft.rfft(out.astype(np.float64)))
        lines = spectrum[[f * 8000 // RATE for f in freqs]]
        present = lines > 0.1 * lines.max()
        counts.add(int(present.sum()))
        np.testing.assert_allclose(lines[present], lines[present].max(), rtol=0.02)  # equally loud
        assert spectrum.sum() < 1.05 * lines.sum() + 1e-3 * spectrum.size  # nothing else in it
    assert counts == {3, 4, 5, 6, 7}


def test_babble_is_deterministic_and_checks_its_talkers():
    talkers = [np.random.default_rng(k).standard_normal(3000 + 500 * k) for k in range(5)]
    a = babble(talkers, num_samples=4000, rng=np.random.default_rng(1))
    assert np.array_equal(a, babble(talkers, num_samples=4000, rng=np.random.default_rng(1)))
    assert not np.array_equal(a, babble(talkers, num_samples=4000, rng=np.random.default_rng(2)))
    with pytest.raises(ConfigError, match="at least 3 utterances"):
        babble(talkers[:2], num_samples=100, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="swap"):
        babble(talkers, num_samples=100, rng=np.random.default_rng(0), min_speakers=5, max_speakers=3)
    with pytest.raises(AudioTooShortError, match=r"utterances\[\d\]"):
        babble([np.array([])] * 3, num_samples=100, rng=np.random.default_rng(0))


# --------------------------------------------------------------------------- reverberation
def test_unit_impulse_convolved_with_an_rir_returns_the_rir():
    rng = np.random.default_rng(0)
    rir = (rng.standard_normal(400) * np.exp(-np.arange(400) / 80)).astype(np.float32)
    rir[25] = 3.0  # the direct path
    assert direct_path_index(rir) == 25
    impulse = np.zeros(1000, dtype=np.float32)
    impulse[25] = 1.0  # at the RIR's peak: the RIR comes back whole, in place
    out = reverberate(impulse, rir)
    assert out.shape == (1000,) and out.dtype == np.float32
    np.testing.assert_allclose(out[:400], rir, atol=1e-5)
    np.testing.assert_allclose(out[400:], 0.0, atol=1e-5)
    at_start = np.zeros(1000, dtype=np.float32)
    at_start[0] = 1.0  # at t = 0: the RIR from its peak on
    np.testing.assert_allclose(reverberate(at_start, rir)[: 400 - 25], rir[25:], atol=1e-5)


def test_reverberate_is_numpys_convolution_aligned_on_the_peak():
    rng = np.random.default_rng(1)
    y, rir = rng.standard_normal(3000), rng.standard_normal(700)
    rir[90] = 40.0
    reference = np.convolve(y, rir)[90 : 90 + 3000]  # direct convolution, independent of FFTs
    np.testing.assert_allclose(reverberate(y, rir), reference, rtol=1e-9, atol=1e-9)
    # a click is not delayed: the output's largest sample is where the click was
    click = np.zeros(2000)
    click[1234] = 1.0
    assert int(np.argmax(np.abs(reverberate(click, rir)))) == 1234
    # an RIR longer than the signal
    np.testing.assert_allclose(reverberate(y[:100], rir), np.convolve(y[:100], rir)[90:190], atol=1e-9)


def test_rir_bank_scales_to_unit_energy_and_refuses_silence():
    bank = RirBank(rirs=(np.array([0.0, 2.0, 1.0]), np.array([1.0])), sample_rate_hz=RATE)
    for h in bank.rirs:
        assert h.dtype == np.float32 and not h.flags.writeable
        assert abs(float(np.sum(h.astype(np.float64) ** 2)) - 1.0) < 1e-6
    np.testing.assert_allclose(bank.rirs[0], np.array([0, 2, 1]) / np.sqrt(5), rtol=1e-6)
    assert bank.names == ("rir-0", "rir-1")
    with pytest.raises(InvalidAudioError, match="silent"):
        RirBank(rirs=(np.zeros(10),), sample_rate_hz=RATE, names=("quiet.wav",))
    with pytest.raises(ConfigError, match="at least one"):
        RirBank(rirs=(), sample_rate_hz=RATE)
    with pytest.raises(ConfigError, match="different sample rate|one sample rate"):
        RirBank.concat([bank, RirBank(rirs=(np.ones(3),), sample_rate_hz=8000)])


# --------------------------------------------------------------------------- speed perturbation
@pytest.mark.parametrize("factor", [0.9, 1.1, 0.95, 1.05])
def test_speed_perturbation_scales_duration_and_frequency(factor):
    y = tone(440.0, 2.0)
    out = speed_perturb(y, factor)
    assert out.dtype == np.float32
    assert abs(out.size - y.size / factor) <= 1.0
    assert abs(peak_frequency(out) - 440.0 * factor) < 0.5
    assert abs(peak_frequency(y) - 440.0) < 0.5  # the estimator itself


def test_speed_perturbation_edge_cases():
    y = tone(440.0, 0.1)
    same = speed_perturb(y, 1.0)
    assert np.array_equal(same, y) and same is not y
    assert np.array_equal(speed_perturb(y, 1.1), speed_perturb(y, 1.1))
    for bad in (0.0, -1.0, 10.0, float("inf")):
        with pytest.raises(ConfigError, match="factor"):
            speed_perturb(y, bad)
    with pytest.raises(AudioTooShortError):
        speed_perturb(np.array([], dtype=np.float32), 1.1)


# --------------------------------------------------------------------------- the config
@pytest.mark.parametrize("change, field, fix", [
    ({"noise_snr_db": (15.0, 0.0)}, "noise_snr_db", "swap"),
    ({"babble_snr_db": (20, 13)}, "babble_snr_db", "swap"),
    ({"reverb_probability": 1.5}, "reverb_probability", r"\[0.0, 1.0\]"),
    ({"noise_probability": -0.1}, "noise_probability", r"\[0.0, 1.0\]"),
    ({"speed_factors": ()}, "speed_factors", r"\(1.0,\) for no speed"),
    ({"speed_factors": (0.9, 0.9)}, "speed_factors", "once"),
    ({"speed_factors": (0.0,)}, r"speed_factors\[0\]", "finite number"),
    ({"noise_sources": ()}, "noise_sources", "noise_probability=0"),
    ({"noise_sources": ("noise", "noise")}, "noise_sources", "repeats"),
    ({"babble_speakers": (7, 3)}, "babble_speakers", "swap"),
    ({"coloured_exponent": (2.0, 0.0)}, "coloured_exponent", "swap"),
    ({"music_snr_db": (5.0,)}, "music_snr_db", "pair"),
])
def test_config_names_the_field_and_the_fix(change, field, fix):
    with pytest.raises(ConfigError, match=field) as info:
        AugmentationConfig(**change)
    assert info.match(fix)


def test_config_unknown_source_and_round_trip():
    with pytest.raises(UnknownNameError, match="babel"):
        AugmentationConfig(noise_sources=("babel",))
    with pytest.raises(ConfigTypeError, match="noise_probability"):
        AugmentationConfig(noise_probability="0.5")
    config = AugmentationConfig(noise_sources=("coloured", "music"), speed_factors=(1.0, 1.1))
    assert AugmentationConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert AugmentationConfig(noise_sources=(), noise_probability=0.0).noise_sources == ()
    with pytest.raises(ConfigError, match="unknown setting"):
        AugmentationConfig.from_dict({"snr": 3})


# --------------------------------------------------------------------------- the chain
OFF = dict(noise_probability=0.0, babble_probability=0.0, reverb_probability=0.0)
# two RIRs that change nothing (aligned on their peak), so that drawing one takes a random number
IMPULSE_BANK = RirBank(rirs=(np.array([1.0]), np.array([0.0, 1.0, 0.0])), sample_rate_hz=RATE)


def test_augment_with_everything_off_returns_the_crop():
    y = tone(300.0, 0.5)
    out = augment(y, config=AugmentationConfig(**OFF), sources=AugmentationSources(),
                  rng=np.random.default_rng(0))
    assert np.array_equal(out, y) and out is not y and out.dtype == np.float32


def test_augment_adds_coloured_noise_at_the_configured_snr():
    y = tone(300.0, 2.0)
    config = AugmentationConfig(**{**OFF, "noise_probability": 1.0}, noise_sources=("coloured",),
                                coloured_snr_db=(4.0, 4.0))
    out = augment(y, config=config, sources=AugmentationSources(), rng=np.random.default_rng(2))
    assert abs(measured_snr(y, out) - 4.0) < 0.5


def test_augment_reverberates_with_a_bank_rir():
    rng = np.random.default_rng(0)
    rir = rng.standard_normal(300) * np.exp(-np.arange(300) / 50)
    bank = RirBank(rirs=(rir,), sample_rate_hz=RATE)
    y = rng.standard_normal(5000).astype(np.float32)
    out = augment(y, config=AugmentationConfig(**{**OFF, "reverb_probability": 1.0}),
                  sources=AugmentationSources(rirs=bank), rng=np.random.default_rng(1))
    reference = np.convolve(y.astype(np.float64), bank.rirs[0].astype(np.float64))
    peak = int(np.argmax(np.abs(rir)))
    np.testing.assert_allclose(out, reference[peak : peak + 5000], atol=1e-4)


def test_augment_babble_at_its_snr_and_steps_draw_independently():
    rng = np.random.default_rng(0)
    talkers = [rng.standard_normal(6000).astype(np.float32) for _ in range(6)]
    sources = AugmentationSources(rirs=IMPULSE_BANK, babble=talkers)
    y = tone(300.0, 1.0)
    config = AugmentationConfig(**{**OFF, "babble_probability": 1.0}, babble_snr_db=(15.0, 15.0))
    assert abs(measured_snr(y, augment(y, config=config, sources=sources, rng=np.random.default_rng(3)))
               - 15.0) < 0.5
    # a pool given per call replaces the sources' one: tones, so the babble is made of them
    tones = [tone(f, 1.0) for f in (1000.0, 2000.0, 3000.0)]
    out = augment(y, config=config, sources=sources, rng=np.random.default_rng(3), babble_pool=tones)
    spectrum = np.abs(np.fft.rfft((out - y).astype(np.float64)))
    assert set(np.argsort(spectrum)[-3:].tolist()) == {1000, 2000, 3000}  # 1-Hz bins of 1 s
    # Reverberating with a unit impulse changes nothing, so if noise and babble draw from their own
    # seeds, switching reverberation on leaves the output the same (up to the FFT's rounding).
    base = dict(noise_probability=1.0, babble_probability=1.0, noise_sources=("coloured",))
    outputs = [augment(y, config=AugmentationConfig(**base, reverb_probability=p), sources=sources,
                       rng=seeds.rng(4, "augment.chain", 0, 7)) for p in (0.0, 1.0)]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)


def test_augment_is_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    rirs = RirBank(rirs=tuple(rng.standard_normal(200) for _ in range(4)), sample_rate_hz=RATE)
    sources = AugmentationSources(rirs=rirs, babble=[rng.standard_normal(4000) for _ in range(8)])
    config = AugmentationConfig(noise_probability=0.5, babble_probability=0.5, reverb_probability=0.5,
                                noise_sources=("coloured",))
    y = tone(500.0, 0.5)
    runs = [[augment(y, config=config, sources=sources, rng=seeds.rng(s, "augment.chain", 0, i))
             for i in range(12)] for s in (1, 1, 2)]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(runs[0], runs[2]))
    assert sum(np.array_equal(a, y) for a in runs[0]) < 12  # some crops were augmented


def test_augment_says_what_the_sources_lack():
    y = tone(300.0, 0.2)
    with pytest.raises(ConfigError, match="reverb_probability=0.6.*num_simulated_rirs"):
        augment(y, config=AugmentationConfig(noise_probability=0.0), sources=AugmentationSources(),
                rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="no noise catalogue.*musan_root"):
        augment(y, config=AugmentationConfig(reverb_probability=0.0), sources=AugmentationSources(),
                rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="babble_probability=0.5.*other speakers"):
        augment(y, config=AugmentationConfig(**{**OFF, "babble_probability": 0.5}),
                sources=AugmentationSources(babble=[y, y]), rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="babble_pool holds 1"):
        augment(y, config=AugmentationConfig(**{**OFF, "babble_probability": 0.5}),
                sources=AugmentationSources(babble=[y] * 5), rng=np.random.default_rng(0), babble_pool=[y])
    with pytest.raises(ConfigTypeError, match="AugmentationConfig"):
        augment(y, config={}, sources=AugmentationSources(), rng=np.random.default_rng(0))
    with pytest.raises(ConfigTypeError, match="Generator"):
        augment(y, config=AugmentationConfig(**OFF), sources=AugmentationSources(), rng=3)
    with pytest.raises(ConfigError, match="8000 Hz"):
        AugmentationSources(rirs=RirBank(rirs=(np.ones(2),), sample_rate_hz=8000))


def test_mean_power_matches_an_exactly_rounded_sum():
    import math

    from speakerlib.augmentation.checks import mean_power

    y = np.random.default_rng(3).standard_normal(31840).astype(np.float32)
    exact = math.fsum(float(v) * float(v) for v in y) / y.size
    assert mean_power(y) == pytest.approx(exact, rel=1e-12)
    assert mean_power(np.array([3, 4], dtype=np.int16)) == 12.5
