"""The web pages: the property console (``/console``), the gate kiosk (``/kiosk/{gate_id}``) and
subject self-service (``/me``), plus a site's processing rules in words (``/notice/{site_id}``).

Server-rendered Jinja2 templates with a little plain JavaScript, every asset served by the app
(``/static/web``; no CDN: sites may be offline). Text in English and Chinese, from the browser's
language or the switch on every page. The pages call the API's own route functions, so the roles,
scopes and rules are the API's. See docs/web.md.
"""

from __future__ import annotations


def mount(app) -> None:
    """Add the pages and their static files to the API application."""
    from starlette.staticfiles import StaticFiles

    from trustface.web import console, public, selfservice
    from trustface.web.render import STATIC, STATIC_PREFIX

    for module in (public, console, selfservice):
        app.include_router(module.router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=str(STATIC)), name="web-static")


__all__ = ["mount"]
