"""Steps 2-4 of a synthetic recording: the voice (source and filter), the noise and the channel.

:func:`synthesize_utterance` draws an utterance's plan
(:func:`speakerlib.data.synth.plan.plan_utterance`), then the glottal source
along an F0 contour, filters it through the time-varying formants in the
short-time Fourier domain, adds frication, background noise and a channel,
and sets the level. See :mod:`speakerlib.data.synth` for the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

from speakerlib.audio.load import SAMPLE_RATE_HZ
from speakerlib.data.synth.config import SynthConfig
from speakerlib.data.synth.dsp import (
    antiresonance_response,
    cascade_response,
    energy,
    high_shelf_sos,
    istft,
    peaking_sos,
    rosenberg_pulse,
    smooth,
    stft,
)
from speakerlib.data.synth.plan import ASPIRATION, BURST, F45_HZ, FRICATION, VOICED, plan_utterance
from speakerlib.data.synth.speakers import SpeakerProfile

__all__ = ["UtteranceInfo", "synthesize_utterance"]

# Bandwidths [Hz] of F1-F5, before the speaker's factor.
_BANDWIDTHS_HZ = np.array([70.0, 90.0, 130.0, 190.0, 250.0])

# Frame hop and window of the short-time Fourier filtering [s].
_HOP_S = 0.008
_WIN_S = 0.032


@dataclass(frozen=True)
class UtteranceInfo:
    """What :func:`synthesize_utterance` made, for tests, plots and captions.

    Times are in seconds from the start of the recording.

    Attributes
    ----------
    num_samples : int
        Length of the audio.
    sample_rate_hz : int
        Its sampling rate [Hz].
    text : str
        The syllables, upper case, grouped into made-up words.
    syllables : tuple of str
        The syllable names in order.
    leading_silence_s, trailing_silence_s : float [s]
        Silence (background noise only) before the first and after the last phrase.
    phrases_s : tuple of (float, float)
        Start and end [s] of each phrase (stretch of speech between pauses).
    pauses_s : tuple of (float, float)
        Start and end [s] of each pause between phrases (at least one).
    f0_median_hz : float [Hz]
        Median F0 of the voiced samples, as synthesised.
    f0_shift_semitones : float
        This utterance's shift of the speaker's F0 level.
    vtl_factor : float
        This utterance's vocal-tract length factor (speaker's, perturbed).
    speaking_rate_hz : float [syllables/s]
        This utterance's speaking rate.
    snr_db : float [dB]
        Speech power (over active speech) over background noise power.
    level_dbfs : float [dBFS]
        RMS level of the active speech in the output (before peak limiting).
    channel : dict
        The channel's settings: ``highpass_hz``, ``lowpass_hz``,
        ``peaks`` (list of ``(frequency_hz, gain_db, q)``), ``shelf_hz``,
        ``shelf_db``.
    """

    num_samples: int
    sample_rate_hz: int
    text: str
    syllables: tuple[str, ...]
    leading_silence_s: float
    trailing_silence_s: float
    phrases_s: tuple[tuple[float, float], ...]
    pauses_s: tuple[tuple[float, float], ...]
    f0_median_hz: float
    f0_shift_semitones: float
    vtl_factor: float
    speaking_rate_hz: float
    snr_db: float
    level_dbfs: float
    channel: dict

    @property
    def duration_s(self) -> float:
        """Duration [s]."""
        return self.num_samples / self.sample_rate_hz



def synthesize_utterance(
    speaker: SpeakerProfile,
    rng: np.random.Generator,
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    min_duration_s: float = 2.5,
    max_duration_s: float = 7.0,
    snr_min_db: float = 30.0,
    snr_max_db: float = 50.0,
    intra_speaker_variability: float = 1.0,
    channel_eq_db: float = 2.5,
) -> tuple[np.ndarray, UtteranceInfo]:
    """Synthesise one utterance of a voice: speech-like audio with silences and noise.

    A pure function of its arguments: the same profile, generator state and
    settings give the same samples. The settings have the meaning of the
    same-named :class:`~speakerlib.data.synth.config.SynthConfig` fields (``config.utterance_settings()``
    gives them).

    Parameters
    ----------
    speaker : SpeakerProfile
        The voice (see :func:`~speakerlib.data.synth.speakers.speaker_profiles`).
    rng : numpy.random.Generator
        Source of every random choice (see
        :func:`~speakerlib.data.synth.speakers.utterance_rng`); it is advanced.
    sample_rate_hz : int [Hz]
        Output sampling rate.
    min_duration_s, max_duration_s : float [s]
        Range of the (uniform) duration, silences included.
    snr_min_db, snr_max_db : float [dB]
        Range of the (uniform) speech-to-background-noise ratio.
    intra_speaker_variability : float >= 0
        Scale of the utterance's shifts of the voice (0: none).
    channel_eq_db : float >= 0 [dB]
        Spread of the channel equaliser's gains.

    Returns
    -------
    audio : np.ndarray [shape=(n,), dtype=float32]
        Samples in [-1, 1], ``n = info.num_samples``.
    info : UtteranceInfo
        Text, timing of phrases and pauses, F0, SNR, channel...

    Raises
    ------
    ConfigError
        If a setting is out of the range :class:`~speakerlib.data.synth.config.SynthConfig`
        accepts (:class:`~speakerlib.errors.ConfigTypeError` if it is not a number).

    Examples
    --------
    >>> from speakerlib.data.synth import speaker_profiles, utterance_rng
    >>> config = SynthConfig(num_speakers=2, seed=0)
    >>> voice = speaker_profiles(config)[0]
    >>> audio, info = synthesize_utterance(voice, utterance_rng(0, 0, 0), **config.utterance_settings())
    >>> audio.dtype, audio.shape == (info.num_samples,), len(info.pauses_s) >= 1
    (dtype('float32'), True, True)
    """
    # Validate the settings through the config's own checks.
    SynthConfig(sample_rate_hz=sample_rate_hz, min_duration_s=min_duration_s,
                max_duration_s=max_duration_s, snr_min_db=snr_min_db, snr_max_db=snr_max_db,
                intra_speaker_variability=intra_speaker_variability, channel_eq_db=channel_eq_db)
    fs = int(sample_rate_hz)
    v = float(intra_speaker_variability)
    plan = plan_utterance(speaker, rng, sample_rate_hz=fs, min_duration_s=min_duration_s,
                           max_duration_s=max_duration_s, intra_speaker_variability=v)
    n = plan.num_samples

    # Utterance-level state of the voice.
    f0_shift = rng.normal(0.0, 1.0 * v)
    vtl = speaker.vtl_factor * math.exp(rng.normal(0.0, 0.02 * v))
    formant_scale = vtl * (1.0 + np.asarray(speaker.formant_offsets)) * np.exp(rng.normal(0.0, 0.012 * v, 5))
    open_quotient = float(np.clip(speaker.open_quotient + rng.normal(0.0, 0.03 * v), 0.3, 0.9))
    tilt = float(np.clip(speaker.spectral_tilt + rng.normal(0.0, 0.06 * v), 0.0, 0.9))
    breathiness = speaker.breathiness * math.exp(rng.normal(0.0, 0.25 * v))

    hop = int(round(_HOP_S * fs))
    win = int(round(_WIN_S * fs))
    n_fft = 1 << int(math.ceil(math.log2(2 * win)))
    n_frames = 1 + n // hop
    frame_t = np.arange(n_frames) * hop / fs
    t = np.arange(n) / fs

    # Which segment each sample is in.
    seg = np.searchsorted(plan.seg_start, t, side="right") - 1
    inside = (seg >= 0) & (t < plan.seg_end[np.maximum(seg, 0)])
    seg = np.maximum(seg, 0)
    kind = np.where(inside, plan.seg_kind[seg], -1)
    level = plan.seg_level[seg]

    voiced_gate = smooth(np.where(kind == VOICED, level, 0.0), int(0.012 * fs), pad_mode="constant")
    aspiration_gate = smooth(np.where(kind == ASPIRATION, level, 0.0), int(0.005 * fs),
                              pad_mode="constant")
    frication_gate = smooth(np.where(kind == FRICATION, level, 0.0), int(0.015 * fs),
                             pad_mode="constant")
    burst_decay = np.exp(-(t - plan.seg_start[seg]) / 0.004)
    frication_gate += smooth(np.where(kind == BURST, level * burst_decay, 0.0), int(0.001 * fs),
                              pad_mode="constant")

    # F0 contour [semitones re the speaker's mean], at frame rate, then per sample.
    phrase_starts = np.array([a for a, _ in plan.phrases_s])
    phrase_ends = np.array([b for _, b in plan.phrases_s])
    drops = rng.uniform(1.5, 4.0, len(phrase_starts)) * speaker.f0_range
    ph = np.clip(np.searchsorted(phrase_starts, frame_t, side="right") - 1, 0, len(phrase_starts) - 1)
    progress = np.clip((frame_t - phrase_starts[ph]) / (phrase_ends[ph] - phrase_starts[ph]), 0.0, 1.0)
    semitones = drops[ph] * (0.5 - progress)
    accent_width = rng.uniform(0.05, 0.09)
    semitones += (plan.accent_height[None, :] * np.exp(
        -0.5 * ((frame_t[:, None] - plan.vowel_center_s[None, :]) / accent_width) ** 2)).sum(axis=1)
    knots = np.arange(0.0, frame_t[-1] + 0.5, 0.25)
    semitones += 0.6 * np.interp(frame_t, knots, rng.normal(0.0, 1.0, knots.size))
    semitones = smooth(semitones, 3)
    f0 = speaker.f0_mean_hz * 2.0 ** ((np.interp(t, frame_t, semitones) + f0_shift) / 12.0)
    mean_period = fs / (speaker.f0_mean_hz * 2.0 ** (f0_shift / 12.0))
    cycle_guess = (np.arange(n) / mean_period).astype(np.int64)
    f0 = f0 * (1.0 + speaker.jitter * rng.standard_normal(int(cycle_guess[-1]) + 1)[cycle_guess])

    # Glottal source: flow derivative with shimmer and extra tilt, plus aspiration.
    phase = np.cumsum(f0) / fs
    cycle = phase.astype(np.int64)
    flow = rosenberg_pulse(phase - cycle, open_quotient=open_quotient,
                            speed_quotient=speaker.speed_quotient)
    derivative = np.diff(flow, prepend=flow[0]) * (fs / f0)
    derivative *= np.exp(speaker.shimmer * rng.standard_normal(int(cycle[-1]) + 1))[cycle]
    voice = signal.lfilter([1.0 - tilt], [1.0, -tilt], derivative)
    voice_rms = float(np.sqrt(np.mean(voice**2)))
    breath = breathiness * voice_rms * (0.3 + flow) * rng.standard_normal(n)
    tract_source = (voice + breath) * voiced_gate
    tract_source += 0.5 * voice_rms * aspiration_gate * rng.standard_normal(n)
    frication_source = frication_gate * rng.standard_normal(n)

    # Formant tracks [Hz] at frame rate: targets at segment anchors, interpolated, smoothed.
    has_formants = ~np.isnan(plan.seg_formants[:, 0])
    anchors_t: list[np.ndarray] = []
    anchors_f: list[np.ndarray] = []
    for k in np.flatnonzero(has_formants):
        a, b = plan.seg_start[k], plan.seg_end[k]
        targets = np.r_[plan.seg_formants[k], F45_HZ]
        if plan.seg_kind[k] == VOICED and b - a > 0.06:
            anchors_t.append(np.array([a + 0.3 * (b - a), b - 0.3 * (b - a)]))
            anchors_f.append(np.vstack([targets, targets]))
        else:
            anchors_t.append(np.array([0.5 * (a + b)]))
            anchors_f.append(targets[None, :])
    at = np.concatenate(anchors_t)
    af = np.vstack(anchors_f) * formant_scale[None, :]
    tracks = np.stack([np.interp(frame_t, at, af[:, j]) for j in range(5)], axis=1)
    tracks = smooth(tracks, max(1, int(round(0.03 / _HOP_S))))
    bandwidths = _BANDWIDTHS_HZ * speaker.bandwidth_factor
    bandwidths = bandwidths * np.r_[1.0 + 2.0 * breathiness, np.ones(4)]  # breathy: wider B1

    freqs = np.fft.rfftfreq(n_fft, d=1.0 / fs)
    keep = (tracks < 0.45 * fs).all(axis=0)
    tract = cascade_response(tracks[:, keep], np.broadcast_to(bandwidths[keep], tracks[:, keep].shape),
                              n_fft=n_fft, sample_rate_hz=fs)
    zero_hz = speaker.antiresonance_hz * vtl
    if zero_hz < 0.45 * fs:
        tract *= antiresonance_response(zero_hz, speaker.antiresonance_bandwidth_hz, n_fft=n_fft,
                                         sample_rate_hz=fs)[None, :]

    # Filtering in the short-time Fourier domain. Fricatives and bursts: noise
    # through a band (Gaussian in octaves) taken from the noise segment whose
    # centre is nearest the frame.
    stft_kw = {"n_fft": n_fft, "hop": hop, "win": win}
    voiced_spec = stft(tract_source.astype(np.float32), **stft_kw)
    voiced_spec *= tract.T.astype(np.complex64)
    noisy = np.flatnonzero(~np.isnan(plan.seg_noise[:, 0]))
    frication_weight = float(np.sum(frication_gate**2))
    if noisy.size and frication_weight > 0.0:
        centres = 0.5 * (plan.seg_start[noisy] + plan.seg_end[noisy])
        right = np.clip(np.searchsorted(centres, frame_t), 0, noisy.size - 1)
        left = np.clip(right - 1, 0, noisy.size - 1)
        nearest = np.where(np.abs(frame_t - centres[left]) <= np.abs(frame_t - centres[right]),
                           left, right)
        fc = np.minimum(plan.seg_noise[noisy, 0] * vtl, 0.42 * fs)
        octaves = np.log2(np.maximum(freqs[None, :], 20.0) / fc[:, None])
        band = np.exp(-0.5 * (octaves / plan.seg_noise[noisy, 1][:, None]) ** 2)  # (noisy, bins)
        frication_spec = stft(frication_source.astype(np.float32), **stft_kw)
        frication_spec *= band[nearest].T.astype(np.float32)
        # Level of the noise sounds: a fricative at full level has 0.4 times the
        # amplitude (-8 dB) of a vowel at full level. Energies per unit of
        # squared gate, summed over the spectrogram (Parseval), set the ratio.
        voiced_per_gate = energy(voiced_spec) / float(np.sum(voiced_gate**2))
        frication_per_gate = energy(frication_spec) / frication_weight
        frication_spec *= np.float32(0.4 * math.sqrt(voiced_per_gate / max(frication_per_gate, 1e-30)))
        voiced_spec += frication_spec
    speech = istft(voiced_spec, length=n, **stft_kw).astype(np.float64)

    # Background noise: coloured (1/f^beta), sometimes with mains hum.
    active = (voiced_gate > 0.05) | (frication_gate > 0.02) | (aspiration_gate > 0.02)
    speech_power = float(np.mean(speech[active] ** 2))
    snr_db = float(rng.uniform(snr_min_db, snr_max_db))
    beta = rng.uniform(0.6, 1.8)
    n_noise = sp_fft.next_fast_len(n, real=True)
    spectrum = sp_fft.rfft(rng.standard_normal(n_noise))
    spectrum *= np.maximum(sp_fft.rfftfreq(n_noise, d=1.0 / fs), 30.0) ** (-beta / 2.0)
    noise = sp_fft.irfft(spectrum, n=n_noise)[:n]
    noise /= np.sqrt(np.mean(noise**2))
    if rng.random() < 0.3:
        mains = 50.0 if rng.random() < 0.5 else 60.0
        harmonics = np.arange(1, 6)
        hum = (0.7 ** harmonics[:, None] * np.sin(
            2 * np.pi * mains * harmonics[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, (5, 1)))).sum(0)
        noise += rng.uniform(0.3, 1.0) * hum / np.sqrt(np.mean(hum**2))
        noise /= np.sqrt(np.mean(noise**2))
    mixture = speech + noise * math.sqrt(speech_power / 10.0 ** (snr_db / 10.0))

    # Channel: band limits, two equaliser peaks and a shelf, drawn per utterance.
    nyquist = 0.5 * fs
    highpass_hz = float(rng.uniform(50.0, 150.0))
    lowpass_hz = float(min(rng.uniform(7000.0, 7900.0), 0.95 * nyquist))
    peaks = [(float(math.exp(rng.uniform(math.log(200.0), math.log(5000.0)))),
              float(rng.normal(0.0, channel_eq_db)), float(rng.uniform(0.7, 2.0))) for _ in range(2)]
    shelf_hz = float(math.exp(rng.uniform(math.log(1000.0), math.log(4000.0))))
    shelf_db = float(rng.normal(0.0, 0.5 * channel_eq_db))
    sos = np.vstack([
        signal.butter(2, highpass_hz, btype="highpass", fs=fs, output="sos"),
        signal.butter(4, lowpass_hz, btype="lowpass", fs=fs, output="sos"),
        *[peaking_sos(f, g, q, fs) for f, g, q in peaks],
        high_shelf_sos(shelf_hz, shelf_db, fs),
    ])
    recorded = signal.sosfilt(sos, mixture)

    # Level: active speech at a random RMS level, then keep peaks below full scale.
    level_dbfs = float(rng.uniform(-32.0, -20.0))
    recorded *= 10.0 ** (level_dbfs / 20.0) / math.sqrt(float(np.mean(recorded[active] ** 2)))
    peak = float(np.max(np.abs(recorded)))
    if peak > 0.95:
        recorded *= 0.95 / peak
    audio = recorded.astype(np.float32)

    info = UtteranceInfo(
        num_samples=n,
        sample_rate_hz=fs,
        text=plan.text,
        syllables=plan.syllables,
        leading_silence_s=plan.lead_s,
        trailing_silence_s=plan.trail_s,
        phrases_s=plan.phrases_s,
        pauses_s=plan.pauses_s,
        f0_median_hz=float(np.median(f0[voiced_gate > 0.5 * voiced_gate.max()])),
        f0_shift_semitones=float(f0_shift),
        vtl_factor=float(vtl),
        speaking_rate_hz=plan.rate_hz,
        snr_db=snr_db,
        level_dbfs=level_dbfs,
        channel={"highpass_hz": highpass_hz, "lowpass_hz": lowpass_hz, "peaks": peaks,
                 "shelf_hz": shelf_hz, "shelf_db": shelf_db},
    )
    return audio, info
