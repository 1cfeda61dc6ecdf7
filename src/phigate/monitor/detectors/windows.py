"""Sliding time windows keyed by subject, bounded in the number of subjects they track."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
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


class DistinctWindow(Generic[K]):
    """The distinct items each subject was seen with in the last ``seconds``.

    Only an item's last sighting is kept, oldest first, so a count costs the same whether the
    window holds ten sightings or a million: a client reading one patient a thousand times a
    second keeps one entry, not five minutes of them.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._seen: OrderedDict[str, OrderedDict[K, float]] = OrderedDict()

    def add(self, subject: str, at: float, items: Iterable[K]) -> int:
        """Record ``items`` seen at ``at``; how many distinct items the subject has in the window."""
        seen = self._seen.pop(subject, None) or OrderedDict()
        for item in items:
            last = seen.pop(item, at)
            seen[item] = max(last, at)  # events may arrive a little out of order: keep the later sighting
        horizon = at - self.seconds
        while seen and next(iter(seen.values())) <= horizon:
            seen.popitem(last=False)
        self._seen[subject] = seen
        if len(self._seen) > MAX_SUBJECTS:
            self._seen.popitem(last=False)
        return len(seen)
