"""Small inline SVG charts for the reports (no plotting library; WeasyPrint and browsers draw them).

Each function returns an ``<svg>`` string with its own ``font-family`` (WeasyPrint needs it on
``<text>``), a ``<title>`` for screen readers, and an empty-state sentence instead of a blank box.
"""

from __future__ import annotations

from html import escape

FONT = "Noto Sans CJK SC, Noto Sans, DejaVu Sans, sans-serif"
COLORS = {"pass": "#2e7d32", "warn": "#f2a900", "fail": "#c62828", "current": "#2e7d32",
          "active_not_current": "#f2a900", "ended": "#9e9e9e", "refused": "#5c6bc0",
          "granted": "#1565c0", "denied": "#c62828"}
WIDTH = 640


def _svg(height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img" font-family="{FONT}" font-size="12">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def _text(x, y, s, anchor="start", size=12, fill="#222", weight="normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}" '
            f'font-weight="{weight}" font-family="{FONT}">{escape(str(s))}</text>')


def _legend(items: list[tuple[str, str]], y: int) -> list[str]:
    out, x = [], 8
    for key, label in items:
        out.append(f'<rect x="{x}" y="{y - 10}" width="10" height="10" fill="{COLORS[key]}"/>')
        out.append(_text(x + 14, y, label, size=11))
        x += 22 + 7 * len(label)
    return out


def _stacked(y: int, x0: float, width: float, parts: list[tuple[str, int]], total: int, h: int = 16) -> list[str]:
    out, x = [], x0
    out.append(f'<rect x="{x0:.1f}" y="{y}" width="{width:.1f}" height="{h}" fill="#f1f1f1"/>')
    for key, value in parts:
        if value <= 0 or total <= 0:
            continue
        w = width * value / total
        out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}" fill="{COLORS[key]}">'
                   f"<title>{escape(key)}: {value}</title></rect>")
        if w > 18:
            out.append(_text(x + w / 2, y + h - 4, value, anchor="middle", size=10, fill="#fff"))
        x += w
    return out


def status_bar(counts: dict[str, int]) -> str:
    """One stacked bar: how many checks passed, warned, failed."""
    total = sum(counts.get(k, 0) for k in ("pass", "warn", "fail"))
    body = _stacked(6, 8, WIDTH - 16, [(k, counts.get(k, 0)) for k in ("pass", "warn", "fail")], total, h=22)
    body += _legend([("pass", f"pass {counts.get('pass', 0)}"), ("warn", f"warn {counts.get('warn', 0)}"),
                     ("fail", f"fail {counts.get('fail', 0)}")], 48)
    return _svg(56, f"Checks: {counts.get('pass', 0)} pass, {counts.get('warn', 0)} warn, {counts.get('fail', 0)} fail",
                body)


def consent_coverage(rows: list[dict]) -> str:
    """Per purpose and mode: people with a current consent, an active but stale one, an ended one,
    a refusal; the bar's full length is the site's people."""
    if not rows:
        return _svg(30, "Consent coverage: no purposes", [_text(8, 20, "No purposes declared yet.")])
    label_w, row_h = 190, 26
    height = 18 + row_h * len(rows) + 24
    body = [_text(8, 12, "Consent coverage per purpose and mode · 各目的与方式的同意覆盖率", size=11, weight="bold")]
    for n, r in enumerate(rows):
        y = 20 + n * row_h
        total = max(r["people"], r["current"] + r["active_not_current"] + r["ended"] + r["refused"], 1)
        body.append(_text(8, y + 12, f"{r['purpose']} · {r['mode']}", size=11))
        body += _stacked(y, label_w, WIDTH - label_w - 70,
                         [("current", r["current"]), ("active_not_current", r["active_not_current"]),
                          ("ended", r["ended"]), ("refused", r["refused"])], total)
        share = r["current"] / r["people"] if r["people"] else 0
        body.append(_text(WIDTH - 8, y + 12, f"{r['current']}/{r['people']} ({share:.0%})", anchor="end", size=11))
    body += _legend([("current", "current"), ("active_not_current", "stale"), ("ended", "ended"),
                     ("refused", "refused")], height - 6)
    return _svg(height, "Consent coverage per purpose and mode", body)


def access_by_method(by_method: dict[str, dict[str, int]]) -> str:
    """Share of gate decisions by method (face, PIN, card, QR, visitor pass), granted and denied."""
    if not by_method:
        return _svg(30, "Access by method: none yet", [_text(8, 20, "No gate decisions recorded yet.")])
    total = sum(v["granted"] + v["denied"] for v in by_method.values())
    label_w, row_h = 110, 26
    height = 18 + row_h * len(by_method) + 24
    top = max(v["granted"] + v["denied"] for v in by_method.values())
    body = [_text(8, 12, "Share of gate decisions by method · 各通行方式占比", size=11, weight="bold")]
    for n, (method, v) in enumerate(by_method.items()):
        y = 20 + n * row_h
        count = v["granted"] + v["denied"]
        width = (WIDTH - label_w - 90) * count / top
        body.append(_text(8, y + 12, method.replace("_", " "), size=11))
        body += _stacked(y, label_w, max(width, 1), [("granted", v["granted"]), ("denied", v["denied"])], count)
        body.append(_text(WIDTH - 8, y + 12, f"{count} ({count / total:.0%})", anchor="end", size=11))
    body += _legend([("granted", "granted"), ("denied", "denied")], height - 6)
    return _svg(height, "Share of gate decisions by method", body)
