"""Small helpers shared by the policy service modules."""

from __future__ import annotations

import datetime as dt
import hashlib

from trustface.audit.chain import canonical
from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy import codes


def utc(now: dt.datetime | None) -> dt.datetime:
    """``now`` as aware UTC (defaults to the wall clock); naive datetimes are refused."""
    if now is None:
        return dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        raise TrustfaceError(E_INVALID_ARGUMENT, "times must be timezone-aware (UTC)")
    return now.astimezone(dt.timezone.utc)


def invalid(message: str, requirements: tuple[str, ...] | None = None) -> TrustfaceError:
    return TrustfaceError(E_INVALID_ARGUMENT, message, requirements)


def not_found(what: str, key: str) -> TrustfaceError:
    return TrustfaceError(codes.E_NOT_FOUND, f"{what} {key!r} does not exist")


def require_text(value: object, name: str, requirements: tuple[str, ...] | None = None, max_len: int = 2000) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{name} is required", requirements)
    if len(value) > max_len:
        raise invalid(f"{name} is longer than {max_len} characters", requirements)
    return value.strip()


def sha256_hex(obj: object) -> str:
    return hashlib.sha256(canonical(obj).encode("utf-8")).hexdigest()


def age_on(birth_date: dt.date, now: dt.datetime) -> int:
    today = now.date()
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def is_minor(birth_date: dt.date | None, age_band: str | None, guardian_age: int, now: dt.datetime) -> bool:
    """Under the guardian age? A band counts as minor if any age in it is under (conservative)."""
    if birth_date is not None:
        return age_on(birth_date, now) < guardian_age
    if age_band:
        low = int(age_band.rstrip("+").split("-")[0])
        return low < guardian_age
    return True  # unknown age is treated as a minor (R3 age gate)


def parse_age_band(band: str) -> str:
    """Accept ``"A-B"`` or ``"A+"`` with whole years."""
    try:
        if band.endswith("+"):
            int(band[:-1])
        else:
            low, high = band.split("-")
            if int(low) > int(high):
                raise ValueError
    except (ValueError, AttributeError):
        raise invalid(f"age band {band!r} must look like '14-17' or '18+'", ("R3",)) from None
    return band
