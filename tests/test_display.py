"""Tables formatted by the units in their headers (speakerlib.display)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from speakerlib.display import column_format, readable, use_readable_tables


@pytest.mark.parametrize("header, expected", [
    ("SV EER [%]", "{:.1f}"), ("EER %", "{:.1f}"), ("samples/s", "{:.0f}"),
    ("embeddings per second", "{:.0f}"), ("train [min]", "{:.1f}"), ("minutes", "{:.1f}"),
    ("hours", "{:.2f}"), ("mean_duration_s", "{:.2f}"), ("params [M]", "{:.2f}"), ("width [points]", "{:.1f}"),
    (("SI top-1 [%]", "female"), "{:.1f}"), ("dev EER", None), ("minDCF 0.01", None), ("Cllr [bits]", None),
])
def test_the_unit_in_a_header_chooses_the_precision(header, expected):
    assert column_format(header) == expected


def _cells(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)]


def test_a_table_reads_with_one_decimal_per_cent_whole_rates_and_three_decimals_otherwise():
    table = pd.DataFrame({"SV EER [%]": [35.5761, np.nan], "samples/s": [156.077, 86.6],
                          "dev EER": [0.24612, 0.3], "epochs": [8, 12]}, index=["a", "b"])
    html = readable(table).to_html()
    assert _cells(html) == ["35.6", "156", "0.246", "8", "NaN", "87", "0.300", "12"]
    assert 'class="dataframe"' in html
    assert table.loc["a", "SV EER [%]"] == 35.5761  # the values are untouched


def test_a_table_with_a_repeated_index_and_a_long_one_are_formatted_too():
    repeated = pd.DataFrame({"hours": [11.5104, 2.0]}, index=["train", "train"])
    assert _cells(readable(repeated).to_html()) == ["11.51", "2.00"]
    long = pd.DataFrame({"EER [%]": np.linspace(0, 50, 500)})
    with pd.option_context("display.max_rows", 20, "display.min_rows", 4):
        html = readable(long)._repr_html_()
    assert "500 rows" in html and "50.0" in html


def test_a_unit_on_a_header_level_applies_to_the_columns_under_it_and_formats_override():
    table = pd.DataFrame([[91.234, 88.0]], columns=pd.Index(["female", "male"], name="SI top-1 [%]"))
    assert _cells(readable(table).to_html()) == ["91.2", "88.0"]
    assert _cells(readable(table, formats={"male": "{:.2f}"}).to_html()) == ["91.2", "88.00"]


def test_outside_ipython_nothing_is_registered():
    assert use_readable_tables() is False


def test_the_floats_of_a_column_of_settings_are_written_in_their_shortest_form():
    settings = pd.DataFrame({"improved": ["aam", 30.0, 1e-4, 0.2, None]},
                            index=["loss", "aam_scale", "weight_decay", "margin", "schedule"])
    assert _cells(readable(settings).to_html()) == ["aam", "30", "0.0001", "0.2", "NaN"]  # pandas writes None as NaN


def test_in_ipython_every_dataframe_displays_readably(monkeypatch):
    import IPython
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    formatter = shell.display_formatter.formatters["text/html"]
    before = formatter.type_printers.get(pd.DataFrame)
    try:
        assert use_readable_tables() is True
        html = shell.display_formatter.format(pd.DataFrame({"SV EER [%]": [35.5761]}))[0]["text/html"]
        assert _cells(html) == ["35.6"]
    finally:
        formatter.type_printers.pop(pd.DataFrame, None)
        if before is not None:
            formatter.type_printers[pd.DataFrame] = before
