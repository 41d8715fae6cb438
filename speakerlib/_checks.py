"""Type checks that settings share: is a value an integer, a real number.

``True`` is an ``int`` in Python and ``np.bool_`` converts to one, but a flag
given where a count or a rate is expected is a mistake, so neither counts as
a number here.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["is_int", "is_real"]


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), and not a boolean.

    >>> is_int(3), is_int(np.int64(3)), is_int(3.0), is_int(True)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value: object) -> bool:
    """Whether ``value`` is a real number (Python or NumPy, integer or floating point), and not a boolean.

    >>> is_real(0.5), is_real(2), is_real("2"), is_real(False)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
