"""Splits: speaker-disjoint train/dev/test, and enrolment/test within speakers.

Two kinds of split answer two questions:

* **Speaker-disjoint** (:func:`speaker_split`, :func:`corpus_split`): which
  speakers a model may train on (``train``), select checkpoints and thresholds
  on (``dev``), and be judged on (``test``). No speaker is in two parts, so a
  test number measures generalisation to voices the model never heard.
* **A part carved from another** (:func:`carve_part`): a share of one part's
  speakers moved to a new part, e.g. ``calibration`` speakers taken from
  ``dev`` so that the speakers that fit a score calibration are not those that
  chose the checkpoint, and the ``test`` speakers stay the same.
* **Enrolment/test** (:func:`enrolment_split`): within each evaluation speaker,
  which utterances build the speaker model (``enrol``) and which are scored
  against it (``test``).

Every split is a pure function of the manifest and a seed: the same inputs give
the same split on any machine, whatever the manifest's row order. A draw that
concerns one speaker (its enrolment utterances, its validation utterances in
training) uses that speaker's own generator, :func:`speaker_rng`, so that it
does not depend on the other speakers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from speakerlib import seeds
from speakerlib.errors import SplitError, UnknownNameError

__all__ = [
    "speaker_split",
    "corpus_split",
    "carve_part",
    "has_own_partition",
    "enrolment_split",
    "split_summary",
    "SPLITS",
    "CALIBRATION",
    "CALIBRATION_FRACTION",
    "ENROLMENT_METHODS",
    "stable_hash",
    "speaker_rng",
]

#: The parts of a speaker-disjoint split, in order.
SPLITS: tuple[str, ...] = ("train", "dev", "test")
#: The part that fits a score calibration (:func:`carve_part`); neither trains nor chooses checkpoints.
CALIBRATION = "calibration"
#: The share of the dev speakers that ``speakerlib pretrain`` moves to :data:`CALIBRATION` by default.
CALIBRATION_FRACTION = 0.4
#: How :func:`enrolment_split` chooses the enrolment utterances.
ENROLMENT_METHODS: tuple[str, ...] = ("random", "reference")


def _check_manifest(manifest: pd.DataFrame) -> None:
    for column in ("utt_id", "speaker"):
        if column not in manifest.columns:
            raise SplitError(f"expected a manifest with a {column!r} column, found columns {list(manifest.columns)}.")
    if manifest.empty:
        raise SplitError("expected a manifest with utterances, found an empty one.")


def _allocate(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Split ``n`` items into three counts proportional to ``fractions`` (largest remainder)."""
    raw = np.asarray(fractions, dtype=float) * n
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    for i in order[: n - counts.sum()]:
        counts[i] += 1
    return int(counts[0]), int(counts[1]), int(counts[2])


def _draw(speakers: pd.DataFrame, fractions: tuple[float, float, float], rng: np.random.Generator,
          stratify: str | None) -> dict[str, int]:
    """Each speaker's part (0, 1 or 2), in proportion to ``fractions`` within each ``stratify`` group.

    ``speakers`` holds one row per speaker. The totals per part are those of the
    whole set (:func:`_allocate`); rounding is fixed by moving speakers between
    groups. Each group is shuffled by ``rng`` in turn, in sorted group order.
    """
    groups = (
        {"": sorted(speakers["speaker"])}
        if stratify is None
        else {
            key: sorted(group["speaker"])
            for key, group in speakers.groupby(speakers[stratify].astype(str), sort=True)
        }
    )
    wanted = _allocate(len(speakers), fractions)
    # Per stratum, allocate proportionally; then fix rounding so totals match ``wanted``.
    per_group = {key: list(_allocate(len(members), fractions)) for key, members in groups.items()}
    got = np.sum(list(per_group.values()), axis=0) if per_group else np.zeros(3, int)
    for part in range(3):
        while got[part] < wanted[part]:
            # move one speaker into ``part`` from the part that has most excess
            donor = int(np.argmax(got - np.asarray(wanted)))
            key = max(per_group, key=lambda k: per_group[k][donor])
            per_group[key][donor] -= 1
            per_group[key][part] += 1
            got[donor] -= 1
            got[part] += 1
    assignment: dict[str, int] = {}
    for key, members in groups.items():
        order = rng.permutation(len(members))
        n_first, n_second, _ = per_group[key]
        for i, k in enumerate(order):
            assignment[members[k]] = 0 if i < n_first else (1 if i < n_first + n_second else 2)
    return assignment


def speaker_split(
    manifest: pd.DataFrame,
    *,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    stratify: str | None = "gender",
) -> pd.DataFrame:
    """Assign every speaker to ``train``, ``dev`` or ``test``.

    Parameters
    ----------
    manifest : DataFrame
        A manifest (columns ``utt_id``, ``speaker``, and ``stratify`` if given).
    fractions : (float, float, float)
        Shares of *speakers* for train, dev and test; each >= 0, summing to 1.
    seed : int
        Seed of the speaker shuffle.
    stratify : str or None
        Column whose values are split separately (default ``"gender"``), so each
        part keeps the corpus's balance. ``None`` shuffles all speakers together.

    Returns
    -------
    DataFrame
        A copy of ``manifest`` with a ``split`` column.

    Raises
    ------
    SplitError
        If fractions are invalid or a part with a non-zero share would get no
        speaker.

    Examples
    --------
    >>> parts = speaker_split(manifest, fractions=(0.6, 0.2, 0.2), seed=0)  # doctest: +SKIP
    >>> parts.groupby("split").speaker.nunique()  # doctest: +SKIP
    """
    _check_manifest(manifest)
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or min(fr) < 0 or not np.isclose(sum(fr), 1.0):
        raise SplitError(f"expected three non-negative fractions summing to 1 (train, dev, test), found {fractions}.")
    speakers = manifest.drop_duplicates("speaker")
    if stratify is not None and stratify not in manifest.columns:
        raise SplitError(f"cannot stratify by {stratify!r}: the manifest has no such column. Pass stratify=None.")
    total = len(speakers)
    wanted = _allocate(total, fr)
    assignment = {speaker: SPLITS[k] for speaker, k in
                  _draw(speakers, fr, seeds.rng(seed, "split.speakers"), stratify).items()}
    for part, share, count in zip(SPLITS, fr, wanted):
        if share > 0 and count == 0:
            raise SplitError(
                f"the {part} part (share {share}) gets no speaker out of {total}. "
                "Use a corpus with more speakers or change the fractions."
            )
    for part, share, count in zip(SPLITS, fr, wanted):
        if part != "train" and share > 0 and count == 1:
            warnings.warn(
                f"the {part} part gets 1 speaker out of {total} (share {share:g}): it has no "
                "different-speaker trials, so its EER is undefined "
                + ("and it cannot choose checkpoints or thresholds" if part == "dev" else
                   "and verification cannot be measured on it")
                + ". Use a corpus with more speakers or raise the share of that part "
                "(fractions= in Python, --fractions on the command line).", stacklevel=2)
    out = manifest.copy()
    out["split"] = out["speaker"].map(assignment)
    return out


def has_own_partition(manifest: pd.DataFrame) -> bool:
    """Whether the manifest's ``subset`` column holds a train/test partition of the corpus's own
    (TIMIT's TRAIN and TEST), which :func:`corpus_split` keeps."""
    subsets = set(manifest.get("subset", pd.Series(dtype=str)).astype(str).str.lower())
    return {"train", "test"} <= subsets


def corpus_split(
    manifest: pd.DataFrame,
    *,
    dev_fraction: float = 0.2,
    seed: int = 0,
    stratify: str | None = "gender",
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> pd.DataFrame:
    """Speaker-disjoint split that respects a corpus's own train/test partition.

    TIMIT defines its own speaker-disjoint ``train``/``test`` (the ``subset``
    column); those are kept, and ``dev_fraction`` of the *train* speakers become
    ``dev`` (checkpoints and thresholds are chosen there, never on test). A
    corpus without such a partition falls back to :func:`speaker_split` with
    ``fractions``.

    Returns
    -------
    DataFrame
        A copy of ``manifest`` with a ``split`` column.
    """
    _check_manifest(manifest)
    if not has_own_partition(manifest):
        return speaker_split(manifest, fractions=fractions, seed=seed, stratify=stratify)
    if not 0 <= dev_fraction < 1:
        raise SplitError(f"expected 0 <= dev_fraction < 1, found {dev_fraction}.")
    lower = manifest["subset"].astype(str).str.lower()
    crossing = manifest.groupby("speaker")["subset"].nunique()
    if (crossing > 1).any():
        raise SplitError(
            f"the corpus's train/test partition is not speaker-disjoint: speakers "
            f"{sorted(crossing[crossing > 1].index)[:5]} appear in both. Use speaker_split instead."
        )
    train = manifest[lower == "train"]
    inner = speaker_split(train, fractions=(1 - dev_fraction, dev_fraction, 0.0), seed=seed, stratify=stratify)
    out = manifest.copy()
    out["split"] = np.where(lower == "test", "test", np.where(lower == "train", "", "other"))
    out.loc[inner.index, "split"] = inner["split"]
    return out


def carve_part(
    parts: pd.DataFrame,
    *,
    fraction: float,
    source: str = "dev",
    part: str = CALIBRATION,
    seed: int = 0,
    stratify: str | None = "gender",
) -> pd.DataFrame:
    """Move a share of the speakers of one part of a split to a new part.

    The other parts keep their speakers exactly, so figures measured on them
    stay comparable with a split that has no such part. The draw has its own
    random stream, so it does not change the split it starts from.

    Parameters
    ----------
    parts : DataFrame
        A manifest with a ``split`` column (:func:`speaker_split`, :func:`corpus_split`).
    fraction : float
        Share of ``source``'s speakers moved, in ``[0, 1)``; rounded to the
        nearest speaker. 0 returns an unchanged copy.
    source : str
        The part that gives the speakers (default ``"dev"``).
    part : str
        The new part's name (default :data:`CALIBRATION`).
    seed : int
        Seed of the draw.
    stratify : str or None
        As for :func:`speaker_split` (the column must exist unless ``None``).

    Returns
    -------
    DataFrame
        A copy of ``parts`` with the moved speakers' ``split`` set to ``part``.

    Raises
    ------
    SplitError
        If ``fraction`` is out of range, ``part`` already exists, or either
        ``source`` or the new part would be left with fewer than 2 speakers
        (no different-speaker trials).

    Examples
    --------
    >>> parts = carve_part(speaker_split(manifest), fraction=0.4)  # doctest: +SKIP
    >>> parts.groupby("split").speaker.nunique()  # doctest: +SKIP
    """
    if "split" not in parts.columns:
        raise SplitError(f"expected a manifest with a 'split' column, found columns {list(parts.columns)}.")
    if not 0 <= fraction < 1:
        raise SplitError(f"expected a fraction of the {source} speakers in [0, 1), found {fraction}.")
    out = parts.copy()
    if fraction == 0:
        return out
    if (out["split"] == part).any():
        raise SplitError(f"the split already has a {part!r} part; carve it once, from a split without one.")
    members = out.loc[out["split"] == source].drop_duplicates("speaker")
    n_source = len(members)
    n_moved = int(round(fraction * n_source))
    if n_moved < 2 or n_source - n_moved < 2:
        raise SplitError(
            f"a share of {fraction:g} of the {n_source} {source} speakers moves {n_moved} to {part!r} and leaves "
            f"{n_source - n_moved}: each needs at least 2 speakers (different-speaker trials). Change the share "
            f"(calibration_fraction= in Python, --calibration-fraction on the command line) or give {source} "
            "more speakers.")
    if stratify is not None and stratify not in members.columns:
        raise SplitError(f"cannot stratify by {stratify!r}: the manifest has no such column. Pass stratify=None.")
    drawn = _draw(members, (1 - n_moved / n_source, n_moved / n_source, 0.0), seeds.rng(seed, "split.carved", stable_hash(part)),
                  stratify)
    chosen = {speaker for speaker, k in drawn.items() if k == 1}
    out.loc[out["speaker"].isin(chosen) & (out["split"] == source), "split"] = part
    return out


def enrolment_split(
    manifest: pd.DataFrame,
    *,
    n_enrol: int | None = None,
    enrol_fraction: float = 0.5,
    seed: int = 0,
    method: str = "random",
    min_test: int = 1,
) -> pd.DataFrame:
    """Within each speaker, mark utterances as ``enrol`` or ``test`` (column ``role``).

    Parameters
    ----------
    manifest : DataFrame
        A manifest, usually the ``test`` (or ``dev``) speakers of a split.
    n_enrol : int, optional
        Enrolment utterances per speaker. Overrides ``enrol_fraction``.
    enrol_fraction : float
        Share of each speaker's utterances used for enrolment (rounded down,
        at least 1) when ``n_enrol`` is not given.
    seed : int
        Seed for ``method="random"``.
    method : {"random", "reference"}
        ``"random"``: enrolment drawn at random per speaker (seeded).
        ``"reference"``: the seed project's rule: the first half of the speaker's
        utterances sorted by ``utt_id`` enrol, the rest test (``n_enrol`` and
        ``enrol_fraction`` are then ignored).
    min_test : int
        Test utterances each speaker must keep.

    Returns
    -------
    DataFrame
        A copy of ``manifest`` with a ``role`` column (``"enrol"`` / ``"test"``).

    Raises
    ------
    SplitError
        If a speaker has fewer utterances than ``n_enrol + min_test``, or
        ``n_enrol`` or ``enrol_fraction`` is out of range.
    UnknownNameError
        If ``method`` is not one of :data:`ENROLMENT_METHODS` (a KeyError).
    """
    _check_manifest(manifest)
    if method not in ENROLMENT_METHODS:
        raise UnknownNameError(f"unknown enrolment method {method!r}; valid: {list(ENROLMENT_METHODS)}")
    if n_enrol is not None and n_enrol < 1:
        raise SplitError(f"expected n_enrol >= 1, found {n_enrol}.")
    if not 0 < enrol_fraction < 1:
        raise SplitError(f"expected 0 < enrol_fraction < 1, found {enrol_fraction}.")
    roles: dict[object, str] = {}
    short: dict[str, int] = {}
    for speaker, group in manifest.groupby("speaker", sort=True):
        ids = group.sort_values("utt_id", kind="stable").index.to_list()
        n = len(ids)
        if method == "reference":
            k = n // 2
            chosen = ids[:k]
            if k < 1 or n - k < min_test:
                short[str(speaker)] = n
                continue
        else:
            k = n_enrol if n_enrol is not None else max(1, int(np.floor(enrol_fraction * n)))
            if n < k + min_test:
                short[str(speaker)] = n
                continue
            # A generator per speaker: the choice does not depend on the other speakers.
            rng = speaker_rng(seed, speaker)
            chosen = [ids[i] for i in sorted(rng.choice(n, size=k, replace=False))]
        chosen_set = set(chosen)
        for index in ids:
            roles[index] = "enrol" if index in chosen_set else "test"
    if short:
        need = "2 (reference: half enrol, half test)" if method == "reference" else (
            f"{(n_enrol if n_enrol is not None else 1) + min_test}"
        )
        listing = ", ".join(f"{s} ({n})" for s, n in list(short.items())[:10])
        raise SplitError(
            f"{len(short)} speakers have fewer utterances than the {need} needed for "
            f"enrolment plus test: {listing}. Ask for fewer enrolment utterances, or drop "
            "these speakers from the manifest first."
        )
    out = manifest.copy()
    out["role"] = pd.Series(roles)
    return out


def stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every Python process (unlike ``hash``).

    The 32-bit FNV-1a hash of the UTF-8 bytes.

    Parameters
    ----------
    text : str

    Returns
    -------
    int
        In ``[0, 2**32)``.

    Examples
    --------
    >>> stable_hash(""), stable_hash("a")
    (2166136261, 3826002220)
    """
    value = 2166136261
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


def speaker_rng(seed: int, speaker: object) -> np.random.Generator:
    """The random generator of one speaker's draws: ``default_rng([seed, stable_hash(str(speaker))])``.

    Keyed by the speaker's id rather than its position, so a speaker's draws
    (which utterances enrol, which validate in training) do not change when
    other speakers are added or removed.

    Parameters
    ----------
    seed : int >= 0
        The split's (or the run's) seed.
    speaker : object
        The speaker id; its ``str`` is hashed (``"0001"`` and ``1`` differ).

    Returns
    -------
    numpy.random.Generator
        A fresh generator.

    Examples
    --------
    >>> speaker_rng(0, "19").permutation(4).tolist() == \\
    ...     np.random.default_rng([0, stable_hash("19")]).permutation(4).tolist()
    True
    """
    return np.random.default_rng([seed, stable_hash(str(speaker))])


def split_summary(parts: pd.DataFrame) -> pd.DataFrame:
    """Per part of a split: speakers (and how many female/male), utterances, enrol/test counts.

    Parameters
    ----------
    parts : DataFrame
        A manifest with a ``split`` column and optionally ``role`` and ``gender``.

    Returns
    -------
    DataFrame
        Index ``split`` (train, dev, calibration, test, then any other value); columns
        ``speakers``, ``female``, ``male``, ``utterances``, ``enrol``, ``test``.
    """
    if "split" not in parts.columns:
        raise SplitError(f"expected a manifest with a 'split' column, found columns {list(parts.columns)}.")
    role = parts["role"] if "role" in parts.columns else pd.Series("", index=parts.index)
    gender = parts["gender"] if "gender" in parts.columns else pd.Series("", index=parts.index)
    rows = []
    known = (*SPLITS[:2], CALIBRATION, *SPLITS[2:])
    order = [s for s in known if s in set(parts["split"])] + sorted(set(parts["split"]) - set(known))
    for name in order:
        mask = parts["split"] == name
        speakers = parts.loc[mask, "speaker"]
        first = ~speakers.duplicated()
        rows.append({
            "split": name,
            "speakers": int(speakers.nunique()),
            "female": int((gender[mask][first] == "F").sum()),
            "male": int((gender[mask][first] == "M").sum()),
            "utterances": int(mask.sum()),
            "enrol": int((role[mask] == "enrol").sum()),
            "test": int((role[mask] == "test").sum()),
        })
    return pd.DataFrame(rows).set_index("split")
