"""Tables as the book shows them: every number to the precision its unit deserves.

A results table holds EERs in per cent, training times in minutes, speeds in
samples per second and fractions such as accuracies side by side; one
``display.precision`` for all of them prints ``35.576`` % and ``156.077``
samples/s. :func:`readable` formats each column by the unit in its header
(:data:`UNIT_FORMATS`), and :func:`use_readable_tables` makes IPython show
every ``DataFrame`` that way in a notebook. Only the display changes: the
values stay those of the table.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["UNIT_FORMATS", "DEFAULT_FORMAT", "column_format", "readable", "use_readable_tables"]

#: ``(pattern in the header, format)``, the first match wins: the unit of a column, and how many
#: decimals a reader needs of it.
UNIT_FORMATS: tuple[tuple[str, str], ...] = (
    (r"%|\[points\]", "{:.1f}"),                                # per cent (and percentage points)
    (r"/\s*s\b|per second|samples_per_s", "{:.0f}"),           # rates: samples/s, embeddings per second
    (r"\[min\]|\bminutes?\b", "{:.1f}"),                        # minutes
    (r"\[h\]|\bhours?\b", "{:.2f}"),                            # hours
    (r"\[s\]|\bseconds?\b|_s$", "{:.2f}"),                      # seconds: audio_s, speech_s
    (r"\[M\]|\(M\)", "{:.2f}"),                                 # millions: params [M]
    (r"\[dB\]|\bdB\b", "{:.1f}"),                               # decibels
)
#: The format of a float column whose header names no unit (fractions, costs, scores).
DEFAULT_FORMAT = "{:.3f}"


def column_format(header) -> str | None:
    """The format the unit in ``header`` asks for (:data:`UNIT_FORMATS`), or None if it names none.

    ``header`` is a column label: a string, or a tuple of the levels of a
    MultiIndex column (the levels are searched together).

    >>> column_format("SV EER [%]"), column_format("samples/s"), column_format("dev EER")
    ('{:.1f}', '{:.0f}', None)
    """
    text = " ".join(map(str, header)) if isinstance(header, tuple) else str(header)
    return next((form for pattern, form in UNIT_FORMATS if re.search(pattern, text)), None)


def readable(table: pd.DataFrame, formats: dict | None = None) -> pd.DataFrame:
    """A copy of ``table`` for display: each float column as text, formatted by the unit in its header.

    Parameters
    ----------
    table : DataFrame
    formats : dict, optional
        ``{column: format}`` overriding the rule for those columns.

    Returns
    -------
    DataFrame
        The same index and columns; float columns hold strings (missing
        values as ``NaN``), the floats of mixed (object) columns are written in
        their shortest form (``30``, ``0.0001``), every other value is unchanged. It displays as
        any pandas table (the theme styles it, pandas truncates a long one).

    Notes
    -----
    A unit on a column-header level (``columns.names``, e.g. ``"SI top-1 [%]"``
    over groups) applies to every column under it.

    >>> import pandas as pd
    >>> readable(pd.DataFrame({"EER [%]": [35.5761], "dev EER": [0.24612], "epochs": [8]}))
      EER [%] dev EER  epochs
    0    35.6   0.246       8
    """
    import pandas as pd

    level = next((form for name in table.columns.names if name is not None
                  and (form := column_format(name))), None)
    out = table.copy()
    for position, column in enumerate(table.columns):
        values = table.iloc[:, position]
        rule = (formats or {}).get(column) or column_format(column) or level
        if pd.api.types.is_float_dtype(values):
            form = rule or DEFAULT_FORMAT
            out.isetitem(position, ["NaN" if pd.isna(value) else form.format(value) for value in values])
        elif values.dtype == object and any(_is_float(value) for value in values):
            # a column of settings (0.1, 30.0, 1e-4 beside names): each float in its shortest form
            form = rule or "{:g}"
            out.isetitem(position, [form.format(value) if _is_float(value) else value for value in values])
    return out


def _is_float(value) -> bool:
    return isinstance(value, (float, np.floating))


def _html(table: pd.DataFrame) -> str | None:
    return readable(table)._repr_html_()


def use_readable_tables() -> bool:
    """Show every DataFrame of this IPython session (a notebook) through :func:`readable`.

    Returns
    -------
    bool
        False outside IPython (nothing to change), True otherwise.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    import pandas as pd

    shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, _html)
    return True
