"""Non-face credentials: PIN (argon2id), card number (keyed digest), QR code (signed, time-limited).

Nothing here stores a credential in clear: a PIN is kept as an argon2id hash, a card number as
an HMAC-SHA256 under the deployment's key (card numbers have too little entropy for a plain
hash), and a QR code carries its own signature and expiry. Single use of a visitor pass is
enforced by whoever records the QR's ``nonce`` (the access service, issue 5).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from trustface.access.codes import E_CREDENTIAL_EXPIRED, E_CREDENTIAL_INVALID, E_WEAK_PIN
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError

PIN_LENGTH = (6, 12)
#: OWASP's argon2id floor (19 MiB, 2 passes, 1 lane): ~20 ms here, fine for a gate queue and
#: costly for anyone who copies the table and guesses 10^6 PINs.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def check_pin(pin: str) -> None:
    """Refuse (E_WEAK_PIN) a PIN that is not 6-12 digits or is trivially guessable."""
    if not pin.isdigit() or not PIN_LENGTH[0] <= len(pin) <= PIN_LENGTH[1]:
        raise TrustfaceError(E_WEAK_PIN, f"a PIN has {PIN_LENGTH[0]} to {PIN_LENGTH[1]} digits.")
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    if steps in ({0}, {1}, {-1}):
        raise TrustfaceError(E_WEAK_PIN, "the PIN is too easy to guess (one digit repeated, or a straight run).")


def hash_pin(pin: str) -> str:
    """An argon2id hash of an acceptable PIN (6-12 digits, not trivially guessable)."""
    check_pin(pin)
    return _HASHER.hash(pin)


def verify_pin(stored_hash: str, pin: str) -> bool:
    """True when ``pin`` matches; False for a wrong PIN or an unreadable hash (never raises)."""
    try:
        return _HASHER.verify(stored_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


def card_digest(key: bytes, card_number: str) -> str:
    """Keyed digest of a card number (spaces and dashes ignored, case-folded), hex."""
    normalised = "".join(card_number.split()).replace("-", "").casefold()
    if not normalised.isalnum() or not 4 <= len(normalised) <= 64:
        raise TrustfaceError(E_INVALID_ARGUMENT, "a card number has 4 to 64 letters or digits.")
    return hmac.new(key, b"trustface-card|" + normalised.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class QrClaims:
    """holder: subject or visitor-pass id; site_id; expires_at (UTC); nonce: unique per code;
    single_use: a visitor pass, to be refused once its nonce is recorded."""

    holder: str
    site_id: str
    expires_at: dt.datetime
    nonce: str
    single_use: bool


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, b"trustface-qr|" + body, hashlib.sha256).digest()


def issue_qr(key: bytes, *, holder: str, site_id: str, valid_for: dt.timedelta, single_use: bool,
             now: dt.datetime) -> str:
    """A signed QR payload (URL-safe text) valid at one site until ``now + valid_for``."""
    if not dt.timedelta(0) < valid_for <= dt.timedelta(days=366):
        raise TrustfaceError(E_INVALID_ARGUMENT, "a QR code is valid for more than 0 seconds and at most a year.")
    claims = {"h": holder, "s": site_id, "e": int((now + valid_for).timestamp()), "n": secrets.token_hex(12),
              "u": single_use}
    body = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(body)}.{_b64(_sign(key, body))}"


def read_qr(key: bytes, token: str, *, site_id: str, now: dt.datetime) -> QrClaims:
    """The claims of a genuine, unexpired QR code for this site, or E_CREDENTIAL_INVALID /
    E_CREDENTIAL_EXPIRED. The caller still refuses a single-use nonce it has seen before."""
    try:
        body_text, signature_text = token.split(".")
        body, signature = _unb64(body_text), _unb64(signature_text)
    except (ValueError, TypeError):
        raise TrustfaceError(E_CREDENTIAL_INVALID, "the QR code is not a trustface code.") from None
    if not hmac.compare_digest(signature, _sign(key, body)):
        raise TrustfaceError(E_CREDENTIAL_INVALID, "the QR code's signature does not match.")
    try:
        claims = json.loads(body)
        claims["h"], claims["s"], claims["n"], claims["u"], int(claims["e"])
    except (ValueError, KeyError, TypeError):
        raise TrustfaceError(E_CREDENTIAL_INVALID, "the QR code is not a trustface code.") from None
    if claims["s"] != site_id:
        raise TrustfaceError(E_CREDENTIAL_INVALID, "the QR code belongs to another site.")
    expires = dt.datetime.fromtimestamp(claims["e"], tz=dt.timezone.utc)
    if now >= expires:
        raise TrustfaceError(E_CREDENTIAL_EXPIRED, f"the QR code expired at {expires.isoformat()}.")
    return QrClaims(claims["h"], claims["s"], expires, claims["n"], bool(claims["u"]))
