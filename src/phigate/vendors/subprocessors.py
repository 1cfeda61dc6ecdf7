"""A vendor's sub-processors, and the controller's say over every change to them (GDPR Art. 28(2), (4); A.4).

Adding a sub-processor, or changing one on the list (its service, data
categories or locations), is a *pending change*: the controller (whoever runs
this gateway) is notified, an objection window opens
(``vendors.subprocessor_objection_days``), and the vendor's standing is
``pending_review`` until the controller approves or objects. The window's end
decides nothing by itself: silence is not approval here.

What the gateway does while a change is pending. It cannot see past the
vendor, so it makes sure the vendor receives nothing beyond what it received
under the approved list: access goes on as it was when the change was proposed,
and grows no further. Each client is held to the scopes it was registered for
at that moment (:attr:`Subprocessor.scopes_at_proposal`, the first pending
change's snapshot); a scope added since, or a client registered since, gets
nothing until the change is approved. Approval lifts the hold; an objection
ends the change (the approved terms, if any, stay as they were) and lifts it too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from phigate.types import ClientId, VendorId
from phigate.vendors.records import RegistrationError, check_name

_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_LOCATION = re.compile(r"EU|[A-Z]{2}(?:-[A-Z0-9]{1,3})?")  # ISO 3166 country (or subdivision), or EU


class ChangeStatus(StrEnum):
    pending = "pending"  # proposed, waiting for the controller
    approved = "approved"  # on the list
    objected = "objected"  # the controller refused it: the vendor may not engage it (or not on these terms)
    superseded = "superseded"  # approved once, then replaced by an approved change


@dataclass(frozen=True, kw_only=True)
class Subprocessor:
    """One entry of the list, or one proposed change to it (``replaces`` names the entry it would change)."""

    id: str
    vendor_id: VendorId
    name: str
    service: str
    data_categories: tuple[str, ...]
    locations: tuple[str, ...]  # where it stores or processes data: ISO country codes, or EU
    proposed_at: datetime
    objection_until: date
    status: ChangeStatus = ChangeStatus.pending
    replaces: str | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    note: str = ""  # the controller's reason for an objection (registry only)
    scopes_at_proposal: Mapping[ClientId, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_name(self.name, "name"))
        object.__setattr__(self, "service", check_name(self.service, "service"))
        object.__setattr__(self, "status", _status(self.status))
        if not self.data_categories or any(not _WORD.fullmatch(c) for c in self.data_categories):
            raise RegistrationError("data_categories", "give one or more lower-case words (lab-results)")
        if not self.locations or any(not _LOCATION.fullmatch(c) for c in self.locations):
            raise RegistrationError("locations", "give one or more ISO country codes (US, DE) or EU")
        if self.objection_until < self.proposed_at.date():
            raise RegistrationError("objection_until", "the objection window ends after the proposal")
        if self.note:
            object.__setattr__(self, "note", check_name(self.note, "reason"))

    @property
    def pending(self) -> bool:
        return self.status is ChangeStatus.pending

    @property
    def change(self) -> str:
        return "changed" if self.replaces is not None else "added"

    @property
    def terms(self) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        return self.service, tuple(sorted(self.data_categories)), tuple(sorted(self.locations))

    def reason(self, today: date) -> str:
        """Why the vendor is pending review (safe to show the vendor: its own sub-processor and dates)."""
        proposed = self.proposed_at.date().isoformat()
        window = self.objection_until.isoformat()
        window_text = (
            f"objection window ends {window}"
            if today <= self.objection_until
            else f"objection window ended {window} without a decision"
        )
        return f"Sub-processor {self.name} {self.change} {proposed}; pending approval ({window_text})"

    def approved(self, by: str, at: datetime) -> Subprocessor:
        self._still_pending()
        return replace(self, status=ChangeStatus.approved, decided_at=at, decided_by=by)

    def objected(self, by: str, at: datetime, note: str) -> Subprocessor:
        self._still_pending()
        return replace(self, status=ChangeStatus.objected, decided_at=at, decided_by=by, note=note)

    def _still_pending(self) -> None:
        if not self.pending:
            raise RegistrationError("status", f"change {self.id} is decided already ({self.status.value})")


def propose(
    listed: list[Subprocessor], *, id: str, vendor_id: VendorId, name: str, service: str,
    data_categories: tuple[str, ...], locations: tuple[str, ...], now: datetime, window_days: int,
    scopes: Mapping[ClientId, str],
) -> Subprocessor:  # fmt: skip
    """The pending change adding ``name``, or changing it when it is on the list already.

    ``scopes`` are the vendor's clients' registered scopes now: what access is held to while it is pending.
    Refused while another change to the same sub-processor is pending, or when nothing would change.
    """
    item = Subprocessor(
        id=id, vendor_id=vendor_id, name=name, service=service, data_categories=data_categories,
        locations=locations, proposed_at=now, objection_until=now.date() + timedelta(days=window_days),
        scopes_at_proposal=dict(scopes),
    )  # fmt: skip
    same = [s for s in listed if s.name.casefold() == item.name.casefold()]
    if any(s.pending for s in same):
        raise RegistrationError("name", f"a change to {item.name} is pending already: decide it first")
    current = next((s for s in same if s.status is ChangeStatus.approved), None)
    if current is not None and current.terms == item.terms:
        raise RegistrationError("name", f"{item.name} is on the list already with these terms")
    return replace(item, replaces=current.id if current is not None else None)


def pending(items: tuple[Subprocessor, ...] | list[Subprocessor]) -> list[Subprocessor]:
    """The pending changes, oldest first."""
    return sorted((s for s in items if s.pending), key=lambda s: (s.proposed_at, s.id))


def held_scopes(items: tuple[Subprocessor, ...] | list[Subprocessor]) -> Mapping[ClientId, str] | None:
    """Each client's scopes when the first pending change was proposed; None when nothing is pending."""
    waiting = pending(items)
    return waiting[0].scopes_at_proposal if waiting else None


def on_the_list(items: tuple[Subprocessor, ...] | list[Subprocessor]) -> list[Subprocessor]:
    """The approved sub-processors, by name."""
    return sorted((s for s in items if s.status is ChangeStatus.approved), key=lambda s: s.name.casefold())


def _status(value: str) -> ChangeStatus:
    try:
        return ChangeStatus(value)
    except ValueError:
        raise RegistrationError("status", f"must be one of {', '.join(ChangeStatus)}") from None
