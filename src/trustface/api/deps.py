"""What every router needs: the deployment's services, the caller (API key -> Principal), scope
checks that answer 404 for anything outside the caller's tenant, site or subject, and request
body readers (JSON only where JSON is expected; images by multipart or base64 JSON)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, overload

from fastapi import Depends, Header, Request
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from trustface.access import keys
from trustface.access import service as access
from trustface.access.codes import E_MALFORMED_REQUEST, E_UNSUPPORTED_MEDIA
from trustface.errors import E_IMAGE_INVALID, E_INVALID_ARGUMENT, TrustfaceError
from trustface.policy.vocab import MODES
from trustface.ratelimit import RateLimiter
from trustface.safetext import UNSAFE_TEXT_MESSAGE, unsafe_text
from trustface.services import accounts, scope
from trustface.services.context import Context


@dataclass
class Services:
    """One per app: the use cases' :class:`~trustface.services.Context` (deployment, gallery,
    settings, credential key, clock) and the API's rate limiter."""

    ctx: Context
    limiter: RateLimiter

    @property
    def max_images(self) -> int:
        return self.ctx.settings.max_images


def services(request: Request) -> Services:
    return request.app.state.trustface


Svc = Annotated[Services, Depends(services)]


def context(request: Request) -> Context:
    return services(request).ctx


#: the use-case context, as a route parameter
Ctx = Annotated[Context, Depends(context)]


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> keys.Principal:
    token = None
    if authorization and authorization[:7].lower() == "bearer ":
        token = authorization[7:].strip()
    return accounts.authenticate(context(request), token)


Caller = Annotated[keys.Principal, Depends(caller)]


# the scope checks live with the use cases (services.scope); routes still import them from here
scoped_site = scope.site
scoped_subject = scope.subject
scoped_gate = scope.gate
tenant_for = scope.tenant_for
granted = scope.granted


# --- request bodies --------------------------------------------------------------------------------

def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def json_content(request: Request) -> None:
    """Dependency of JSON routes: 415 for any other content type (before the body is validated)."""
    if _media_type(request) != "application/json":
        raise TrustfaceError(E_UNSUPPORTED_MEDIA, "send the body as application/json")


# the text rule is shared with the pages (trustface.safetext)


#: a processing mode (policy.vocab.MODES), as the OpenAPI enum
Mode = Literal["verify", "identify", "analyze", "keep_photo"]
assert get_args(Mode) == MODES, "api.deps.Mode must list policy.vocab.MODES"


class Body(BaseModel):
    """Base of JSON request bodies: unknown fields are refused (E_MALFORMED_REQUEST), and so is
    text with characters of :data:`trustface.safetext.UNSAFE_TEXT`."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _safe_text(cls, data):
        if unsafe_text(data) is not None:
            raise PydanticCustomError("unsafe_text", UNSAFE_TEXT_MESSAGE)
        return data


def parse(model: type[BaseModel], payload: dict):
    """Validate a payload read by hand (routes that accept several body shapes)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise TrustfaceError(E_MALFORMED_REQUEST, _validation_message(exc.errors())) from None


def _validation_message(errors) -> str:
    from trustface.api.errors import first_validation_message

    return first_validation_message(errors)


async def json_object(request: Request) -> dict:
    """The body as a JSON object, or 415 (not JSON) / 422 (not an object)."""
    if _media_type(request) != "application/json":
        raise TrustfaceError(E_UNSUPPORTED_MEDIA, "send the body as application/json")
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested thousands deep
        raise TrustfaceError(E_MALFORMED_REQUEST, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise TrustfaceError(E_MALFORMED_REQUEST, "the body must be a JSON object")
    if unsafe_text(body) is not None:
        raise TrustfaceError(E_MALFORMED_REQUEST, UNSAFE_TEXT_MESSAGE)
    return body


def _b64(value, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise TrustfaceError(E_IMAGE_INVALID, f"{name} must be a base64 string")
    if "," in value[:100] and value.startswith("data:"):
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise TrustfaceError(E_IMAGE_INVALID, f"{name} is not valid base64") from None


async def images_and_fields(request: Request, *, max_images: int, fields: set[str],
                            required: bool = True) -> tuple[list[bytes], dict]:
    """Images from multipart ``image`` parts or JSON ``image`` / ``images`` (base64), plus the
    named form/JSON fields. Unknown fields are refused, as everywhere."""
    media = _media_type(request)
    images: list[bytes] = []
    values: dict = {}
    if media == "multipart/form-data":
        try:
            form = await request.form(max_files=max_images + 1, max_fields=len(fields) + 4)
        except TrustfaceError:
            raise
        except Exception as exc:  # malformed multipart, too many parts
            if getattr(exc, "status_code", None) == 413:
                raise
            raise TrustfaceError(E_MALFORMED_REQUEST, "the multipart body is malformed or has too many parts") from None
        for key, value in form.multi_items():
            if key == "image":
                if isinstance(value, str):
                    raise TrustfaceError(E_IMAGE_INVALID, "the `image` part must be a file upload")
                images.append(await value.read())
            elif key in fields:
                values[key] = value if isinstance(value, str) else None
            else:
                raise TrustfaceError(E_MALFORMED_REQUEST, f"unknown field {key!r}")
    elif media == "application/json":
        body = await json_object(request)
        for key, value in body.items():
            if key == "image":
                images.append(_b64(value, "image"))
            elif key == "images":
                if not isinstance(value, list):
                    raise TrustfaceError(E_MALFORMED_REQUEST, "`images` must be a list of base64 strings")
                images.extend(_b64(v, "images[]") for v in value)
            elif key in fields:
                values[key] = value
            else:
                raise TrustfaceError(E_MALFORMED_REQUEST, f"unknown field {key!r}")
    else:
        raise TrustfaceError(E_UNSUPPORTED_MEDIA, "send images as multipart/form-data (`image` parts) or as "
                                                  "application/json with base64 `image`")
    if required and not images:
        raise TrustfaceError(E_IMAGE_INVALID, "no image was sent (multipart part or JSON field `image`)")
    if len(images) > max_images:
        raise TrustfaceError(E_INVALID_ARGUMENT, f"at most {max_images} images per request")
    if any(not img for img in images):
        raise TrustfaceError(E_IMAGE_INVALID, "an uploaded image is empty")
    if unsafe_text(values) is not None:
        raise TrustfaceError(E_MALFORMED_REQUEST, UNSAFE_TEXT_MESSAGE)
    return images, values


@overload
def text_field(values: dict, name: str, *, required: Literal[True] = True, max_len: int = 200) -> str: ...
@overload
def text_field(values: dict, name: str, *, required: bool, max_len: int = 200) -> str | None: ...
def text_field(values: dict, name: str, *, required: bool = True, max_len: int = 200) -> str | None:
    value = values.get(name)
    if value is None or value == "":
        if required:
            raise TrustfaceError(E_MALFORMED_REQUEST, f"field {name!r} is required")
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise TrustfaceError(E_MALFORMED_REQUEST, f"field {name!r} must be text of at most {max_len} characters")
    return value


def image_body(**fields: dict) -> dict:
    """OpenAPI request body for an image route with extra form/JSON ``fields`` (name -> schema)."""
    body: dict[str, Any] = {"requestBody": {"required": True, "content": {}}}
    for media in ("multipart/form-data", "application/json"):
        props = {"image": ({"type": "array", "items": {"type": "string", "format": "binary"}}
                           if media.startswith("multipart") else
                           {"type": "string", "format": "byte", "description": "base64-encoded image"})}
        props.update(fields)
        body["requestBody"]["content"][media] = {"schema": {"type": "object", "properties": props,
                                                             "required": ["image"]}}
    return body


__all__ = ["Body", "Caller", "Ctx", "Services", "Svc", "access", "caller", "context", "granted", "image_body",
           "images_and_fields", "json_content", "json_object", "parse", "scoped_gate", "scoped_site", "scoped_subject",
           "services", "tenant_for", "text_field"]
