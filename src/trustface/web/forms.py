"""Reading what a page submits: the form after its CSRF check, with the text rules every door
applies (:mod:`trustface.safetext`), single text fields, a list field and an uploaded photo."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from trustface.access.codes import E_MALFORMED_REQUEST
from trustface.errors import E_IMAGE_INVALID, TrustfaceError
from trustface.safetext import UNSAFE_TEXT_MESSAGE, unsafe_text
from trustface.web.render import key_of
from trustface.web.security import check_csrf

#: the largest photo a page accepts for enrolment, in bytes
MAX_PHOTO = 10 * 1024 * 1024

Form = dict[str, Any]


async def form_of(request: Request) -> Form:
    """The submitted form (after the CSRF check); a repeated field becomes a list."""
    form = await request.form(max_files=2, max_fields=40)
    token = form.get("csrf")
    check_csrf(request, key_of(request), token if isinstance(token, str) else None)
    if unsafe_text([v for _, v in form.multi_items() if isinstance(v, str)]) is not None:
        # NUL, controls, bidi overrides: refused as in the API (a NUL in an id failed in PostgreSQL)
        raise TrustfaceError(E_MALFORMED_REQUEST, UNSAFE_TEXT_MESSAGE)
    out: Form = {}
    for k, v in form.multi_items():
        if k in out:
            out[k] = out[k] if isinstance(out[k], list) else [out[k]]
            out[k].append(v)
        else:
            out[k] = v
    return out


def text(form: Form, name: str) -> str | None:
    """A text field, stripped; None when absent or blank."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def texts(form: Form, name: str) -> list[str]:
    """A field that may repeat (checkboxes), as a list of its text values."""
    value = form.get(name) or []
    values = [value] if isinstance(value, str) else list(value)
    return [v for v in values if isinstance(v, str)]


def notice_version(form: Form) -> int | None:
    """The notice version the consent screen showed (a hidden field), or None when not a number."""
    try:
        return int(form.get("notice_version") or "")
    except (TypeError, ValueError):
        return None


async def photo(form: Form, name: str = "photo") -> bytes:
    """The uploaded photo's bytes (at most :data:`MAX_PHOTO`), or E_IMAGE_INVALID in words."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile):
        raise TrustfaceError(E_IMAGE_INVALID, "choose a photo to enrol")
    data = await upload.read(MAX_PHOTO + 1)
    if not data or len(data) > MAX_PHOTO:
        raise TrustfaceError(E_IMAGE_INVALID, "the photo is empty or larger than 10 MB")
    return data
