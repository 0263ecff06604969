"""The generator's shared machinery: the time axis, random streams, event codes, containers.

Internally a timestamp is an ``int64`` count of seconds since 2025-01-01 00:00:00 UTC and a date
is a count of days since that day; :mod:`tpmlab.data.builder` formats them (:func:`format_ts`,
:func:`format_date`) when writing. ``NULL`` timestamps are :data:`NULL_TS`. Every table group
draws from its own random stream (:func:`rng_for`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tpmlab.data import schema
from tpmlab.data.version import GENERATOR_VERSION

__all__ = ["GENERATOR_VERSION"]  # re-exported: tpmlab.data.version holds it

DAYS = 181  # 2025-01-01 .. 2025-06-30
DAY = 86_400
LAST = DAYS * DAY - 1  # 2025-06-30 23:59:59
EPOCH = np.datetime64("2025-01-01T00:00:00", "s")
NULL_TS = np.iinfo(np.int64).min
DATE_RANGE = ("2025-01-01", "2025-06-30")

EVENT_NAMES = np.array(schema.EVENT_NAMES, dtype=object)
(
    E_SIGNUP,
    E_ONBOARD,
    E_PROJECT,
    E_TASK,
    E_DONE,
    E_COMMENT,
    E_INVITE,
    E_ACCEPT,
    E_UPGRADE,
    E_DOWNGRADE,
) = range(10)


def rng_for(seed: int, name: str) -> np.random.Generator:
    """The independent random stream of one table group: same seed and name, same draws."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(name.encode()),))
    return np.random.default_rng(ss)


def ts_of(date: str, time: str = "00:00:00") -> int:
    """Seconds since 2025-01-01 00:00:00 of a UTC date and time."""
    return int((np.datetime64(f"{date}T{time}", "s") - EPOCH).astype(np.int64))


def group_starts(counts: np.ndarray) -> np.ndarray:
    """Start offset of each group when groups of ``counts`` are laid end to end."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def within_group_index(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c-1 for each group of size c, concatenated."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(group_starts(counts), counts)


def choice_idx(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    return rng.choice(len(p), size=n, p=p)


@dataclass
class Dataset:
    """All generated tables (pandas DataFrames in schema column order) and the manifest facts."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    facts: dict = field(default_factory=dict)


@dataclass
class Users:
    """Everyone who signed up, one array entry per user (index = user_id - 1)."""

    t: np.ndarray  # signup second
    day: np.ndarray
    platform: np.ndarray  # index into PLATFORMS
    channel: np.ndarray
    country: np.ndarray
    owner: np.ndarray  # bool
    ws: np.ndarray  # workspace id (1-based)
    onboarded_day0: np.ndarray  # bool
    has_project_day0: np.ndarray


class EventBuffer:
    """Collects events (user index, time, name code, temporary session id, project id)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.sessions: list[tuple[np.ndarray, ...]] = []
        self.next_session = 0

    def new_sessions(self, user: np.ndarray, start: np.ndarray, end: np.ndarray, platform):
        n = len(user)
        ids = np.arange(self.next_session, self.next_session + n, dtype=np.int64)
        self.next_session += n
        self.sessions.append((user.astype(np.int64), start, end, platform.astype(np.int8), ids))
        return ids

    def add(self, user, t, name, session, project=None) -> None:
        n = len(user)
        if project is None:
            project = np.full(n, -1, dtype=np.int64)
        name = np.broadcast_to(np.asarray(name, dtype=np.int8), (n,))
        self.parts.append(
            (
                user.astype(np.int64),
                np.asarray(t, dtype=np.int64),
                name.copy(),
                session.astype(np.int64),
                project,
            )
        )

    def events(self):
        cols = list(zip(*self.parts, strict=True))
        return [np.concatenate(c) for c in cols]

    def session_arrays(self):
        cols = list(zip(*self.sessions, strict=True))
        return [np.concatenate(c) for c in cols]


_DATE_STR = np.array(
    [
        str(d)
        for d in np.arange(
            np.datetime64("2025-01-01") - np.timedelta64(400, "D"),
            np.datetime64("2025-01-01") + np.timedelta64(800, "D"),
        )
    ],
    dtype=object,
)
_TIME_STR = np.array(
    [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)], dtype=object
)


def format_ts(t: np.ndarray, sep: str = " ") -> np.ndarray:
    """'YYYY-MM-DD HH:MM:SS' strings (object array) for seconds since 2025-01-01."""
    t = np.asarray(t, dtype=np.int64)
    return _DATE_STR[t // DAY + 400] + sep + _TIME_STR[t % DAY]


def format_date(d: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DD' strings (object array) for days since 2025-01-01."""
    return _DATE_STR[np.asarray(d, dtype=np.int64) + 400]
