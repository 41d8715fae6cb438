"""pytest settings for the notebooks, which ``make test`` runs under nbval.

nbval waits at most 5 seconds (a constant of its cell items, ``output_timeout``, with no
command-line option) for each output message of a cell after the cell has finished. On two
cores a training cell's last messages (its progress bars and the history plot) can take
longer to arrive, while TensorFlow's threads still hold the cores: chapter 7's training cell
failed so ("Timeout of 5 seconds exceeded waiting for output") after running for 177 s in a
full ``make test``, and passed when the notebooks ran alone. A minute is plenty; a cell that
hangs is still caught by ``--nbval-cell-timeout``.
"""

from __future__ import annotations

OUTPUT_TIMEOUT_S = 60


def pytest_runtest_setup(item):
    if hasattr(item, "output_timeout"):
        item.output_timeout = max(item.output_timeout, OUTPUT_TIMEOUT_S)
