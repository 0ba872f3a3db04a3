"""Signed session cookies, CSRF tokens and the headers of every page.

* Sessions are signed cookies (HMAC-SHA256 under a key derived from the deployment key file, so
  a copied database cannot mint one). A console session names the user and a fingerprint of the
  password hash (a password change ends old sessions) and is re-checked against the account on
  every request (a disabled account is out at once). A self-service session names the subject
  token's key id, re-checked the same way (a revoked or expired token ends it). Neither cookie
  carries a password, a token or personal data.
* CSRF: every form carries ``csrf`` = HMAC(key, the ``tf_csrf`` cookie); a POST without the
  matching pair, or from another origin, is refused. Cookies are HttpOnly and SameSite=Strict.
* Pages get a strict Content-Security-Policy (scripts, styles and images from this origin only:
  no CDN, no inline script) and a Permissions-Policy allowing the camera to this origin only; the
  API's own middleware adds nosniff, no-referrer, frame DENY and no-store to everything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from trustface.access.codes import E_FORBIDDEN
from trustface.errors import TrustfaceError

CONSOLE_COOKIE = "tf_console"
SELF_SERVICE_COOKIE = "tf_me"
CSRF_COOKIE = "tf_csrf"
LANG_COOKIE = "tf_lang"
CONSOLE_LIFETIME = 8 * 3600          # one working shift
SELF_SERVICE_LIFETIME = 30 * 60      # a short visit; the link can be opened again

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob: mediastream:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def web_key(deployment) -> bytes:
    """The page-signing key, derived from the deployment's key file (never stored)."""
    return hmac.new(deployment.keys.tenant_kek_seed, b"trustface-web/1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, claims: dict) -> str:
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac.new(key, b"session|" + body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def unsign(key: bytes, value: str | None, *, now: float | None = None) -> dict | None:
    """The claims of a valid, unexpired signed value, else None."""
    if not value or value.count(".") != 1 or len(value) > 2000:
        return None
    body, mac = value.split(".")
    expected = _b64(hmac.new(key, b"session|" + body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        claims = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), (int, float)):
        return None
    if (now if now is not None else time.time()) >= claims["exp"]:
        return None
    return claims


def fingerprint(secret_hash: str) -> str:
    """A short digest of a stored hash: sessions minted before a password change stop matching."""
    return hashlib.sha256(secret_hash.encode()).hexdigest()[:16]


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None,
               path: str = "/") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="strict",
                        secure=is_https(request))


def clear_cookie(response: Response, request: Request, name: str, path: str = "/") -> None:
    response.delete_cookie(name, path=path, httponly=True, samesite="strict", secure=is_https(request))


# --- CSRF ------------------------------------------------------------------------------------------

@dataclass
class Csrf:
    """The request's CSRF cookie (made on first sight) and the form token that matches it."""

    cookie: str
    token: str
    new: bool


def csrf_for(request: Request, key: bytes) -> Csrf:
    cached = getattr(request.state, "tf_csrf", None)
    if cached is not None:
        return cached
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    new = len(cookie) < 32 or len(cookie) > 64
    if new:
        cookie = secrets.token_urlsafe(32)
    token = _b64(hmac.new(key, b"csrf|" + cookie.encode(), hashlib.sha256).digest())
    request.state.tf_csrf = Csrf(cookie, token, new)
    return request.state.tf_csrf


def rotate_csrf(request: Request, key: bytes) -> Csrf:
    """A fresh CSRF cookie (at sign-in, so a token planted before it is worthless)."""
    cookie = secrets.token_urlsafe(32)
    token = _b64(hmac.new(key, b"csrf|" + cookie.encode(), hashlib.sha256).digest())
    request.state.tf_csrf = Csrf(cookie, token, True)
    return request.state.tf_csrf


def _same_origin(request: Request) -> bool:
    """False only for a request that names another origin. Pages are served with
    ``Referrer-Policy: no-referrer``, under which browsers send ``Origin: null`` on form posts: the
    token then decides alone (it cannot be read, so it cannot be forged, from another site)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower()


def check_csrf(request: Request, key: bytes, submitted: str | None) -> None:
    """Refuse (E_FORBIDDEN) a state-changing form that did not come from our own page."""
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    expected = _b64(hmac.new(key, b"csrf|" + cookie.encode(), hashlib.sha256).digest())
    if not cookie or not isinstance(submitted, str) or not hmac.compare_digest(submitted, expected) \
            or not _same_origin(request):
        raise TrustfaceError(E_FORBIDDEN, "the form has expired or did not come from this site; reload the page "
                                          "and try again")


def safe_next(value: str | None, default: str) -> str:
    """A local path to go back to (never another site: no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 500:
        return default
    return value
