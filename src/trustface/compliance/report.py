"""Assessment reports: JSON for machines, HTML that reads and prints well, PDF through WeasyPrint.

The HTML is self-contained (inline CSS and SVG charts, no scripts, no external fetches) and
bilingual where it names things (English with Chinese titles). The PDF is the same HTML with
print rules; Chinese needs a CJK font on the machine (Debian: ``fonts-noto-cjk``; WeasyPrint
subsets fonts fast with ``libharfbuzz-subset0``). See docs/compliance.md.
"""

from __future__ import annotations

import json
from html import escape

from trustface.compliance import charts, packs
from trustface.errors import TrustfaceError
from trustface.policy import codes

FORMATS = ("json", "html", "pdf")
STATUS_ZH = {"pass": "通过", "warn": "警告", "fail": "不通过"}
CSS = """
@page { size: A4; margin: 14mm 12mm 16mm 12mm;
        @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt; color: #666; }
        @bottom-left { content: "trustface compliance self-assessment"; font-size: 8pt; color: #666; } }
html { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Noto Sans", "DejaVu Sans", sans-serif; font-size: 10pt;
       color: #1b1b1b; line-height: 1.4; }
body { max-width: 60rem; margin: 0 auto; padding: 0 1rem; }
h1 { font-size: 18pt; margin: 0.2em 0; } h1 .zh { font-size: 13pt; color: #444; display: block; }
h2 { font-size: 13pt; border-bottom: 2px solid #ddd; padding-bottom: 2px; margin-top: 1.4em; }
h3 { font-size: 11pt; margin: 0 0 0.3em 0; }
.meta { color: #444; font-size: 9pt; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; }
th, td { border: 1px solid #ddd; padding: 3px 5px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } tr { page-break-inside: avoid; } thead { display: table-header-group; }
.badge { display: inline-block; white-space: nowrap; padding: 1px 7px; border-radius: 8px; color: #fff;
         font-weight: bold; font-size: 8.5pt; }
.pass { background: #2e7d32; } .warn { background: #b07d00; } .fail { background: #c62828; }
.finding { border: 1px solid #ddd; border-left: 5px solid #999; padding: 6px 10px; margin: 8px 0;
           page-break-inside: avoid; }
.finding.s-pass { border-left-color: #2e7d32; } .finding.s-warn { border-left-color: #f2a900; }
.finding.s-fail { border-left-color: #c62828; }
.reqs { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; color: #333; }
ul.evidence { list-style: none; padding: 0; margin: 4px 0; font-size: 8.5pt; }
ul.evidence li { margin: 0; word-break: break-word; } ul.evidence .k { color: #555; }
.fix { background: #f7f7f2; padding: 3px 6px; font-size: 9pt; }
.charts svg { display: block; margin: 6px 0; max-width: 100%; height: auto; }
footer { margin-top: 2em; font-size: 8pt; color: #666; }
@media print { a { color: inherit; text-decoration: none; } }
"""


def render_json(assessment: dict) -> str:
    return json.dumps(assessment, indent=2, ensure_ascii=False, default=str) + "\n"


def _value(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        if not v:
            return "none"
        if all(isinstance(x, (str, int, float)) for x in v):
            return ", ".join(str(x) for x in v)
        return json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, default=str, separators=(", ", ": "))
    return str(v)


def _badge(status: str) -> str:
    return f'<span class="badge {status}">{status.upper()} · {STATUS_ZH[status]}</span>'


def _finding(f: dict) -> str:
    ev = dict(f["evidence"])
    summary = ev.pop("summary", "")
    rows = "".join(f'<li><span class="k">{escape(k.replace("_", " "))}:</span> {escape(_value(v))}</li>'
                   for k, v in ev.items())
    return (f'<div class="finding s-{f["status"]}" id="{escape(f["id"])}">'
            f'<h3>{_badge(f["status"])} {escape(f["title"])} <span class="zh">· {escape(f["title_zh"])}</span></h3>'
            f'<div class="reqs">{escape(f["id"])} · severity {escape(f["severity"])} · '
            f'{escape(", ".join(f["requirements"]))}</div>'
            f"<p><strong>Evidence · 证据：</strong>{escape(summary)}</p>"
            f'<ul class="evidence">{rows}</ul>'
            f'<p class="fix"><strong>{"Remedy if it fails · 未通过时的整改" if f["status"] == "pass" else "Fix · 整改"}'
            f'：</strong>{escape(f["fix"])}</p></div>')


def render_html(assessment: dict) -> str:
    site = assessment["site"]
    s = assessment["summary"]
    regimes = ", ".join(r["id"] for r in assessment["regimes"])
    table = "".join(
        f'<tr><td><a href="#{escape(f["id"])}">{escape(f["id"])}</a></td>'
        f'<td>{escape(f["title"])}<br><span class="zh">{escape(f["title_zh"])}</span></td>'
        f'<td>{_badge(f["status"])}</td><td class="reqs">{escape(", ".join(f["requirements"]))}</td></tr>'
        for f in assessment["findings"])
    rule_rows = []
    for r in assessment["regimes"]:
        for rule in packs.load(r["id"]).rules:
            if rule.applies_to(site["site_type"]):
                rule_rows.append(f"<tr><td>{escape(r['id'])}</td><td class=\"reqs\">{escape(rule.id)}</td>"
                                 f"<td>{escape(rule.title)}</td><td>{escape(rule.check)}</td>"
                                 f"<td>{escape(rule.severity)}</td></tr>")
    regime_list = "".join(f"<li>{escape(r['title'])} · {escape(r['title_zh'])} ({escape(r['id'])})</li>"
                          for r in assessment["regimes"])
    m = assessment["metrics"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Compliance self-assessment · {escape(site['name'])}</title>
<style>{CSS}</style></head>
<body>
<header>
<h1>Compliance self-assessment <span class="zh" lang="zh-CN">人脸识别合规自评估报告</span></h1>
<p class="meta">Site · 场所: <strong>{escape(site['name'])}</strong> ({escape(site['id'])}) · type {escape(site['site_type'])}
 · profile {escape(site['jurisdiction'])} · processor · 处理者: {escape(site.get('tenant') or '')}<br>
Generated · 生成时间: {escape(assessment['generated_at'])} · regimes · 适用规则: {escape(regimes)}</p>
</header>
<section><h2>Summary · 摘要</h2>
<p>Verdict · 结论: {_badge(s['verdict'])} — {s['pass']} pass, {s['warn']} warn, {s['fail']} fail
 of {len(assessment['findings'])} checks.</p>
<div class="charts">{charts.status_bar(s)}{charts.consent_coverage(m['consent_coverage'])}\
{charts.access_by_method(m['access_by_method'])}</div>
<table><thead><tr><th>Check</th><th>Title · 标题</th><th>Status · 状态</th><th>Requirements · 依据</th></tr></thead>
<tbody>{table}</tbody></table>
</section>
<section><h2>Findings and evidence · 检查结果与证据</h2>
{''.join(_finding(f) for f in assessment['findings'])}
</section>
<section><h2>Rule packs applied · 适用规则包</h2><ul>{regime_list}</ul>
<table><thead><tr><th>Regime</th><th>ID</th><th>Rule</th><th>Check</th><th>Severity</th></tr></thead>
<tbody>{''.join(rule_rows)}</tbody></table></section>
<footer>{escape(assessment.get('disclaimer', ''))} 本报告依据系统实时状态生成，仅为工程证据，不构成法律意见。</footer>
</body></html>
"""


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of an HTML page (WeasyPrint; fonts from the machine's fontconfig)."""
    from PIL import ImageFile

    # WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES on import; trustface.imaging relies
    # on it staying False (truncated uploads are refused), and our reports embed no raster images
    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: pango/cairo libraries missing
        raise TrustfaceError(codes.E_DEPLOYMENT, f"PDF output needs WeasyPrint and its libraries: {exc}") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated
    return weasyprint.HTML(string=html).write_pdf()


def render_pdf(assessment: dict) -> bytes:
    return html_to_pdf(render_html(assessment))


def render(assessment: dict, fmt: str) -> bytes:
    """The report in ``fmt`` (json | html | pdf) as bytes."""
    if fmt == "json":
        return render_json(assessment).encode("utf-8")
    if fmt == "html":
        return render_html(assessment).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(assessment)
    raise TrustfaceError("E_INVALID_ARGUMENT", f"format must be one of {', '.join(FORMATS)}")
