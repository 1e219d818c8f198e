"""One object per analysis thread, built on the thread's first use.

mediapipe graphs and dlib's shape predictor keep state between calls and are not
thread-safe, so each analysis thread holds its own; building one costs 0.1-0.8 s
(models loaded), so it is built once per thread, not per use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerThread(Generic[T]):
    """The calling thread's ``T``, made by ``make`` the first time that thread asks;
    ``close`` closes every one made (with ``closer``, when the object holds resources)."""

    def __init__(self, make: Callable[[], T], closer: Callable[[T], None] | None = None) -> None:
        self._make = make
        self._closer = closer
        self._local = threading.local()
        self._made: list[T] = []
        self._lock = threading.Lock()

    def get(self) -> T:
        made: list[T] = getattr(self._local, "made", [])
        if not made:
            made = self._local.made = [self._make()]
            with self._lock:
                self._made.append(made[0])
        return made[0]

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, []
        if self._closer is not None:
            for value in made:
                self._closer(value)
