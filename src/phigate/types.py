"""Identifiers that must never be mixed up, and small shared value types."""

from __future__ import annotations

from typing import NewType

RequestId = NewType("RequestId", str)
ClientId = NewType("ClientId", str)
VendorId = NewType("VendorId", str)
PatientId = NewType("PatientId", str)
NodeId = NewType("NodeId", str)
KeyId = NewType("KeyId", str)
