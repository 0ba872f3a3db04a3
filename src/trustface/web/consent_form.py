"""The consent screen's form, shared by the console desk and self-service: one purpose and one
mode, the notice version shown, an unticked box (R1, SPC-4(2)), a guardian block for a minor (R3).
What the screen shows and what a consent needs are :mod:`trustface.services.consents`."""

from __future__ import annotations

from typing import Any

from trustface.errors import E_INVALID_ARGUMENT, TrustfaceError
from trustface.services.consents import ConsentRequest
from trustface.web.forms import Form, notice_version, text


def require_ticked(form: Form, message: str) -> None:
    """Nothing is recorded unless the person ticked the box themselves (it is never pre-ticked)."""
    if form.get("agree") != "yes":
        raise TrustfaceError(E_INVALID_ARGUMENT, message)


def consent_request(form: Form, *, channel: str, asked: bool) -> ConsentRequest:
    """The consent the form states, given by click on ``channel`` (``desk`` or ``app``). ``asked``:
    the person asked for it themselves (else staff prompting count as the processor asking, R7)."""
    payload: dict[str, Any] = {"purpose": text(form, "purpose"), "mode": text(form, "mode"),
                               "notice_version": notice_version(form), "channel": channel, "method": "click",
                               "initiated_by": "subject" if asked else "processor"}
    if text(form, "guardian_name"):
        payload["guardian"] = {"name": text(form, "guardian_name"),
                               "relationship": text(form, "guardian_relationship"),
                               "verification": text(form, "guardian_verification")}
    return ConsentRequest.from_payload(payload)


__all__ = ["consent_request", "require_ticked"]
