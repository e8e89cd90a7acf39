"""``web.signature``: unit tests, timing-safe comparison, and the official SDK as an oracle."""

from __future__ import annotations

import hmac
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from workos import WorkOSClient

import web.signature as signature
from emulator import EmulatorState
from emulator.webhooks import sign, webhook_body
from tests.web.conftest import SECRET, UNKNOWN_SECRET, make_event, now_ms
from web.signature import SignatureError, compute, parse_header, verify

BODY = b'{"id":"event_1","event":"dsync.user.created","data":{}}'


# --------------------------------------------------------------------------- parse / verify


def test_parse_header_canonical_and_lenient_forms():
    assert parse_header("t=123, v1=ABC") == ("123", ["abc"])
    assert parse_header("t=123,v1=abc") == ("123", ["abc"])
    assert parse_header(" V1=aa ,T=5, v1=bb, v0=cc, junk") == ("5", ["aa", "bb"])


@pytest.mark.parametrize(
    "header", ["v1=abc", "t=, v1=abc", "t=12a, v1=abc", "t=1.5, v1=abc", "t=-1, v1=abc"]
)
def test_parse_header_rejects_bad_timestamp(header):
    with pytest.raises(SignatureError, match="no t="):
        parse_header(header)


@pytest.mark.parametrize("header", ["t=123", "t=123, v2=abc", "t=123, v1"])
def test_parse_header_rejects_missing_v1(header):
    with pytest.raises(SignatureError, match="no v1"):
        parse_header(header)


def test_compute_is_hmac_sha256_of_t_dot_body():
    expected = hmac.new(b"k", b"1700000000000." + BODY, "sha256").hexdigest()
    assert compute("k", "1700000000000", BODY) == expected
    assert sign("k", BODY, 1700000000000) == f"t=1700000000000, v1={expected}"


def test_verify_window_is_inclusive_of_tolerance_and_symmetric():
    t = 1_700_000_000_000
    header = sign(SECRET, BODY, t)
    for now_s in (t / 1000 - 180, t / 1000, t / 1000 + 180):
        verify(header, BODY, [SECRET], now=now_s)
    with pytest.raises(SignatureError, match="old"):
        verify(header, BODY, [SECRET], now=t / 1000 + 180.001)
    with pytest.raises(SignatureError, match="in the future"):
        verify(header, BODY, [SECRET], now=t / 1000 - 180.001)


def test_verify_honours_a_configured_tolerance():
    t = 1_700_000_000_000
    header = sign(SECRET, BODY, t)
    verify(header, BODY, [SECRET], tolerance_seconds=600, now=t / 1000 + 599)
    with pytest.raises(SignatureError, match="tolerance 10s"):
        verify(header, BODY, [SECRET], tolerance_seconds=10, now=t / 1000 + 11)


def test_verify_checks_the_timestamp_that_was_signed():
    """Re-using a valid v1 with a fresh t must fail: t is part of the signed message."""
    old_t = now_ms() - 1000
    digest = sign(SECRET, BODY, old_t).split("v1=")[1]
    with pytest.raises(SignatureError, match="does not match"):
        verify(f"t={old_t + 1}, v1={digest}", BODY, [SECRET])


def test_verify_with_no_secrets_rejects():
    with pytest.raises(SignatureError):
        verify(sign(SECRET, BODY), BODY, [])


def test_error_messages_never_contain_a_secret():
    cases = [None, "", "junk", f"t={now_ms()}, v1=00", sign(SECRET, BODY, 1)]
    cases.append(sign(UNKNOWN_SECRET, BODY))
    for header in cases:
        with pytest.raises(SignatureError) as info:
            verify(header, BODY, [SECRET, "whsec_second"])
        assert SECRET not in str(info.value) and "whsec_second" not in str(info.value)


@pytest.mark.parametrize(
    "timestamp",
    ["\u00b2", "\u0661\u0662\u0663", "9" * 400, "9" * 5000],
    ids=["superscript-two", "arabic-indic-digits", "400-digits", "5000-digits"],
)
def test_odd_numeric_timestamps_raise_signature_error_not_a_crash(timestamp):
    """Anything wrong with ``t`` must be a SignatureError (→ 401), never ValueError/OverflowError
    (→ 500). ``str.isdigit`` accepts '²' and Arabic-Indic digits; ``int`` then fails on '²', and
    very long digit strings overflow ``float`` or hit the int-conversion digit limit."""
    with pytest.raises(SignatureError):
        verify(f"t={timestamp}, v1={'0' * 64}", BODY, [SECRET])


# --------------------------------------------------------------------------- timing-safe


class CompareSpy:
    def __init__(self, real, forced=None):  # type: ignore[no-untyped-def]
        self.real = real
        self.forced = forced
        self.calls: list[tuple[str, str, bool]] = []

    def __call__(self, a, b):  # type: ignore[no-untyped-def]
        result = self.real(a, b)
        self.calls.append((a, b, result))
        return result if self.forced is None else self.forced


@pytest.fixture
def spy(monkeypatch):  # type: ignore[no-untyped-def]
    s = CompareSpy(hmac.compare_digest)
    monkeypatch.setattr(signature.hmac, "compare_digest", s)
    return s


def test_valid_signature_is_compared_with_compare_digest(spy):
    t = now_ms()
    header = sign(SECRET, BODY, t)
    verify(header, BODY, [SECRET])
    expected = compute(SECRET, str(t), BODY)
    assert (expected, expected, True) in spy.calls


def test_invalid_signature_is_compared_with_compare_digest(spy):
    t = now_ms()
    wrong = "f" * 64
    with pytest.raises(SignatureError):
        verify(f"t={t}, v1={wrong}", BODY, [SECRET, UNKNOWN_SECRET])
    pairs = {(a, b) for a, b, _ in spy.calls}
    # Every configured secret's digest is compared, each with the candidate.
    assert pairs == {
        (compute(SECRET, str(t), BODY), wrong),
        (compute(UNKNOWN_SECRET, str(t), BODY), wrong),
    }
    assert all(result is False for _, _, result in spy.calls)


def test_the_decision_is_made_by_compare_digest_alone(monkeypatch):
    """If compare_digest says no, a correct signature fails; if it says yes, a wrong one passes.
    So no ``==`` on the digest decides anything behind its back."""
    header = sign(SECRET, BODY)
    monkeypatch.setattr(signature.hmac, "compare_digest", CompareSpy(hmac.compare_digest, False))
    with pytest.raises(SignatureError):
        verify(header, BODY, [SECRET])
    monkeypatch.setattr(signature.hmac, "compare_digest", CompareSpy(hmac.compare_digest, True))
    verify(f"t={now_ms()}, v1=nonsense", BODY, [SECRET])


def test_receiver_uses_compare_digest_for_valid_and_invalid(receiver, spy):
    body = webhook_body(make_event())
    t = now_ms()
    assert receiver.post(body, {"WorkOS-Signature": sign(SECRET, body, t)}).status_code == 200
    expected = compute(SECRET, str(t), body)
    assert (expected, expected, True) in spy.calls
    spy.calls.clear()
    bad = sign(UNKNOWN_SECRET, body, t).split("v1=")[1]
    resp = receiver.post(body, {"WorkOS-Signature": f"t={t}, v1={bad}"})
    assert resp.status_code == 401
    assert spy.calls == [(expected, bad, False)]


# --------------------------------------------------------------------------- SDK oracle

SDK = WorkOSClient(api_key="sk_test_x", client_id="client_x").webhooks

utf8_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
secrets_ = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60)
oracle = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sdk_accepts(body: bytes, header: str, secret: str) -> bool:
    try:
        SDK.verify_header(event_body=body, event_signature=header, secret=secret)
    except ValueError:
        return False
    return True


def ours_accepts(body: bytes, header: str, secrets: list[str]) -> bool:
    try:
        verify(header, body, secrets)
    except SignatureError:
        return False
    return True


@oracle
@given(text=utf8_text, secret=secrets_, skew_s=st.integers(-170, 170))
def test_sdk_and_we_accept_emulator_signatures(text, secret, skew_s):
    body = text.encode("utf-8")
    header = sign(secret, body, now_ms() + skew_s * 1000)
    assert sdk_accepts(body, header, secret)
    assert ours_accepts(body, header, [secret])


@oracle
@given(text=utf8_text, secret=secrets_, suffix=st.text(min_size=1, max_size=5))
def test_sdk_and_we_reject_a_tampered_body(text, secret, suffix):
    body = text.encode("utf-8")
    header = sign(secret, body)
    for tampered in ((text + suffix).encode(), (suffix + text).encode()):
        assert not sdk_accepts(tampered, header, secret)
        assert not ours_accepts(tampered, header, [secret])


@oracle
@given(text=utf8_text, secret=secrets_, other=secrets_)
def test_sdk_and_we_reject_another_secret(text, secret, other):
    body = text.encode("utf-8")
    header = sign(secret, body)
    expected = secret == other
    assert sdk_accepts(body, header, other) is expected
    assert ours_accepts(body, header, [other]) is expected


@oracle
@given(
    text=utf8_text,
    secret=secrets_,
    skew_s=st.one_of(st.integers(182, 10**7), st.integers(-(10**7), -182)),
)
def test_sdk_and_we_reject_outside_the_window_both_ways(text, secret, skew_s):
    body = text.encode("utf-8")
    header = sign(secret, body, now_ms() - skew_s * 1000)
    assert not sdk_accepts(body, header, secret)
    assert not ours_accepts(body, header, [secret])


def test_sdk_and_we_reject_a_seconds_timestamp():
    header = sign(SECRET, BODY, int(time.time()))
    assert not sdk_accepts(BODY, header, SECRET)
    assert not ours_accepts(BODY, header, [SECRET])


def test_sdk_verify_event_parses_emulator_events_the_receiver_records(receiver):
    """Real event bodies (emulator, seeded with events) pass the SDK's full verify_event and
    our receiver alike."""
    state = EmulatorState()
    state.seed(users=3, groups=2, memberships_per_user=1, record_events=True)
    events = state.events_since(limit=None)
    assert len(events) >= 3
    for event in events:
        body = webhook_body(event)
        header = sign(SECRET, body)
        parsed = SDK.verify_event(event_body=body, event_signature=header, secret=SECRET)
        assert parsed.id == event["id"]
        resp = receiver.post(body, {"WorkOS-Signature": header})
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["status"] in ("recorded", "ignored")


def test_missing_space_is_our_documented_leniency_over_the_sdk():
    """The SDK splits on ', ' exactly; we also accept ',' alone (workos-api.md §1.4, §10)."""
    header = sign(SECRET, BODY).replace(", ", ",")
    assert not sdk_accepts(BODY, header, SECRET)
    assert ours_accepts(BODY, header, [SECRET])
