"""Verification of the ``WorkOS-Signature`` header (``t=<unix ms>, v1=<hex>``).

The signature is HMAC-SHA256 of ``"<t>.<raw body>"`` keyed with the endpoint secret. We accept
several secrets (rotation), several ``v1`` values, a missing space after the comma, and reject
timestamps outside the tolerance window in the past *and* the future.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

# ASCII digits only (str.isdigit() also accepts "²"), and few enough to stay a sane integer.
_TIMESTAMP = re.compile(r"[0-9]{1,20}")


class SignatureError(Exception):
    """Why a request failed verification. The message is safe to log: it holds no secret."""


def parse_header(header: str) -> tuple[str, list[str]]:
    timestamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        value = value.strip()
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value.lower())
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("malformed WorkOS-Signature header: no t=<unix ms> timestamp")
    if not signatures:
        raise SignatureError("malformed WorkOS-Signature header: no v1 signature")
    return timestamp, signatures


def compute(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    *,
    tolerance_seconds: int = 180,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless ``header`` signs ``body`` with one of ``secrets`` in time."""
    if not header:
        raise SignatureError("missing WorkOS-Signature header")
    timestamp, signatures = parse_header(header)
    now_ms = (time.time() if now is None else now) * 1000
    skew_s = (now_ms - int(timestamp)) / 1000
    if abs(skew_s) > tolerance_seconds:
        direction = "old" if skew_s > 0 else "in the future"
        raise SignatureError(
            f"signature timestamp is {abs(skew_s):.0f}s {direction} "
            f"(tolerance {tolerance_seconds}s)"
        )
    for secret in secrets:
        expected = compute(secret, timestamp, body)
        # compare_digest on every candidate: timing reveals nothing about a near match.
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return
    raise SignatureError("signature does not match any configured webhook secret")
