"""Metric trees and stakeholder dashboards for module 2's lessons (2.1 and 2.4).

What the lessons call, so that their cells stay short:

- reading Orbit: :func:`user_days` (one row per user and day with any event, with the user's
  signup platform and workspace), :func:`data_range`, :func:`week_start` and
  :func:`complete_weeks` (a week is counted only once all seven of its days are in the data);
- the metric tree: :func:`metric_tree` computes Orbit's north star (teams completing tasks each
  week) and its inputs for a set of weeks; :class:`Node`, :func:`layout` and :func:`draw_tree`
  draw any tree as boxes and arrows with matplotlib (no graphviz);
- week over week: :func:`wow_band` is the noise band of a change between two weekly counts under
  a Poisson assumption (the log-ratio Wald interval), :func:`wow_table` applies it week by week;
- annotations: :func:`annotate` marks deploys and incidents on a time axis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy
from scipy import stats

from tpmlab.errors import TPMLabError

__all__ = [
    "Node",
    "annotate",
    "complete_weeks",
    "data_range",
    "draw_tree",
    "layout",
    "metric_tree",
    "user_days",
    "week_start",
    "wow_band",
    "wow_table",
]


# --------------------------------------------------------------------- reading Orbit


def data_range(eng) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last day covered by the data (``dataset_info`` ``start`` and ``end``)."""
    rows = pd.read_sql(
        "SELECT key, value FROM dataset_info WHERE key IN ('start', 'end')", eng
    ).set_index("key")["value"]
    if set(rows.index) != {"start", "end"}:
        raise TPMLabError(
            "This database's dataset_info has no 'start' and 'end' rows, so the days the data "
            "covers are unknown.",
            "Rebuild Orbit's data with `make data` (or `python -m tpmlab.data build`).",
        )
    return pd.Timestamp(rows["start"]).normalize(), pd.Timestamp(rows["end"]).normalize()


def week_start(dates) -> pd.Series:
    """The Monday of each date's week (ISO weeks run Monday to Sunday)."""
    days = pd.to_datetime(pd.Series(dates))
    return days - pd.to_timedelta(days.dt.day_of_week, unit="D")


def complete_weeks(weeks, start, end) -> pd.Series:
    """Whether each week (its Monday) lies wholly inside the data: its Monday on or after
    ``start`` and its Sunday on or before ``end``. A week cut by either end is partial."""
    mondays = pd.to_datetime(pd.Series(weeks))
    first, last = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    return (mondays >= first) & (mondays + pd.Timedelta(days=6) <= last)


def user_days(eng, since: str | None = None, until: str | None = None) -> pd.DataFrame:
    """One row per user and day with at least one event, from ``since`` (inclusive) to ``until``
    (exclusive), ISO dates: ``day``, ``week`` (its Monday), ``user_id``, ``platform`` (the
    signup platform) and ``workspace_id``."""
    sql = "SELECT DISTINCT event_date, user_id FROM events WHERE 1 = 1"
    params = {}
    if since is not None:
        sql += " AND event_date >= :since"
        params["since"] = since
    if until is not None:
        sql += " AND event_date < :until"
        params["until"] = until
    days = pd.read_sql(sqlalchemy.text(sql), eng, params=params)
    users = pd.read_sql("SELECT user_id, platform, workspace_id FROM users", eng)
    days["day"] = pd.to_datetime(days.pop("event_date"))
    days["week"] = week_start(days["day"]).to_numpy()
    return days.merge(users, on="user_id", how="left")[
        ["day", "week", "user_id", "platform", "workspace_id"]
    ]


# --------------------------------------------------------------------- the metric tree


def metric_tree(eng, weeks: Sequence[str]) -> pd.DataFrame:
    """Orbit's north star and its inputs, one row per week of ``weeks`` (their Mondays):

    - ``teams_completing`` (north star): workspaces whose members completed at least one task
      that week;
    - ``active_teams`` (breadth): workspaces with at least one active member that week (a
      workspace that completed a task counts as active even if its events were not logged, so
      the share below never exceeds 1);
    - ``completing_share``: ``teams_completing / active_teams``, so that the north star is
      exactly breadth times this share;
    - ``tasks_per_active_user`` (depth): tasks completed that week over users active that week;
    - ``active_days_per_user`` (frequency): user-days over distinct users, at most 7;
    - ``median_hours_to_complete`` (efficiency): median time from creating to completing, over
      the tasks completed that week.
    """
    mondays = sorted(pd.Timestamp(w) for w in weeks)
    if not mondays or any(m.day_of_week != 0 for m in mondays):
        raise TPMLabError(
            f"metric_tree needs the Mondays of the weeks to compute, got {list(weeks)!r}.",
            "Pass ISO dates of Mondays, for example ['2025-06-02', '2025-06-09'].",
        )
    since = mondays[0].strftime("%Y-%m-%d")
    until = (mondays[-1] + pd.Timedelta(days=7)).strftime("%Y-%m-%d")
    active = user_days(eng, since, until)
    active = active[active["week"].isin(mondays)]
    done = pd.read_sql(
        sqlalchemy.text(
            "SELECT project_id, created_at, completed_at FROM tasks "
            "WHERE completed_at >= :since AND completed_at < :until"
        ),
        eng,
        params={"since": since, "until": until},
    )
    projects = pd.read_sql("SELECT project_id, workspace_id FROM projects", eng)
    done = done.merge(projects, on="project_id", how="left")
    done["week"] = week_start(pd.to_datetime(done["completed_at"]).dt.normalize()).to_numpy()
    done = done[done["week"].isin(mondays)]
    done["hours"] = (
        pd.to_datetime(done["completed_at"]) - pd.to_datetime(done["created_at"])
    ).dt.total_seconds() / 3600
    rows = []
    for monday in mondays:
        a = active[active["week"] == monday]
        d = done[done["week"] == monday]
        users = a["user_id"].nunique()
        teams = len(set(a["workspace_id"].dropna()) | set(d["workspace_id"].dropna()))
        completing = d["workspace_id"].nunique()
        rows.append(
            {
                "week": monday,
                "teams_completing": completing,
                "active_teams": teams,
                "completing_share": completing / teams if teams else math.nan,
                "tasks_per_active_user": len(d) / users if users else math.nan,
                "active_days_per_user": len(a) / users if users else math.nan,
                "median_hours_to_complete": d["hours"].median(),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class Node:
    """A box of a metric tree: its ``label``, an optional ``value`` line, its ``children``, and
    its ``kind`` (``"north star"``, ``"input"`` or ``"guardrail"``: the box's colour)."""

    label: str
    value: str = ""
    children: list[Node] = field(default_factory=list)
    kind: str = "input"


def layout(root: Node) -> dict[int, tuple[float, float]]:
    """Positions of every node of the tree, keyed by ``id(node)``: leaves one unit apart from
    left to right in order, each parent centred over its children, depth ``d`` at ``y = -d``."""
    positions: dict[int, tuple[float, float]] = {}
    next_leaf = [0.0]

    def place(node: Node, depth: int) -> float:
        if not node.children:
            x = next_leaf[0]
            next_leaf[0] += 1.0
        else:
            xs = [place(child, depth + 1) for child in node.children]
            x = (min(xs) + max(xs)) / 2
        positions[id(node)] = (x, -float(depth))
        return x

    place(root, 0)
    return positions


COLOURS = {"north star": "#fde68a", "input": "#bfdbfe", "guardrail": "#fecaca"}


def _walk(node: Node) -> Iterable[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def draw_tree(ax, root: Node, *, box_width: float = 0.9, box_height: float = 0.6, wrap: int = 18):
    """Draw the tree on ``ax``: a rounded box per node (its label in bold, wrapped at ``wrap``
    characters, its value below), an arrow from each parent to each child. Returns ``ax``."""
    import textwrap

    from matplotlib.patches import FancyBboxPatch

    positions = layout(root)
    for node in _walk(root):
        if node.kind not in COLOURS:
            raise TPMLabError(
                f"Node {node.label!r} has kind {node.kind!r}.",
                f"Use one of {', '.join(map(repr, COLOURS))}.",
            )
        x, y = positions[id(node)]
        ax.add_patch(
            FancyBboxPatch(
                (x - box_width / 2, y - box_height / 2),
                box_width,
                box_height,
                boxstyle="round,pad=0.02",
                facecolor=COLOURS[node.kind],
                edgecolor="#374151",
                linestyle="--" if node.kind == "guardrail" else "-",
            )
        )
        label_y = y + box_height * 0.12 if node.value else y
        ax.text(
            x,
            label_y,
            textwrap.fill(node.label, wrap),
            ha="center",
            va="center",
            fontsize=8,
            fontweight="bold",
        )
        if node.value:
            ax.text(x, y - box_height * 0.3, node.value, ha="center", va="center", fontsize=8)
        for child in node.children:
            cx, cy = positions[id(child)]
            ax.annotate(
                "",
                xy=(cx, cy + box_height / 2),
                xytext=(x, y - box_height / 2),
                arrowprops={"arrowstyle": "->", "color": "#374151"},
            )
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    ax.set_xlim(min(xs) - box_width * 0.6, max(xs) + box_width * 0.6)
    ax.set_ylim(min(ys) - box_height * 0.7, max(ys) + box_height * 0.7)
    ax.axis("off")
    return ax


# --------------------------------------------------------------------- week over week


def wow_band(
    previous: float, current: float, level: float = 0.95, expected: float = 0.0
) -> tuple[float, float]:
    """The noise band of a week-over-week change from ``previous`` to ``current`` (two counts),
    around an ``expected`` relative change (0: no change).

    Assumption: each week's count is a Poisson count around a steady rate, the two weeks
    independent. Then ``log(current / previous)`` has a standard error of about
    ``sqrt(1/current + 1/previous)``, and the band ``(1 + expected) * exp(+-z * se) - 1`` holds
    the change that counting noise alone produces with probability ``level``. With ``expected=0``
    it is the log-ratio Wald interval (statsmodels' ``confint_poisson_2indep(...,
    method="wald-log", compare="ratio")``) moved from the observed ratio to a ratio of 1. Real
    weekly counts also vary for reasons a Poisson count does not have (a team's busy week,
    holidays): a change inside the band is no evidence of anything; one outside it deserves a
    look, not yet a conclusion.
    """
    if not 0 < level < 1:
        raise TPMLabError(f"level must be between 0 and 1, got {level!r}.", "Use 0.95 for 95%.")
    if previous <= 0 or current <= 0:
        raise TPMLabError(
            f"A week-over-week band needs two positive counts, got {previous!r} and {current!r}.",
            "Drop weeks with no activity (and partial weeks) before computing the band.",
        )
    if expected <= -1:
        raise TPMLabError(
            f"expected is a relative change and must be above -1 (-100%), got {expected!r}.",
            "Pass 0 for 'no change', or the typical recent change such as 0.04 for +4%.",
        )
    z = stats.norm.ppf(0.5 + level / 2)
    se = math.sqrt(1 / previous + 1 / current)
    return (1 + expected) * math.exp(-z * se) - 1, (1 + expected) * math.exp(z * se) - 1


def wow_table(counts: pd.Series, level: float = 0.95, trend_weeks: int = 0) -> pd.DataFrame:
    """Week over week for a Series of weekly counts indexed by week (complete weeks only): the
    ``count``, its relative ``change`` from the week before, the ``expected`` change, the noise
    band ``low``..``high`` around it (:func:`wow_band`) and whether the change is ``outside``.

    ``trend_weeks=0`` expects no change; ``trend_weeks=k`` expects the median change of the
    ``k`` weeks before (a growing product grows every week: the question is then whether this
    week is unusual), and weeks with fewer than ``k`` changes before them get no band."""
    if trend_weeks < 0:
        raise TPMLabError(
            f"trend_weeks must be 0 or more, got {trend_weeks!r}.",
            "Use 0 to compare with no change, or 4 to compare with the last four weeks' median.",
        )
    counts = counts.sort_index().astype(float)
    change = counts / counts.shift(1) - 1
    expected = change.shift(1).rolling(trend_weeks).median() if trend_weeks else 0.0 * change
    rows = []
    for i, week in enumerate(counts.index[1:], start=1):
        exp = expected.iloc[i]
        low, high = (
            wow_band(counts.iloc[i - 1], counts.iloc[i], level, exp)
            if not math.isnan(exp)
            else (math.nan, math.nan)
        )
        rows.append(
            {
                "week": week,
                "count": counts.iloc[i],
                "change": change.iloc[i],
                "expected": exp,
                "low": low,
                "high": high,
                "outside": bool(not math.isnan(low) and not low <= change.iloc[i] <= high),
            }
        )
    return pd.DataFrame(rows).set_index("week")


# --------------------------------------------------------------------- annotations


def annotate(ax, times, labels, *, color: str = "#b91c1c", y: float = 0.98) -> int:
    """Mark each time of ``times`` on ``ax`` with a dotted vertical line and its label (rotated,
    at height ``y`` in axes coordinates). Returns how many marks were drawn."""
    times = [pd.Timestamp(t) for t in times]
    labels = list(labels)
    if len(labels) != len(times):
        raise TPMLabError(
            f"annotate got {len(times)} times and {len(labels)} labels.",
            "Pass one label per time (for example the incident titles of the same rows).",
        )
    for when, label in zip(times, labels, strict=True):
        ax.axvline(when, color=color, linestyle=":", linewidth=1)
        ax.text(
            when,
            y,
            f" {label}",
            transform=ax.get_xaxis_transform(),
            rotation=90,
            va="top",
            ha="right",
            fontsize=7,
            color=color,
        )
    return len(times)
