"""What a SIEM receives for one stored event: a JSON line, or an RFC 5424 syslog message framed
by octet counting (RFC 6587 section 3.4.1), as syslog over TLS (RFC 5425) expects.

The message carries the event's canonical record (identifiers and decisions, no
clinical values or tokens) and, as structured data, the chain position (node,
seq, hash) so a receiver can spot a duplicate after a resend and check order.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from phigate.audit.chain import ChainedEvent

FACILITY_LOG_AUDIT = 13  # RFC 5424 table 1: "log audit"
SD_ID = "phigate@32473"  # enterprise 32473 is reserved for documentation (RFC 5612)
_SEVERITY = {"ok": 6, "alert": 1, "reaction": 4}  # informational, alert, warning
_NILVALUE = "-"


def json_line(event: ChainedEvent) -> bytes:
    record = {"node": event.node, "seq": event.seq, "hash": event.hash, "prev": event.prev_hash}
    return orjson.dumps(record | {"event": event.event}, option=orjson.OPT_SORT_KEYS) + b"\n"


def severity(event: ChainedEvent) -> int:
    kind = str(event.event.get("kind", ""))
    if kind in ("alert", "reaction"):
        return _SEVERITY[kind]
    return _SEVERITY["ok"] if event.event.get("outcome", "ok") == "ok" else 5  # notice: a refusal


def syslog_message(event: ChainedEvent, hostname: str, app_name: str = "phigate") -> bytes:
    """One RFC 5424 SYSLOG-MSG (without framing)."""
    pri = FACILITY_LOG_AUDIT * 8 + severity(event)
    moment = datetime.fromtimestamp(float(event.event["recorded"]), UTC)
    timestamp = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
    msgid = _token(str(event.event.get("kind", "")), 32)
    params = {"node": event.node, "seq": str(event.seq), "hash": event.hash}
    sd = f"[{SD_ID} " + " ".join(f'{k}="{_param(v)}"' for k, v in params.items()) + "]"
    header = f"<{pri}>1 {timestamp} {_token(hostname, 255)} {_token(app_name, 48)} {_NILVALUE} {msgid} {sd} "
    return header.encode() + orjson.dumps(event.event, option=orjson.OPT_SORT_KEYS)


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet-counting framing: ``MSG-LEN SP SYSLOG-MSG``."""
    return str(len(message)).encode() + b" " + message


def _token(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, or the NILVALUE."""
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return cleaned or _NILVALUE


def _param(value: str) -> str:
    """An SD-PARAM value: '"', '\\' and ']' escaped (RFC 5424 section 6.3.3)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")
