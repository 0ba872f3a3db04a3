"""The web pages: the property console (``/console``), the gate kiosk (``/kiosk/{gate_id}``) and
subject self-service (``/me``), plus a site's processing rules in words (``/notice/{site_id}``).

Server-rendered Jinja2 templates with a little plain JavaScript, every asset served by the app
(``/static/web``; no CDN: sites may be offline). Text in English and Chinese, from the browser's
language or the switch on every page. Each page parses its form, calls a
:mod:`trustface.services` function as the signed-in user and renders the answer, so the roles,
scopes and rules are those of every other door. See docs/web.md.
"""

from __future__ import annotations

from typing import Any


def mount(app: Any) -> None:
    """Add the pages and their static files to the API application."""
    from starlette.staticfiles import StaticFiles

    from trustface.web import (
        console_consent,
        console_gates,
        console_reports,
        console_residents,
        console_session,
        public,
        selfservice,
    )
    from trustface.web.render import STATIC, STATIC_PREFIX

    for module in (public, console_session, console_reports, console_residents, console_consent, console_gates,
                   selfservice):
        app.include_router(module.router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=str(STATIC)), name="web-static")


__all__ = ["mount"]
