"""Fixed length: exact lengths, centred crops, tiled padding, random and evenly spaced crops."""

from __future__ import annotations

import numpy as np
import pytest

from speakerlib.audio import SAMPLE_RATE_HZ
from speakerlib.errors import AudioTooShortError, ConfigError, ConfigTypeError
from speakerlib.framing import (
    DEFAULT_LENGTH_S,
    DEFAULT_NUM_SAMPLES,
    FIX_LENGTH_MODES,
    centre_crop_start,
    evenly_spaced_crops,
    fix_length,
    pad_to_length,
    padded_fraction,
    random_crop,
)

LENGTHS = [1, 7, 47_999, 48_000, 48_001, 100_003]  # shorter, equal, longer (odd/even excess)


def signal(n: int, dtype=np.float32) -> np.ndarray:
    """Distinct values, so positions can be read back from the output."""
    rng = np.random.default_rng(n)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-30000, 30000, n).astype(dtype)
    return rng.standard_normal(n).astype(dtype)


# --------------------------------------------------------------------------- fix_length
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("mode", ["reference", "repeat"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_fix_length_exact_length_and_dtype(n, mode, dtype):
    y = signal(n, dtype)
    before = y.copy()
    out = fix_length(y, num_samples=DEFAULT_NUM_SAMPLES, mode=mode)
    assert out.shape == (48_000,) and out.dtype == dtype
    np.testing.assert_array_equal(y, before)  # input untouched
    assert not np.shares_memory(out, y)


def test_default_length_is_three_seconds_at_16_khz():
    assert DEFAULT_NUM_SAMPLES == 3 * 16_000


@pytest.mark.parametrize("n", [7, 47_999])
def test_reference_pads_zeros_at_the_end(n):
    y = signal(n)
    out = fix_length(y, num_samples=48_000)
    np.testing.assert_array_equal(out[:n], y)
    assert not np.any(out[n:])


@pytest.mark.parametrize("n", [1, 7, 47_999])
def test_repeat_pads_with_the_tiled_signal(n):
    y = signal(n)
    out = fix_length(y, num_samples=48_000, mode="repeat")
    np.testing.assert_array_equal(out, y[np.arange(48_000) % n])


@pytest.mark.parametrize("mode", ["reference", "repeat"])
def test_centre_crop_indices(mode):
    # Even excess: equal margins. Odd excess: the extra sample is dropped at the end.
    np.testing.assert_array_equal(fix_length(np.arange(10), num_samples=4, mode=mode),
                                  [3, 4, 5, 6])
    np.testing.assert_array_equal(fix_length(np.arange(11), num_samples=4, mode=mode),
                                  [3, 4, 5, 6])
    np.testing.assert_array_equal(fix_length(np.arange(12), num_samples=4, mode=mode),
                                  [4, 5, 6, 7])
    for n in (48_001, 48_002, 100_003):
        out = fix_length(np.arange(n), num_samples=48_000, mode=mode)
        left, right = out[0], n - 1 - out[-1]
        assert left == (n - 48_000) // 2 and right - left in (0, 1)
        np.testing.assert_array_equal(out, np.arange(left, left + 48_000))


def test_equal_length_is_a_copy():
    y = signal(48_000)
    for mode in ("reference", "repeat"):
        out = fix_length(y, num_samples=48_000, mode=mode)
        np.testing.assert_array_equal(out, y)
        out[0] += 1
        assert out[0] != y[0]


def test_centre_crop_start():
    assert centre_crop_start(10, 4) == 3
    assert centre_crop_start(11, 4) == 3
    assert centre_crop_start(4, 4) == 0
    with pytest.raises(ValueError):
        centre_crop_start(3, 4)


def test_pad_to_length_by_hand():
    np.testing.assert_array_equal(pad_to_length(np.array([1, 2, 3]), num_samples=7),
                                  [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(pad_to_length(np.array([1, 2, 3]), num_samples=5, pad="zero"),
                                  [1, 2, 3, 0, 0])
    with pytest.raises(ValueError, match="fix_length"):
        pad_to_length(np.arange(5), num_samples=3)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None, np.float64(3.0)])
def test_bad_num_samples_raise_value_error(bad):
    y = signal(10)
    with pytest.raises(ValueError, match="num_samples"):
        fix_length(y, num_samples=bad)
    with pytest.raises(ValueError, match="num_samples"):
        random_crop(y, num_samples=bad, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="num_samples"):
        evenly_spaced_crops(y, num_samples=bad, num_crops=2)


def test_numpy_integer_lengths_are_accepted():
    assert fix_length(signal(10), num_samples=np.int64(4)).shape == (4,)


def test_empty_input_raises_too_short():
    empty = np.zeros(0, np.float32)
    with pytest.raises(AudioTooShortError):
        fix_length(empty, num_samples=10)
    with pytest.raises(AudioTooShortError):
        random_crop(empty, num_samples=10, rng=np.random.default_rng(0))
    with pytest.raises(AudioTooShortError):
        evenly_spaced_crops(empty, num_samples=10, num_crops=3)


def test_other_bad_arguments():
    y = signal(10)
    with pytest.raises(ValueError, match="mode"):
        fix_length(y, num_samples=5, mode="zero")
    with pytest.raises(ValueError, match="shape"):
        fix_length(np.zeros((2, 10)), num_samples=5)
    with pytest.raises(ValueError, match="pad"):
        random_crop(y, num_samples=5, rng=np.random.default_rng(0), pad="mirror")
    with pytest.raises(TypeError, match="Generator"):
        random_crop(y, num_samples=5, rng=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Generator"):
        random_crop(y, num_samples=5, rng=np.random.RandomState(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_crops"):
        evenly_spaced_crops(y, num_samples=5, num_crops=0)


# --------------------------------------------------------------------------- random_crop
def test_random_crop_within_bounds_and_uniform_over_starts():
    n, num = 20, 16
    y = np.arange(n)
    rng = np.random.default_rng(123)
    starts = []
    for _ in range(500):
        out = random_crop(y, num_samples=num, rng=rng)
        assert out.shape == (num,)
        start = int(out[0])
        assert 0 <= start <= n - num
        np.testing.assert_array_equal(out, np.arange(start, start + num))
        starts.append(start)
    counts = np.bincount(starts, minlength=n - num + 1)
    assert counts.size == n - num + 1 and counts.min() > 60  # both ends reachable, ~100 each


def test_random_crop_is_deterministic_for_a_seed():
    y = signal(100_000)

    def three_crops(seed):
        rng = np.random.default_rng(seed)
        return [random_crop(y, num_samples=48_000, rng=rng) for _ in range(3)]

    first, again = three_crops(5), three_crops(5)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])  # successive draws differ
    assert not np.array_equal(first[0], three_crops(6)[0])


@pytest.mark.parametrize("pad, expected", [("repeat", [1, 2, 3, 1, 2, 3, 1]),
                                           ("zero", [1, 2, 3, 0, 0, 0, 0])])
def test_random_crop_pads_short_input_and_draws_nothing(pad, expected):
    rng = np.random.default_rng(9)
    out = random_crop(np.array([1, 2, 3], np.int16), num_samples=7, rng=rng, pad=pad)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.int16
    assert rng.integers(0, 2**32) == np.random.default_rng(9).integers(0, 2**32)


def test_random_crop_equal_length_is_whole_copy():
    y = signal(50)
    out = random_crop(y, num_samples=50, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out, y)
    assert not np.shares_memory(out, y)


# --------------------------------------------------------------------------- evenly spaced
@pytest.mark.parametrize(
    "n, num, crops, starts",
    [
        (10, 4, 3, [0, 3, 6]),
        (100, 30, 4, [0, 23, 46, 70]),  # k * 70 // 3
        (100, 30, 2, [0, 70]),
        (100, 30, 1, [35]),  # one crop: the centre crop
        (101, 30, 1, [35]),
        (40, 30, 20, [k * 10 // 19 for k in range(20)]),  # heavy overlap
    ],
)
def test_evenly_spaced_crop_starts(n, num, crops, starts):
    y = np.arange(n)
    out = evenly_spaced_crops(y, num_samples=num, num_crops=crops)
    assert out.shape == (crops, num)
    np.testing.assert_array_equal(out[:, 0], starts)
    np.testing.assert_array_equal(out, np.array(starts)[:, None] + np.arange(num))
    if crops > 1:
        assert out[0, 0] == 0 and out[-1, -1] == n - 1  # first at 0, last ends at n
        gaps = np.diff(out[:, 0])
        assert gaps.max() - gaps.min() <= 1


def test_evenly_spaced_single_crop_matches_fix_length():
    y = signal(100_003)
    np.testing.assert_array_equal(
        evenly_spaced_crops(y, num_samples=48_000, num_crops=1)[0],
        fix_length(y, num_samples=48_000),
    )


@pytest.mark.parametrize("n", [7, 48_000])
def test_evenly_spaced_short_input_gives_identical_padded_crops(n):
    y = signal(n, np.int16)
    out = evenly_spaced_crops(y, num_samples=48_000, num_crops=5)
    assert out.shape == (5, 48_000) and out.dtype == np.int16
    for row in out:
        np.testing.assert_array_equal(row, fix_length(y, num_samples=48_000, mode="repeat"))
    zero = evenly_spaced_crops(y, num_samples=48_000, num_crops=2, pad="zero")
    np.testing.assert_array_equal(zero[1], fix_length(y, num_samples=48_000))


def test_evenly_spaced_crops_are_independent_copies():
    y = signal(1000)
    out = evenly_spaced_crops(y, num_samples=300, num_crops=4)
    assert out.flags.writeable and not np.shares_memory(out, y)
    out[0, 0] += 1
    assert out[0, 0] != y[0]


# --------------------------------------------------------------------------- padded_fraction
def test_padded_fraction():
    assert padded_fraction([1.0, 2.5, 3.0, 4.2]) == 0.5  # exactly 3 s is not padded
    assert padded_fraction(np.array([0.5, 1.0]), target_s=0.75) == 0.5
    assert padded_fraction([5.0]) == 0.0
    with pytest.raises(ValueError):
        padded_fraction([])
    with pytest.raises(ValueError):
        padded_fraction([1.0, -2.0])
    with pytest.raises(ValueError):
        padded_fraction([1.0], target_s=0.0)


def test_default_length_is_three_seconds_at_the_course_rate():
    assert DEFAULT_NUM_SAMPLES == round(DEFAULT_LENGTH_S * SAMPLE_RATE_HZ) == 48_000
    assert FIX_LENGTH_MODES == ("reference", "repeat")


def test_bad_arguments_are_speakerlib_config_errors():
    y = signal(10)
    with pytest.raises(ConfigError, match="num_samples"):
        fix_length(y, num_samples=0)
    with pytest.raises(ConfigError, match="mode"):
        fix_length(y, num_samples=5, mode="zero")
    with pytest.raises(ConfigError, match="shape"):
        pad_to_length(np.zeros((2, 3)), num_samples=5)
    with pytest.raises(ConfigTypeError, match="Generator"):
        random_crop(y, num_samples=5, rng=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="num_input"):
        centre_crop_start(3, 4)
    with pytest.raises(ConfigError, match="target_s"):
        padded_fraction([1.0], target_s=0.0)
