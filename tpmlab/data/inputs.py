"""Validate the inputs of a build (seed and scale), without importing the generator.

:mod:`tpmlab.data.builder` and the scenario builds use these, and so can code that only needs to
know where a copy of the data lives (which is cheap: no numpy, pandas or scipy).
"""

from __future__ import annotations

import math
import numbers

from tpmlab.errors import TPMLabError

MAX_SCALE = 50.0


def check_seed(seed) -> int:
    """``seed`` as an int, or a clear error."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        if isinstance(seed, str) and seed.strip().lstrip("-").isdigit():
            seed = int(seed)
        else:
            raise TPMLabError(
                f"The seed must be a whole number such as 42, not {seed!r}.",
                "Pass an integer, for example seed=7.",
            )
    seed = int(seed)
    if seed < 0:
        raise TPMLabError(
            f"The seed must be zero or positive, not {seed}.", "Pass a seed such as 42."
        )
    return seed


def check_scale(scale) -> float:
    """``scale`` as a float in (0, 50], or a clear error."""
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(scale, bool) or not (math.isfinite(value) and 0 < value <= MAX_SCALE):
        raise TPMLabError(
            f"The scale must be a number above 0 and at most {MAX_SCALE:g}, not {scale!r}.",
            "Use 1 for the standard dataset (about 20,000 users), 0.1 for a small one.",
        )
    return value
