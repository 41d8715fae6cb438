"""Trial lists for speaker verification: built from a manifest, written and read in the VoxCeleb format.

A *trial* is a pair of utterances ``(enrol, test)`` with a label: 1 (target)
when both are from the same speaker, 0 (non-target) otherwise.
:func:`make_trials` builds a balanced list from a manifest, deterministically
for a seed; :func:`write_trials` and :func:`read_trials` use the VoxCeleb
format (``1 idA idB`` per line), so lists made elsewhere (``veri_test2.txt``)
can be scored here too (:func:`speakerlib.evaluation.verification.score_trials`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from speakerlib import seeds
from speakerlib._io import atomic_path
from speakerlib.errors import ManifestError, TrialListError

__all__ = ["TRIAL_COLUMNS", "make_trials", "write_trials", "read_trials", "check_trial_frame"]

TRIAL_COLUMNS: tuple[str, str, str] = ("label", "enrol", "test")


def check_trial_frame(trials: pd.DataFrame, *, need_label: bool) -> None:
    """Raise :class:`TrialListError` unless ``trials`` is a DataFrame with the trial columns.

    Parameters
    ----------
    trials : DataFrame
    need_label : bool
        Require ``label`` besides ``enrol`` and ``test``.
    """
    columns = TRIAL_COLUMNS if need_label else TRIAL_COLUMNS[1:]
    if not isinstance(trials, pd.DataFrame):
        raise TrialListError(f"expected a DataFrame with columns {list(columns)}, found {type(trials).__name__}.")
    missing = [c for c in columns if c not in trials.columns]
    if missing:
        raise TrialListError(
            f"expected trial columns {list(columns)}, found {list(trials.columns)} (missing {missing})."
        )


def _pair_offsets(rng: np.random.Generator, count: int, size: int) -> np.ndarray:
    """``size`` distinct offsets in ``range(count)``, uniformly without replacement, sorted."""
    return np.sort(rng.choice(count, size=size, replace=False)) if size else np.zeros(0, np.int64)


def make_trials(
    manifest: pd.DataFrame,
    *,
    seed: int = 0,
    targets_per_utterance: int | None = None,
    nontargets_per_utterance: int | None = None,
    gender_balanced: bool = False,
) -> pd.DataFrame:
    """Build a verification trial list from a manifest, deterministically for a seed.

    Every trial is an *unordered* pair of two different utterances, listed
    once, with ``enrol`` the smaller id (string order); the list is sorted by
    ``(enrol, test)``. Scores are symmetric (cosine), so ``(a, b)`` and
    ``(b, a)`` would be the same trial.

    Targets (label 1)
        ``targets_per_utterance=None`` (default): every pair of utterances of
        the same speaker, ``sum_s n_s (n_s - 1) / 2`` trials for speakers with
        ``n_s`` utterances. An int ``k``: each utterance draws
        ``min(k, n_s - 1)`` partners of its own speaker uniformly without
        replacement; a pair drawn from both sides counts once, so there are
        between ``N k / 2`` and ``N k`` targets (fewer for small speakers).
    Non-targets (label 0)
        ``nontargets_per_utterance=None`` (default): as many non-target
        trials as target trials (the 50/50 balance of VoxCeleb1-O), drawn
        uniformly without replacement from *all* eligible non-target pairs
        (all of them when there are fewer). An int ``k``: each utterance draws
        ``k`` eligible partners uniformly without replacement (all when it
        has fewer); pairs drawn from both sides count once.
    ``gender_balanced``
        When True, eligible non-target pairs are *same-gender* pairs only
        (column ``gender``). This is the harder convention of VoxCeleb1-H
        (same nationality and gender): the system cannot reject impostors by
        gender alone, which the seed's TIMIT protocol (all-female members)
        lets it do. When False, any two speakers form a non-target pair.

    Targets and non-targets are drawn from two independent random streams
    (derived from ``seed``), so changing one setting leaves the other half of
    the list unchanged. The row order of ``manifest`` does not matter.

    Parameters
    ----------
    manifest : DataFrame
        Columns ``utt_id`` (unique, without whitespace), ``speaker``, and
        ``gender`` when ``gender_balanced``. Usually the dev or test speakers.
    seed : int
        Seed of the random draws.
    targets_per_utterance, nontargets_per_utterance : int >= 1 or None
        See above.
    gender_balanced : bool
        Same-gender non-targets only.

    Returns
    -------
    DataFrame
        Columns ``label`` (int64, 1 target / 0 non-target), ``enrol``,
        ``test`` (str), sorted by ``(enrol, test)``, index 0..n-1.

    Raises
    ------
    ManifestError
        If a column is missing, an id repeats or contains whitespace, or a
        gender is missing when ``gender_balanced``.
    TrialListError
        If no target trial (no speaker with 2 utterances) or no non-target
        trial (one speaker, or one speaker per gender when
        ``gender_balanced``) can be made, or a per-utterance count is < 1.

    Examples
    --------
    >>> trials = make_trials(test_manifest, seed=0)  # doctest: +SKIP
    >>> trials.label.value_counts()  # doctest: +SKIP
    """
    needed = ["utt_id", "speaker"] + (["gender"] if gender_balanced else [])
    missing = [c for c in needed if c not in manifest.columns]
    if missing:
        raise ManifestError(
            f"expected a manifest with the columns {needed}, found {list(manifest.columns)} "
            f"(missing {missing})."
        )
    for name, value in (("targets_per_utterance", targets_per_utterance),
                        ("nontargets_per_utterance", nontargets_per_utterance)):
        if value is not None and (int(value) != value or value < 1):
            raise TrialListError(f"expected {name} to be None or an int >= 1, found {value!r}.")
    utt = manifest["utt_id"].astype(str).to_numpy(dtype=str)
    spk = manifest["speaker"].astype(str).to_numpy(dtype=str)
    values, counts = np.unique(utt, return_counts=True)
    if (counts > 1).any():
        raise ManifestError(f"expected unique utterance ids, found repeats: {values[counts > 1][:5].tolist()}.")
    spaced = [u for u in utt if u != "".join(u.split()) or not u]
    if spaced:
        raise ManifestError(
            f"expected utterance ids without whitespace (the trial file separates fields by spaces), "
            f"found {spaced[:5]}."
        )
    if gender_balanced:
        gender = manifest["gender"]
        blank = gender.isna().to_numpy() | (gender.astype(str).str.strip() == "").to_numpy()
        if blank.any():
            raise ManifestError(
                f"gender_balanced needs every utterance's gender, found it missing for "
                f"{int(blank.sum())} (speakers {sorted(set(spk[blank]))[:5]}). "
                "Fill the gender column or pass gender_balanced=False."
            )
        grp = gender.astype(str).str.strip().str.upper().to_numpy(dtype=str)
    else:
        grp = np.full(utt.size, "", dtype=str)
    # Ordered by (group, speaker, utt_id): a speaker's utterances are one block, a group's speakers too.
    order = np.lexsort((utt, spk, grp))
    utt, spk, grp = utt[order], spk[order], grp[order]
    n = utt.size
    ids = utt

    def blocks(new_block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start and size of the block each position belongs to."""
        starts = np.flatnonzero(new_block)
        sizes = np.diff(np.r_[starts, n])
        which = np.cumsum(new_block) - 1
        return starts[which], sizes[which]

    grp_change = np.r_[True, grp[1:] != grp[:-1]]
    spk_start, spk_size = blocks(grp_change | np.r_[True, spk[1:] != spk[:-1]])
    grp_start, grp_size = blocks(grp_change)
    spk_end = spk_start + spk_size
    grp_end = grp_start + grp_size

    rng_target = seeds.rng(seed, "trials.targets")
    rng_nontarget = seeds.rng(seed, "trials.nontargets")

    # Targets: pairs (i, j), i < j, inside one speaker block.
    if targets_per_utterance is None:
        count_after = spk_end - np.arange(n) - 1
        first = np.repeat(np.arange(n), count_after)
        steps = np.arange(first.size) - np.repeat(np.cumsum(count_after) - count_after, count_after)
        target_pairs = np.stack([first, first + 1 + steps], axis=1)
    else:
        drawn = []
        for i in range(n):
            others = spk_size[i] - 1
            offsets = _pair_offsets(rng_target, others, min(int(targets_per_utterance), others))
            partners = spk_start[i] + offsets + (offsets >= i - spk_start[i])  # skip i itself
            drawn.append(np.stack([np.full(partners.size, i), partners], axis=1))
        target_pairs = np.concatenate(drawn) if drawn else np.zeros((0, 2), np.int64)
    # Non-targets: pairs (i, j) in one group (all utterances, or one gender), different speakers.
    after = grp_end - spk_end  # eligible partners j > i: the contiguous range [spk_end[i], grp_end[i])
    n_eligible = int(after.sum())
    if nontargets_per_utterance is None:
        n_target_pairs = len(np.unique(np.sort(target_pairs, axis=1), axis=0))
        size = min(n_target_pairs, n_eligible)
        picks = _pair_offsets(rng_nontarget, n_eligible, size)
        cum = np.cumsum(after)
        first = np.searchsorted(cum, picks, side="right")
        offset = picks - (cum[first] - after[first])
        nontarget_pairs = np.stack([first, spk_end[first] + offset], axis=1)
    else:
        drawn = []
        for i in range(n):
            before = spk_start[i] - grp_start[i]
            pool = grp_size[i] - spk_size[i]
            offsets = _pair_offsets(rng_nontarget, pool, min(int(nontargets_per_utterance), pool))
            partners = np.where(offsets < before, grp_start[i] + offsets, spk_end[i] + offsets - before)
            drawn.append(np.stack([np.full(partners.size, i), partners], axis=1))
        nontarget_pairs = np.concatenate(drawn) if drawn else np.zeros((0, 2), np.int64)

    # Canonical form: (smaller id, larger id) in string order, encoded as one int per pair.
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(ids, kind="stable")] = np.arange(n)

    def codes(pairs: np.ndarray) -> np.ndarray:
        ra, rb = rank[pairs[:, 0]], rank[pairs[:, 1]]
        return np.unique(np.minimum(ra, rb) * n + np.maximum(ra, rb))

    target_codes, nontarget_codes = codes(target_pairs), codes(nontarget_pairs)
    if target_codes.size == 0:
        raise TrialListError(
            f"expected at least one target trial, found no speaker with 2 or more utterances among "
            f"{np.unique(spk).size} speakers. Use a set with several utterances per speaker."
        )
    if nontarget_codes.size == 0:
        raise TrialListError(
            "expected at least one non-target trial, found no eligible pair of speakers "
            + ("of the same gender. Pass gender_balanced=False or add speakers."
               if gender_balanced else "(one speaker only). Add speakers.")
        )
    all_codes = np.concatenate([target_codes, nontarget_codes])
    label = np.r_[np.ones(target_codes.size, np.int64), np.zeros(nontarget_codes.size, np.int64)]
    order = np.argsort(all_codes, kind="stable")  # = sorted by (enrol, test)
    by_rank = np.sort(ids)
    return pd.DataFrame({
        "label": label[order],
        "enrol": pd.Series(by_rank[all_codes[order] // n], dtype=object).astype(str),
        "test": pd.Series(by_rank[all_codes[order] % n], dtype=object).astype(str),
    })


def write_trials(path: str | os.PathLike, trials: pd.DataFrame) -> Path:
    """Write a trial list in the VoxCeleb format, one ``label enrol test`` line per trial.

    Example line: ``1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav``.
    The file is written to a temporary file and moved into place atomically.

    Parameters
    ----------
    path : path-like
        Destination (e.g. ``trials.txt``); its folder is created when missing.
    trials : DataFrame
        Columns ``label`` (0/1), ``enrol``, ``test`` (ids without whitespace).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TrialListError
        If a column is missing, a label is not 0/1, or an id is empty or
        contains whitespace.
    """
    check_trial_frame(trials, need_label=True)
    labels = np.asarray(trials["label"])
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise TrialListError(f"expected labels 0/1, found {sorted(set(labels.tolist()))[:10]}.")
    enrol = trials["enrol"].astype(str).tolist()
    test = trials["test"].astype(str).tolist()
    bad = [u for u in enrol + test if not u or u != "".join(u.split())]
    if bad:
        raise TrialListError(
            f"expected utterance ids without whitespace (the format separates fields by spaces), "
            f"found {bad[:5]}."
        )
    path = Path(path)
    text = "".join(f"{int(y)} {a} {b}\n" for y, a, b in zip(labels, enrol, test))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return path


def read_trials(path: str | os.PathLike) -> pd.DataFrame:
    """Read a VoxCeleb-format trial list (``label enrol test`` per line; blank lines skipped).

    Parameters
    ----------
    path : path-like
        A text file as written by :func:`write_trials` or distributed with
        VoxCeleb (``veri_test2.txt``).

    Returns
    -------
    DataFrame
        Columns ``label`` (int64), ``enrol``, ``test`` (str), in file order.

    Raises
    ------
    TrialListError
        If the file is missing, a line does not have three fields, or a
        label is not 0 or 1 (the message gives the line number).
    """
    path = Path(path)
    if not path.is_file():
        raise TrialListError(f"expected a trial list at {path}, found none. Write it with write_trials.")
    labels: list[int] = []
    enrol: list[str] = []
    test: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3 or fields[0] not in ("0", "1"):
                raise TrialListError(
                    f"{path}:{number}: expected 'label enrol test' with label 0 or 1, found {line.strip()!r}."
                )
            labels.append(int(fields[0]))
            enrol.append(fields[1])
            test.append(fields[2])
    return pd.DataFrame({
        "label": np.asarray(labels, dtype=np.int64),
        "enrol": pd.Series(enrol, dtype=object).astype(str),
        "test": pd.Series(test, dtype=object).astype(str),
    })
