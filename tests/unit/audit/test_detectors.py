"""Traffic scenarios raise the expected alerts; a day of benign simulated traffic raises none."""

from __future__ import annotations

import random

from phigate.audit.events import AuditEvent, Kind
from phigate.monitor.detectors import Alert, build_detectors
from phigate.settings.audit import DetectorSettings

DAY = 1_767_225_600.0  # 2026-01-01T00:00:00Z
NINE_AM = DAY + 9 * 3600
SETTINGS = DetectorSettings(honey_patients=("pat-canary",), off_hours=True, new_network=True)


def run(events: list[AuditEvent], settings: DetectorSettings = SETTINGS) -> list[Alert]:
    detectors = build_detectors(settings)
    return [a for e in events for d in detectors if (a := d.observe(e)) is not None]


def read(at: float, patient: str, client: str = "lab", ip: str = "10.0.0.5", status: int = 200) -> AuditEvent:
    return AuditEvent(Kind.exchange, "read", at, client_id=client, vendor_id="acme", source_ip=ip,
                      resource_type="Patient", resource_ids=(patient,),
                      patients=(patient,) if status == 200 else (), status=status,
                      outcome="ok" if status == 200 else "forbidden")  # fmt: skip


def names(alerts: list[Alert]) -> set[str]:
    return {a.detector for a in alerts}


def test_scraping_many_patients_alerts() -> None:
    alerts = run([read(NINE_AM + i, f"pat-{i:04d}") for i in range(60)])
    assert names(alerts) == {"many-patients"}
    assert "50 distinct patients" in alerts[0].explanation and alerts[0].client_id == "lab"


def test_credential_stuffing_alerts_by_address() -> None:
    refused = [
        AuditEvent(
            Kind.security,
            "token.refused",
            NINE_AM + i,
            client_id=f"guess-{i}",
            source_ip="203.0.113.9",
            status=401,
            outcome="invalid_client",
        )
        for i in range(12)
    ]
    alerts = run(refused)
    assert names(alerts) == {"auth-failures"} and alerts[0].subject == "ip:203.0.113.9"


def test_restricted_endpoint_attempts_alert() -> None:
    alerts = run([read(NINE_AM + i, "pat-0001", status=403) for i in range(3)])
    assert names(alerts) == {"restricted-access"}


def test_off_hours_access_alerts() -> None:
    assert names(run([read(DAY + 3 * 3600, "pat-0001")])) == {"off-hours"}


def test_honey_token_access_is_critical() -> None:
    [alert] = run([read(NINE_AM, "pat-canary")])
    assert alert.detector == "honey-token" and alert.severity == "critical"


def test_a_new_network_alerts_once_the_client_has_a_usual_one() -> None:
    events = [
        read(NINE_AM, "pat-0001"),
        read(NINE_AM + 1, "pat-0001"),
        read(NINE_AM + 2, "pat-0001", ip="198.51.100.7"),
    ]
    assert names(run(events)) == {"new-network"}


def test_volume_far_above_the_clients_own_baseline_alerts() -> None:
    steady = [read(NINE_AM + m * 60 + s, "pat-0001") for m in range(30) for s in range(0, 60, 2)]  # 30/min
    burst = [read(NINE_AM + 30 * 60 + i * 0.05, "pat-0001") for i in range(400)]
    alerts = run(steady + burst, DetectorSettings())
    assert names(alerts) == {"volume"}
    assert "baseline" in alerts[0].explanation


def test_a_day_of_benign_traffic_raises_nothing() -> None:
    rng = random.Random(8)
    events: list[AuditEvent] = []
    for client, patients in (("lab", 300), ("billing", 200)):
        network = "10.0.0" if client == "lab" else "10.0.1"
        at = NINE_AM
        while at < DAY + 18 * 3600:  # business hours
            at += rng.expovariate(1 / 20)  # one request every 20 s on average
            patient = f"pat-{rng.randrange(patients):04d}" if rng.random() < 0.02 else "pat-0001"
            events.append(read(at, patient, client=client, ip=f"{network}.{rng.randrange(2, 9)}"))
        events.append(
            read(at, "pat-0001", client=client, ip=f"{network}.2", status=403)
        )  # an occasional refusal is normal
    events.sort(key=lambda e: e.recorded)
    assert run(events) == []
