"""A risk register and the arithmetic of trading technical debt against roadmap work (lesson 7.5).

Risk register: :func:`score_register` checks a register (one row per risk: likelihood and impact
on 1-5 scales, an owner, a mitigation and a trigger), adds ``score = likelihood x impact`` and a
band; :func:`heatmap` draws the likelihood x impact grid with each risk's id in its cell;
:func:`likelihood_level` turns a probability into the 1-5 likelihood scale.

Debt against roadmap: each item has a **cost of delay** per week (value lost, or for debt the
"interest" paid, while it is not done) and a **duration** in weeks. Done one after another, an
item's delay cost is its cost of delay times the week it finishes; :func:`total_cost_of_delay`
adds them up for an order, and :func:`cd3_order` sorts by CD3 (cost of delay divided by
duration), which minimises that total: the weighted-shortest-processing-time rule of W. E. Smith,
"Various optimizers for single-stage production", Naval Research Logistics Quarterly 3 (1956).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tpmlab.errors import TPMLabError

#: Upper bounds of the likelihood levels 1..5: the chance the risk happens in the next quarter.
LIKELIHOOD_BOUNDS = (0.05, 0.20, 0.50, 0.80, 1.0)
LIKELIHOOD_NAMES = ("rare", "unlikely", "possible", "likely", "almost certain")
IMPACT_NAMES = ("negligible", "minor", "moderate", "major", "severe")
REGISTER_COLUMNS = ("risk", "likelihood", "impact", "owner", "mitigation", "trigger")
#: Score bands of this course (a convention; organisations set their own).
BANDS = ((4, "low"), (9, "medium"), (25, "high"))


class RegisterError(TPMLabError):
    """A risk register is missing a column or holds a value out of its scale."""


def likelihood_level(probability: float) -> int:
    """The likelihood level (1 rare .. 5 almost certain) of a probability for the next quarter."""
    if not 0 <= probability <= 1:
        raise RegisterError(
            f"A probability must be between 0 and 1, not {probability}.",
            "Pass the chance as a share, e.g. 0.3 for 30%.",
        )
    return next(level for level, bound in enumerate(LIKELIHOOD_BOUNDS, 1) if probability <= bound)


def score_register(register: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``register`` with ``score`` (likelihood x impact) and ``band``, highest first.

    Raises :class:`RegisterError` naming what is missing: a column, a value outside 1..5, or an
    empty owner, mitigation or trigger (a risk nobody owns is a risk nobody manages)."""
    missing = [c for c in REGISTER_COLUMNS if c not in register.columns]
    if missing:
        raise RegisterError(
            f"The register has no column {', '.join(repr(c) for c in missing)}.",
            f"A risk register needs the columns {', '.join(REGISTER_COLUMNS)}.",
        )
    for column in ("likelihood", "impact"):
        values = pd.to_numeric(register[column], errors="coerce")
        bad = register.index[~values.isin(range(1, 6))].tolist()
        if bad:
            raise RegisterError(
                f"`{column}` is not a whole number from 1 to 5 in row(s) {bad}.",
                f"Rate {column} on the 1-5 scale of the lesson.",
            )
    for column in ("owner", "mitigation", "trigger"):
        text = register[column].fillna("").astype(str).str.strip()
        bad = register.index[text == ""].tolist()
        if bad:
            raise RegisterError(
                f"`{column}` is empty in row(s) {bad}.",
                f"Every risk needs a named {column}: one person, one action, one observable "
                "signal.",
            )
    out = register.copy()
    out["score"] = out["likelihood"].astype(int) * out["impact"].astype(int)
    out["band"] = out["score"].map(lambda s: next(name for top, name in BANDS if s <= top))
    return out.sort_values(["score", "impact"], ascending=False, kind="stable")


def heatmap(register: pd.DataFrame, ax=None):
    """Draw the 5 x 5 likelihood x impact grid, coloured by score, with each risk's index label
    written in its cell; return the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    grid = np.outer(np.arange(1, 6), np.arange(1, 6))  # rows: likelihood, columns: impact
    ax.imshow(grid, origin="lower", cmap="RdYlGn_r", vmin=1, vmax=25, extent=(0.5, 5.5, 0.5, 5.5))
    cells: dict[tuple[int, int], list[str]] = {}
    for label, row in register.iterrows():
        cells.setdefault((int(row["impact"]), int(row["likelihood"])), []).append(str(label))
    for (impact, likelihood), labels in cells.items():
        ax.text(impact, likelihood, "\n".join(labels), ha="center", va="center", fontsize=9)
    ax.set_xticks(range(1, 6), [f"{i}\n{n}" for i, n in enumerate(IMPACT_NAMES, 1)], fontsize=7)
    ax.set_yticks(range(1, 6), [f"{n} {i}" for i, n in enumerate(LIKELIHOOD_NAMES, 1)], fontsize=7)
    ax.set(xlabel="impact", ylabel="likelihood (next quarter)", title="Risk heat map")
    return ax


def _check_items(items: pd.DataFrame) -> None:
    for column in ("cost_of_delay", "weeks"):
        if column not in items.columns:
            raise TPMLabError(
                f"The items have no column {column!r}.",
                "Give each item a `cost_of_delay` (per week) and a duration in `weeks`.",
            )
    if (items["weeks"] <= 0).any() or (items["cost_of_delay"] < 0).any():
        raise TPMLabError(
            "A duration is not positive or a cost of delay is negative.",
            "Durations are weeks of work (> 0); a cost of delay is a value per week (>= 0).",
        )


def total_cost_of_delay(items: pd.DataFrame, order: Sequence) -> float:
    """The cost of delay paid when the items (indexed by name) are done one after another in
    ``order``: the sum over items of cost_of_delay x the week the item is finished."""
    _check_items(items)
    order = list(order)
    if sorted(map(str, order)) != sorted(map(str, items.index)):
        raise TPMLabError(
            f"The order {order} does not list each item exactly once.",
            f"Order all of: {', '.join(map(str, items.index))}.",
        )
    finished = items.loc[order, "weeks"].cumsum()
    return float((items.loc[order, "cost_of_delay"] * finished).sum())


def cd3_order(items: pd.DataFrame) -> list:
    """The items' names, highest CD3 (cost of delay / weeks) first."""
    _check_items(items)
    cd3 = items["cost_of_delay"] / items["weeks"]
    return list(cd3.sort_values(ascending=False, kind="stable").index)
