"""Sliding time windows keyed by subject, bounded in the number of subjects they track."""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Generic, TypeVar

T = TypeVar("T")
MAX_SUBJECTS = 10_000  # beyond this the least recently seen subject is forgotten


class Window(Generic[T]):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._items: OrderedDict[str, deque[tuple[float, T]]] = OrderedDict()

    def add(self, subject: str, at: float, item: T) -> deque[tuple[float, T]]:
        items = self._items.pop(subject, None) or deque()
        items.append((at, item))
        while items and items[0][0] <= at - self.seconds:
            items.popleft()
        self._items[subject] = items
        if len(self._items) > MAX_SUBJECTS:
            self._items.popitem(last=False)
        return items

    def clear(self, subject: str) -> None:
        self._items.pop(subject, None)
