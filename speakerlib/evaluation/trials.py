"""Trial lists for speaker verification: built from a manifest, written and read in the VoxCeleb format.

A *trial* is a pair of utterances ``(enrol, test)`` with a label: 1 (target)
when both are from the same speaker, 0 (non-target) otherwise.
:func:`make_trials` builds a balanced list from a manifest, deterministically
for a seed; :func:`write_trials` and :func:`read_trials` use the VoxCeleb
format (``1 idA idB`` per line), so lists made elsewhere (``veri_test2.txt``)
can be scored here too (:func:`speakerlib.evaluation.verification.score_trials`).
:func:`read_trial_list` also reads Kaldi's ``idA idB target`` layout and
keeps line numbers and the file's SHA-256; :func:`match_trials` names each
listed utterance (a corpus-relative path such as
``id10270/5r0dWxy17C8/00001.wav``, or an id) by a manifest's ``utt_id``, by
one documented rule that refuses missing and ambiguous matches.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from speakerlib import seeds
from speakerlib._io import atomic_path
from speakerlib.errors import ManifestError, TrialListError

__all__ = ["TRIAL_COLUMNS", "LABEL_WORDS", "make_trials", "write_trials", "read_trials", "read_trial_list",
           "match_trials", "check_trial_frame"]

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


#: Label words of trial lists: VoxCeleb's 1/0, Kaldi's and NIST's target/nontarget (case-insensitive).
LABEL_WORDS: dict[str, int] = {"1": 1, "0": 0, "target": 1, "nontarget": 0, "non-target": 0}


def _label(field: str) -> int | None:
    return LABEL_WORDS.get(field.lower())


def read_trial_list(path: str | os.PathLike, *, allow_empty: bool = False) -> tuple[pd.DataFrame, str]:
    """Read a trial list of three fields a line, the label first or last; also its SHA-256.

    A file without a trial is an error, or an empty table with ``allow_empty``.

    Accepted lines (fields separated by whitespace, blank lines skipped):

    * ``LABEL ENROL TEST``: VoxCeleb (``veri_test2.txt``:
      ``1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav``) and
      :func:`write_trials`;
    * ``ENROL TEST LABEL``: Kaldi's ``trials`` files (``utt1 utt2 target``).

    ``LABEL`` is one of :data:`LABEL_WORDS`: ``1`` / ``target`` (same speaker)
    or ``0`` / ``nontarget`` / ``non-target`` (different speakers), words in
    any case. The first line fixes the layout: label first when its first
    field is a label, else label last; every other line must have the same layout.

    Parameters
    ----------
    path : path-like
        The trial list (UTF-8 text).

    Returns
    -------
    trials : DataFrame
        Columns ``label`` (int64, 1 / 0), ``enrol``, ``test`` (str, as written
        in the file) and ``line`` (int64, the 1-based line number), in file order.
    sha256 : str
        Hex digest of the file's bytes (the bytes parsed).

    Raises
    ------
    TrialListError
        If the file is missing or not UTF-8, holds no trial, a line does not
        have three fields or has no label where the layout puts it (the
        message gives ``path:line``).
    """
    path = Path(path)
    if not path.is_file():
        raise TrialListError(f"expected a trial list at {path}, found none. Write it with write_trials.")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TrialListError(f"{path}: expected a UTF-8 text file of trials, could not decode it ({exc}).") from None
    rows: list[tuple[int, str, str, int]] = []
    label_first: bool | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        first, last = (_label(fields[0]), _label(fields[-1])) if len(fields) == 3 else (None, None)
        if label_first is None and len(fields) == 3:
            label_first = first is not None or last is None
        label = first if label_first else last
        if len(fields) != 3 or label is None:
            layout = "'label enrol test'" if label_first in (True, None) else "'enrol test label'"
            raise TrialListError(
                f"{path}:{number}: expected {layout} (three fields, the label 0/1 or target/nontarget, "
                f"the layout of the file's first trial), found {line.strip()!r}."
            )
        enrol, test = (fields[1], fields[2]) if label_first else (fields[0], fields[1])
        rows.append((label, enrol, test, number))
    if not rows and not allow_empty:
        raise TrialListError(f"{path}: expected trials, one 'label enrol test' a line, found none.")
    labels, enrol, test, lines = zip(*rows) if rows else ((), (), (), ())
    frame = pd.DataFrame({
        "label": np.asarray(labels, dtype=np.int64),
        "enrol": pd.Series(enrol, dtype=object).astype(str),
        "test": pd.Series(test, dtype=object).astype(str),
        "line": np.asarray(lines, dtype=np.int64),
    })
    return frame, hashlib.sha256(data).hexdigest()


def read_trials(path: str | os.PathLike) -> pd.DataFrame:
    """Read a trial list (``label enrol test`` per line; blank lines skipped).

    The layouts and label words of :func:`read_trial_list` are accepted.

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
        label is not one of :data:`LABEL_WORDS` (the message gives the line number).
    """
    return read_trial_list(path, allow_empty=True)[0].drop(columns="line")


def _components(text: str) -> tuple[str, ...]:
    """Path components of ``text`` (``/`` or ``\\`` separated; empty and ``.`` components dropped)."""
    return tuple(part for part in re.split(r"[\\/]+", str(text)) if part not in ("", "."))


def _closest(field: str, pool: list[str], limit: int = 3) -> list[str]:
    """The entries of ``pool`` most like ``field`` (difflib), searched among those sharing its
    first or last path component when the pool is large."""
    parts = _components(field)
    if len(pool) > 5000 and parts:
        near = [p for p in pool if p.startswith(parts[0]) or p.endswith(parts[-1])]
        pool = near or pool[:5000]
    return difflib.get_close_matches(field, pool, n=limit, cutoff=0.5)


def match_trials(
    trials: pd.DataFrame,
    manifest: pd.DataFrame,
    *,
    root: str | os.PathLike | None = None,
    source: str = "trial list",
) -> tuple[pd.DataFrame, dict]:
    """Name each trial's two utterances by the manifest's ``utt_id``, by one unambiguous rule.

    The rule: a field ``F`` of the list (``id10270/5r0dWxy17C8/00001.wav``)
    names the manifest utterance ``U`` when

    * ``F`` equals ``U``'s ``utt_id``, or
    * ``F``'s path components (``/`` or ``\\`` separated) equal the
      components of ``U``'s ``path`` below ``root`` (with ``root``: the
      corpus folder the list's paths are relative to), or, without
      ``root``, the *last* ``len(F)`` components of ``U``'s ``path`` (so
      ``id10270/5r0dWxy17C8/00001.wav`` names ``/data/vox1/wav/id10270/5r0dWxy17C8/00001.wav``).

    Every field must name exactly one utterance by the two routes together;
    none or several is an error (nothing is guessed). Matching is
    case-sensitive. Then each trial's label must agree with the manifest's
    speakers (1: the same speaker, 0: different), and a trial may not pair
    an utterance with itself.

    Parameters
    ----------
    trials : DataFrame
        Columns ``label``, ``enrol``, ``test`` and ``line``
        (:func:`read_trial_list`; without ``line`` rows count from 1).
    manifest : DataFrame
        Columns ``utt_id`` (unique) and ``speaker``; ``path`` to match by path.
    root : path-like, optional
        The corpus folder of the list's paths.
    source : str
        The list's name for messages (its file name).

    Returns
    -------
    matched : DataFrame
        Columns ``label`` (int64), ``enrol``, ``test`` (the manifest's
        ``utt_id``), ``line``, ``enrol_as_listed``, ``test_as_listed``, in list order.
    summary : dict
        ``rule`` (the rule above, in words), ``root`` (str or None),
        ``by_utt_id`` and ``by_path``: how many of the list's distinct
        utterances matched each way (a field matching one utterance both ways
        counts under ``by_utt_id``).

    Raises
    ------
    TrialListError
        A field names no utterance or several, a label contradicts the
        speakers, or a trial pairs an utterance with itself: the message gives
        ``source:line``, the field, and the closest candidates or the matches.
    ManifestError
        A column is missing or an ``utt_id`` repeats.
    """
    missing = [c for c in ("utt_id", "speaker") if c not in manifest.columns]
    if missing:
        raise ManifestError(f"expected a manifest with the columns utt_id and speaker, found no {missing}.")
    utt = manifest["utt_id"].astype(str).to_numpy()
    spk = manifest["speaker"].astype(str).to_numpy()
    by_id = {u: i for i, u in enumerate(utt)}
    if len(by_id) != utt.size:
        raise ManifestError("expected unique utterance ids in the manifest, found repeats.")
    listed = pd.unique(np.concatenate([trials["enrol"].astype(str).to_numpy(),
                                       trials["test"].astype(str).to_numpy()]))
    paths = manifest["path"].astype(str).tolist() if "path" in manifest.columns else []
    keyed: dict[tuple[str, ...], list[int]] = {}  # path key -> manifest rows
    if root is not None:
        base = Path(root).expanduser()
        prefixes = {_components(str(base.absolute())), _components(str(base.resolve()))}
        for i, path in enumerate(paths):
            parts = _components(path)
            for prefix in prefixes:
                if parts[:len(prefix)] == prefix and len(parts) > len(prefix):
                    keyed.setdefault(parts[len(prefix):], []).append(i)
                    break
    else:
        depths = {len(_components(f)) for f in listed} - {0}
        for i, path in enumerate(paths):
            parts = _components(path)
            for d in depths:
                if len(parts) >= d:
                    keyed.setdefault(parts[-d:], []).append(i)
    found: dict[str, list[int]] = {}
    by_utt_id = 0
    for field in listed:
        rows = set(keyed.get(_components(field), ()))
        if field in by_id:
            rows.add(by_id[field])
            by_utt_id += len(rows) == 1
        found[field] = sorted(rows)
    where = "its path below root" if root is not None else "the last components of its path"
    rule = ("a field names the utterance whose utt_id it equals, or whose path "
            + (f"below {root} it equals" if root is not None else "ends with its path components")
            + "; exactly one utterance by both routes together")
    line = trials["line"].to_numpy() if "line" in trials.columns else np.arange(1, len(trials) + 1)
    bad = [f for f in listed if len(found[f]) != 1]
    if bad:
        first = bad[0]
        side, row = next((s, k) for k in range(len(trials)) for s in ("enrol", "test")
                         if str(trials[s].iat[k]) == first)
        at = f"{source}:{int(line[row])}: the {side} utterance {first!r}"
        count = f"{len(bad)} of the list's {len(listed)} distinct utterances are unmatched or ambiguous"
        if not found[first]:
            depth = len(_components(first))
            pool = list(utt) + sorted({"/".join(k) for k in keyed if len(k) == depth or root is not None})
            near = _closest(first, pool)
            raise TrialListError(
                f"{at} matches no utterance of the manifest (by utt_id, or by {where}); {count}. "
                f"Closest: {near or 'none'}. Use a manifest that holds every utterance of the list, or pass "
                "root=<the corpus folder the list's paths are relative to>.",
                cli={"pass root=": "pass --trials-root "},
            )
        shown = ", ".join(f"{utt[i]} ({paths[i] if paths else 'no path'})" for i in found[first][:5])
        raise TrialListError(
            f"{at} matches {len(found[first])} utterances of the manifest, expected one: {shown}; {count}. "
            "Pass root=<the corpus folder the list's paths are relative to> to match whole paths, or name "
            "utterances by utt_id.",
            cli={"Pass root=": "Pass --trials-root "},
        )
    enrol = np.asarray([utt[found[f][0]] for f in trials["enrol"].astype(str)], dtype=object)
    test = np.asarray([utt[found[f][0]] for f in trials["test"].astype(str)], dtype=object)
    labels = trials["label"].to_numpy(dtype=np.int64)
    same = spk[[by_id[u] for u in enrol]] == spk[[by_id[u] for u in test]]
    for problem, flags in (("pairs an utterance with itself", enrol == test),
                           ("has a label that contradicts the manifest's speakers", same != (labels == 1))):
        if flags.any():
            k = int(np.flatnonzero(flags)[0])
            e, t = enrol[k], test[k]
            raise TrialListError(
                f"{source}:{int(line[k])}: the trial {problem} (label {labels[k]}: {e} of speaker "
                f"{spk[by_id[e]]}, {t} of speaker {spk[by_id[t]]}); trials like it in all: {int(flags.sum())}. "
                "Check that the manifest's speaker column and the list describe the same corpus, and that "
                "the list's paths matched the files meant (root)."
            )
    matched = pd.DataFrame({
        "label": labels, "enrol": pd.Series(enrol, dtype=object).astype(str),
        "test": pd.Series(test, dtype=object).astype(str), "line": line.astype(np.int64),
        "enrol_as_listed": trials["enrol"].astype(str).to_numpy(),
        "test_as_listed": trials["test"].astype(str).to_numpy(),
    })
    summary = {"rule": rule, "root": None if root is None else str(root),
               "by_utt_id": int(by_utt_id), "by_path": int(len(listed) - by_utt_id)}
    return matched, summary
