"""Anomaly detectors over audit events, per client (or source address): pure, time passed in.

Each detector is fed every audit event in order (:meth:`Detector.observe`) and
returns an :class:`Alert` when its threshold (from ``audit.detectors``) is
crossed; the alert's explanation names the threshold and what was counted,
never patient data. State is bounded: windows drop what falls out of them.
"""

from __future__ import annotations

from phigate.monitor.detectors.alerts import Alert, Observed, Severity
from phigate.monitor.detectors.rules import Detector, build_detectors

__all__ = ["Alert", "Detector", "Observed", "Severity", "build_detectors"]
