"""The synthetic default corpus: speech-like audio made offline from a seed.

The course's book and tests must run anywhere, without downloading real
speech, so its default corpus is generated here. It is **not speech**: there
are no words, only syllable-like sounds. What it has is what speaker
recognition needs to learn from: voices that differ in the ways real voices
differ, and recordings of one voice that differ in the ways real recordings
differ.

How a recording is made (a source-filter model, as in Klatt's synthesiser)
--------------------------------------------------------------------------
1. **Plan.** A duration, silence before and after, 2 or more phrases with
   pauses between them, and in each phrase a run of syllables: an optional
   consonant (a fricative such as ``S``, a plosive such as ``T`` with closure,
   burst and aspiration, a nasal ``M``/``N``, ``L`` or ``H``) and a vowel from
   a 12-vowel inventory (central vowels most frequent; weak syllables drift
   toward schwa). The syllable names make the "transcript".
2. **Source.** A glottal flow pulse train (Rosenberg's pulse: open quotient
   and speed quotient set its shape, hence the spectral slope) following an
   F0 contour (phrase declination, accents, slow drift), with jitter
   (period perturbation), shimmer (amplitude perturbation), extra spectral
   tilt, and aspiration noise (breathiness). Its time derivative (the flow
   derivative, which includes lip radiation) excites the vocal tract.
3. **Filter.** Five resonances (formants) with time-varying frequencies,
   interpolated between the targets of successive sounds; targets come from
   the vowel (or consonant) table, scaled by the speaker's vocal-tract
   length factor and personal offsets; a fixed antiresonance (spectral zero)
   near 4-5 kHz differs between speakers. Fricatives and bursts are noise
   shaped by a band around a centre frequency. Filtering is done frame by
   frame in the short-time Fourier domain (8 ms hop), so the formants can
   move without a per-sample loop.
4. **Recording.** Background noise (coloured, sometimes with mains hum) at a
   random SNR, a random mild channel (high-pass, low-pass, two peaking
   equaliser bands and a shelf) and a random level.

Who varies, and how
-------------------
*Per speaker* (:class:`SpeakerProfile`, drawn from ``(seed, speaker)``):
gender (alternating, so the corpus is balanced), mean F0 (85-150 Hz men,
160-255 Hz women: many speakers of a gender overlap), pitch range, jitter,
shimmer, breathiness, glottal pulse shape, spectral tilt, formant bandwidths,
vocal-tract length factor, a personal offset per formant, the antiresonance,
speaking rate.

*Per utterance* (drawn from ``(seed, speaker, utterance)``): the text,
duration, rate, prosody, loudness, SNR and channel; and, scaled by
``intra_speaker_variability``, small shifts of the voice itself (F0 level,
vocal-tract length, formants, pulse shape, breathiness), as a speaker's
voice differs from day to day. The channel is drawn per utterance, so it is
not a speaker cue.

The corpus on disk
------------------
:func:`generate_corpus` writes 16-bit mono FLAC in the LibriSpeech layout, so
:func:`speakerlib.data.librispeech.read_librispeech` reads it::

    <root>/LibriSpeech/
        README.TXT, SPEAKERS.TXT, SYNTHETIC.json (the config and seed)
        synthetic/<speaker>/<chapter>/<speaker>-<chapter>-<utt:04d>.flac
        synthetic/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

How hard it is
--------------
The defaults were tuned so that the simple baseline of
:mod:`speakerlib.baseline` (mean MFCC, cosine; 10 enrolment and 10 test
utterances per speaker) identifies the speaker of about 60-67 % of the test
utterances among the 48 (chance: 2 %) and has a pairwise verification EER
of about 17-20 %, over corpus seeds 0-2: far from perfect, so that learned
embeddings have something to win. Most of the difficulty comes from what is
said (the vowels vary far more than the voices) and from the per-utterance
noise, channel and voice shifts.

Every utterance has its own random generator derived from
``(seed, speaker index, utterance index)``: the same config gives
byte-identical files whatever the order, the number of jobs, or whether a
run was interrupted and resumed.

Its modules:

:mod:`~speakerlib.data.synth.config`
    :class:`SynthConfig` (size, seed, difficulty) and :data:`SYNTH_VERSION`.
:mod:`~speakerlib.data.synth.speakers`
    The voices (:class:`SpeakerProfile`, :func:`speaker_profiles`) and the
    random streams (:func:`utterance_rng`).
:mod:`~speakerlib.data.synth.plan`
    Step 1: what is said when (:func:`~speakerlib.data.synth.plan.plan_utterance`).
:mod:`~speakerlib.data.synth.dsp`
    The signal-processing helpers of steps 2-4 (pure functions).
:mod:`~speakerlib.data.synth.voice`
    Steps 2-4: :func:`synthesize_utterance`.
:mod:`~speakerlib.data.synth.corpus`
    The corpus on disk: :func:`generate_corpus`.
"""

from speakerlib.data.synth.config import SUBSET, SYNTH_VERSION, SynthConfig
from speakerlib.data.synth.corpus import generate_corpus
from speakerlib.data.synth.speakers import SpeakerProfile, speaker_profiles, utterance_rng
from speakerlib.data.synth.voice import UtteranceInfo, synthesize_utterance

__all__ = [
    "SYNTH_VERSION",
    "SynthConfig",
    "SpeakerProfile",
    "UtteranceInfo",
    "speaker_profiles",
    "utterance_rng",
    "synthesize_utterance",
    "generate_corpus",
    "SUBSET",
]
