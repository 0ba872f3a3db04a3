"""Processing-rules notices generated from a site's configuration, in Chinese and English (R4).

:func:`build_content` turns the live configuration (processor, contact, purposes with their modes,
legal basis, retention and necessity, the gates and their non-face alternatives, the profile's
guardian age) into the content of a notice with every field the validator asks for (PIPL-17,
PIPL-30, CAC-5, NDSR-21, GDPR-13, BIPA-15b). :func:`generate` stores it as the next version
through :func:`trustface.policy.sites.create_notice` (which hashes it) and optionally publishes it:
the consent flow then records that version's hash (``Consent.notice_hash``).

:func:`render_html` draws the published version as the public page
``/public/sites/{site_id}/notice.html?lang=zh|en``. It also renders notices written by hand (plain
strings): labels follow the language, the operator's text is shown as written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from html import escape

from sqlalchemy.orm import Session

from trustface.db import access_store, repo
from trustface.db.models import Gate, Notice
from trustface.errors import TrustfaceError
from trustface.policy import codes, profiles, sites
from trustface.policy._common import not_found, sha256_hex
from trustface.policy.vocab import NOTICE_FIELDS

LANGS = ("zh", "en")
FORMAT = "trustface-notice/1"

MODE_NAMES = {
    "keep_photo": {"en": "keeping your enrolment photos, sealed, only with your separate written consent",
                   "zh": "保存您的注册照片（加密），仅在您单独书面同意后"},
    "verify": {"en": "1:1 face verification (your face is compared with your own template only)",
               "zh": "人脸验证（1:1，仅与您本人的模板比对）"},
    "identify": {"en": "1:N face identification (your face is searched among the templates of people who consented)",
                 "zh": "人脸辨识（1:N，仅在已同意人员的模板中检索）"},
    "analyze": {"en": "face analysis (estimates such as an age range, never race, religion, health or similar; "
                      "no identification)",
                "zh": "人脸分析（如年龄段估计，绝不推断种族、宗教、健康等信息，不识别身份）"},
}
BASIS_NAMES = {
    "consent": {"en": "your separate consent", "zh": "您的单独同意"},
    "contract_or_hr": {"en": "necessary for a contract with you or for HR management",
                       "zh": "订立、履行合同或人力资源管理所必需"},
    "legal_duty": {"en": "a legal duty", "zh": "履行法定职责或法定义务"},
    "emergency": {"en": "an emergency protecting life, health or property", "zh": "应对突发事件，保护生命健康和财产安全"},
    "public_safety": {"en": "public safety under state rules", "zh": "依照国家规定维护公共安全"},
    "news_reporting": {"en": "news reporting within reasonable limits", "zh": "在合理范围内实施新闻报道、舆论监督"},
    "public_data": {"en": "information already made public", "zh": "处理已经合法公开的个人信息"},
    "other_law": {"en": "another ground set by law", "zh": "法律、行政法规规定的其他情形"},
}
METHOD_NAMES = {"pin": {"en": "PIN", "zh": "密码"}, "card": {"en": "card", "zh": "门禁卡"},
                "qr": {"en": "QR code", "zh": "二维码"}, "visitor_pass": {"en": "visitor pass", "zh": "访客通行证"},
                "face": {"en": "face", "zh": "人脸"}}
SITE_TYPES = {"residential": {"en": "residential community", "zh": "住宅小区"},
              "business": {"en": "business premises", "zh": "经营场所"}, "public": {"en": "public place", "zh": "公共场所"},
              "workplace": {"en": "workplace", "zh": "工作场所"}, "education": {"en": "school", "zh": "教育场所"},
              "online": {"en": "online service", "zh": "线上服务"}}
LABELS = {
    "title": {"en": "Face information processing rules", "zh": "人脸信息处理规则"},
    "minors_title": {"en": "Processing rules for minors' face information", "zh": "未成年人人脸信息处理规则"},
    "controller": {"en": "Processor", "zh": "个人信息处理者"},
    "contact": {"en": "Contact", "zh": "联系方式"},
    "purposes": {"en": "Purposes, methods, legal basis and retention", "zh": "处理目的、方式、依据与保存期限"},
    "methods": {"en": "How your face is processed", "zh": "处理方式"},
    "categories": {"en": "What is processed", "zh": "处理的个人信息种类"},
    "retention": {"en": "How long it is kept", "zh": "保存期限"},
    "on_expiry_action": {"en": "When the period ends", "zh": "期限届满后的处理"},
    "necessity": {"en": "Why it is necessary", "zh": "处理的必要性"},
    "impact": {"en": "Impact on your rights and how it is limited", "zh": "对个人权益的影响及保护措施"},
    "alternatives": {"en": "Ways in without your face", "zh": "不使用人脸的替代方式"},
    "rights_procedure": {"en": "Your rights and how to use them", "zh": "个人权利及行使方式"},
    "withdrawal": {"en": "Withdrawing your consent", "zh": "撤回同意"},
    "minors": {"en": "Children and minors", "zh": "未成年人"},
    "version": {"en": "Version", "zh": "版本"},
    "published": {"en": "Published", "zh": "发布时间"},
    "hash": {"en": "Content hash (recorded with each consent)", "zh": "内容哈希（随每项同意记录）"},
    "site": {"en": "Site", "zh": "场所"},
    "days": {"en": "days", "zh": "天"},
    "basis": {"en": "basis", "zh": "依据"},
    "kept": {"en": "kept", "zh": "保存"},
    "other_language": {"en": "中文版", "zh": "English"},
}
ORDER = ("controller", "contact", "purposes", "methods", "categories", "retention", "on_expiry_action", "necessity",
         "impact", "alternatives", "rights_procedure", "withdrawal", "minors")


def _both(en: str, zh: str) -> dict:
    return {"en": en, "zh": zh}


#: the fixed sentences of every notice, (English, Chinese)
CATEGORIES = (
    "a face template (128 numbers computed from a photo, transformed with a site key and encrypted); the photo "
    "itself is discarded at once and never stored; your age or age band; the record of your consent",
    "人脸特征模板（由照片计算出的128个数值，经场所密钥变换并加密）；照片在提取特征后立即丢弃，不予保存；"
    "您的年龄或年龄段；您的同意记录")
ON_EXPIRY = (
    "your template and its key are deleted and a deletion certificate is written to the tamper-evident audit "
    "trail; a backup made before the deletion still holds the template, encrypted, until that backup is "
    "deleted, but the deletion is also recorded in an erasure log kept outside the database, and restoring "
    "such a backup with the system's restore command deletes the template again before the system is used",
    "删除您的人脸模板及其密钥，并在防篡改审计记录中写入删除证明；删除前制作的备份在该备份被删除前仍保存加密的模板，"
    "但删除操作同时记录在数据库之外的删除日志中，使用系统的恢复命令恢复此类备份时，会在系统重新使用前再次删除该模板")
WITHDRAWAL = (
    "withdraw at any time, through the same channel you used to consent and in as few steps; face processing "
    "stops at once and your template is deleted; processing before withdrawal stays valid",
    "您可随时通过同意时的同一渠道、以不多于同意的步骤撤回同意；撤回后立即停止人脸处理并删除您的模板；"
    "撤回前基于同意的处理不受影响")


def _budget_sentences(gates: Sequence[Gate], where: str) -> tuple[str, str]:
    """What the face gates' stranger-admission budgets promise (issue 16), (English, Chinese); empty
    without a face gate."""
    budgets = sorted({g.fpir_budget for g in gates if "face" in g.methods.split(",")})
    if not budgets:
        return "", ""
    odds = " or ".join(f"1 in {round(1 / b):,}" for b in budgets)
    en = (f" At {where} the chance that a stranger's face is taken for a resident's is held at or under "
          f"{odds} per attempt, however many residents are enrolled: the match threshold tightens as the "
          "gallery grows, so more residents may be asked to use another way in.")
    zh = (f"在{where}，陌生人被误认为住户的概率控制在每次不超过{'或'.join(f'{round(1 / b):,}分之一' for b in budgets)}，"
          "无论录入多少住户；随着录入人数增加，比对阈值相应收紧，因此可能有更多住户需要改用其他方式通行。")
    return en, zh


def build_content(session: Session, site_id: str, kind: str = "general") -> dict:
    """The notice content for a site, from its live configuration, in both languages."""
    site = sites.get_site(session, site_id)
    tenant = repo.tenant(session, site.tenant_id)
    if tenant is None:  # the foreign key makes this unreachable short of a damaged database
        raise not_found("tenant", site.tenant_id)
    profile = profiles.load(site.jurisdiction)
    purposes = repo.purposes_of_site(session, site_id)
    if not purposes:
        raise TrustfaceError(codes.E_NOTICE_NOT_SHOWN, "the site declares no purpose yet: nothing to announce",
                             ("R4", "SPC-2(2)"))
    gates = access_store.gates_of_site(session, site_id)
    alternatives = sorted({m for g in gates for m in g.methods.split(",") if m != "face"},
                          key=lambda m: list(METHOD_NAMES).index(m))
    face_gates = [g.name for g in gates if "face" in g.methods.split(",")]
    modes = list(dict.fromkeys(m for p in purposes for m in p.allowed_modes.split(",")))
    guardian_age = profile.guardian_age_for(site.guardian_age)
    inactivity = profile.inactivity_limit_days
    where = ", ".join(face_gates)

    def per_purpose(lang: str, fn) -> str:
        return "; ".join(f"{p.name}: {fn(p, lang)}" for p in purposes)

    budget_en, budget_zh = _budget_sentences(gates, where)
    alt_en = ", ".join(METHOD_NAMES[m]["en"] for m in alternatives) or "a staffed desk"
    alt_zh = "、".join(METHOD_NAMES[m]["zh"] for m in alternatives) or "人工服务台"
    content = {
        "format": FORMAT,
        "kind": kind,
        "languages": list(LANGS),
        "site": {"id": site.id, "name": site.name, "site_type": site.site_type, "jurisdiction": site.jurisdiction},
        "controller": tenant.name,
        "contact": tenant.contact,
        "purposes": [{"name": p.name, "modes": p.allowed_modes.split(","), "legal_basis": p.legal_basis,
                      "retention_days": p.retention_days, "necessity": p.necessity_justification,
                      "ends_at": p.ends_at.isoformat() if p.ends_at else None} for p in purposes],
        "methods": _both(
            "; ".join(MODE_NAMES[m]["en"] for m in modes) + (f"; at {where}" if where else "")
            + ". Templates are matched on this site's own server; nothing is sent to other parties.",
            "；".join(MODE_NAMES[m]["zh"] for m in modes) + (f"；使用地点：{where}" if where else "")
            + "。模板仅在本场所服务器上比对，不向任何第三方提供。"),
        "categories": _both(*CATEGORIES),
        "retention": _both(
            per_purpose("en", lambda p, _: f"{p.retention_days} days from your consent")
            + f", or until you withdraw, or {inactivity} days after you last used it, whichever comes first",
            per_purpose("zh", lambda p, _: f"自同意之日起{p.retention_days}天")
            + f"，或至您撤回同意时，或自您最后一次使用起{inactivity}天，以先到者为准"),
        "on_expiry_action": _both(*ON_EXPIRY),
        "necessity": _both(
            per_purpose("en", lambda p, lang: f"{p.necessity_justification} (legal basis: "
                                              f"{BASIS_NAMES[p.legal_basis]['en']})"),
            per_purpose("zh", lambda p, lang: f"{p.necessity_justification}（处理依据：{BASIS_NAMES[p.legal_basis]['zh']}）")),
        "impact": _both(
            "face information is sensitive personal information: unlike a password it cannot be changed if it leaks, "
            "and mistaken matches can happen. To limit this, face recognition is optional, only templates are kept, "
            "encrypted, matched only against people who consented, never sold or shared, and every use is logged."
            + budget_en,
            "人脸信息属于敏感个人信息，一旦泄露无法像密码一样更换，且可能出现误识别。为此：人脸识别为自愿选择；"
            "仅保存加密的特征模板；仅在已同意人员范围内比对；不出售、不向他人提供；每次使用均记录在案。" + budget_zh),
        "alternatives": _both(
            f"face recognition is never the only way in: every gate also takes {alt_en}; declining costs you nothing",
            f"人脸识别绝非唯一通行方式：每个出入口均可使用{alt_zh}；拒绝人脸识别不影响您享受任何服务"),
        "rights_procedure": _both(
            f"you may ask to see or copy your data, correct it (re-enrol), delete it, restrict its use, have these "
            f"rules explained, or complain: contact {tenant.contact}; we answer within 15 working days",
            f"您可以查阅、复制、更正（重新录入）、删除您的信息，限制其使用，要求解释本规则，或提出投诉："
            f"请联系 {tenant.contact}；我们将在15个工作日内答复"),
        "withdrawal": _both(*WITHDRAWAL),
        "minors": _both(
            f"under {guardian_age}: face information is processed only with the separate, verified consent of a "
            f"{profile.guardian_title}, under dedicated minors' rules; a parent or guardian may ask for deletion at any time",
            f"未满{guardian_age}周岁的未成年人：仅在其父母或其他监护人经核验的单独同意下，依照专门的未成年人"
            f"个人信息处理规则处理；监护人可随时要求删除"),
    }
    missing = [f for f in NOTICE_FIELDS if not content.get(f)]
    assert not missing, missing  # every required field is generated
    content["generated_from"] = sha256_hex({k: content[k] for k in ("site", "controller", "contact", "purposes")}
                                           | {"gates": [[g.name, g.methods] + _budget_if_set(g) for g in gates]})
    return content


def _budget_if_set(gate) -> list:
    """A gate's stranger-admission budget where it is not the default (the default leaves the hash of
    notices generated before budgets existed unchanged)."""
    from trustface.engine.open_set import DEFAULT_FPIR_BUDGET

    return [] if gate.fpir_budget == DEFAULT_FPIR_BUDGET else [gate.fpir_budget]


def generate(session: Session, site_id: str, *, kind: str = "general", publish: bool = False, actor: str,
             now: dt.datetime | None = None) -> Notice:
    """Store the generated notice as the site's next version (and publish it if asked). If the
    current published version already has exactly this content, it is returned unchanged."""
    content = build_content(session, site_id, kind)
    current = repo.current_notice(session, site_id, kind)
    if current is not None and current.content_hash == sha256_hex(content):
        return current
    notice = sites.create_notice(session, site_id=site_id, content=content, kind=kind, actor=actor, now=now)
    if publish:
        sites.publish_notice(session, notice_id=notice.id, actor=actor, now=now)
    return notice


def _pick(value, lang: str):
    if isinstance(value, dict) and set(value) & set(LANGS) and all(isinstance(v, str) for v in value.values()):
        return value.get(lang) or value.get("en") or next(iter(value.values()))
    return value


def _purpose_line(p: dict, lang: str) -> str:
    modes = ("、" if lang == "zh" else ", ").join(
        MODE_NAMES.get(m, {}).get(lang, m).split("（" if lang == "zh" else " (")[0] for m in p.get("modes", []))
    basis_id = str(p.get("legal_basis", ""))
    basis = BASIS_NAMES.get(basis_id, {}).get(lang, basis_id)
    days = p.get("retention_days")
    if lang == "zh":
        return f"{p.get('name')}：{modes}；依据：{basis}；保存{days}天"
    return f"{p.get('name')}: {modes}; basis: {basis}; kept {days} days"


def _render_value(key: str, value, lang: str) -> str:
    value = _pick(value, lang)
    if key == "purposes" and isinstance(value, list):
        items = [_purpose_line(v, lang) if isinstance(v, dict) else str(v) for v in value]
        return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
    if isinstance(value, list):
        return "<ul>" + "".join(f"<li>{escape(str(_pick(v, lang)))}</li>" for v in value) + "</ul>"
    if isinstance(value, dict):
        return escape(json.dumps(value, ensure_ascii=False))
    return f"<p>{escape(str(value))}</p>"


def render_html(notice: Notice, site, lang: str = "zh") -> str:
    """The published notice as a public web page in ``lang`` (zh | en)."""
    if lang not in LANGS:
        raise TrustfaceError("E_INVALID_ARGUMENT", f"lang must be one of {', '.join(LANGS)}")
    content = json.loads(notice.content)
    L = {k: v[lang] for k, v in LABELS.items()}
    title = L["minors_title"] if notice.kind == "minors" else L["title"]
    keys = [k for k in ORDER if content.get(k)] + sorted(
        k for k in content if k in NOTICE_FIELDS and k not in ORDER and content.get(k))
    sections = "".join(f"<section><h2>{escape(L.get(k, k.replace('_', ' ')))}</h2>{_render_value(k, content[k], lang)}"
                       f"</section>" for k in keys)
    other = "en" if lang == "zh" else "zh"
    site_type = SITE_TYPES.get(site.site_type, {}).get(lang, site.site_type)
    published = notice.published_at.isoformat() if notice.published_at else "—"
    return f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · {escape(site.name)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; max-width: 46rem;
       margin: 0 auto; padding: 1rem; line-height: 1.6; font-size: 1.05rem; color: #1b1b1b; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.1rem; margin-bottom: 0.2rem; }}
.meta {{ color: #444; font-size: 0.9rem; }} code {{ word-break: break-all; }}
</style></head><body>
<p><a href="?lang={other}&amp;kind={escape(notice.kind)}" hreflang="{other}">{escape(L['other_language'])}</a></p>
<h1>{escape(title)}</h1>
<p class="meta">{escape(L['site'])}: {escape(site.name)} ({escape(site_type)}) · {escape(L['version'])} {notice.version}
 · {escape(L['published'])}: {escape(published)}<br>{escape(L['hash'])}: <code>{escape(notice.content_hash)}</code></p>
{sections}
</body></html>
"""


def render_current(session: Session, site_id: str, *, lang: str = "zh", kind: str = "general") -> str:
    """The site's current published notice of ``kind`` as HTML, or E_NOT_FOUND."""
    site = repo.site(session, site_id)
    notice = repo.current_notice(session, site_id, kind) if site is not None else None
    if notice is None:
        raise TrustfaceError(codes.E_NOT_FOUND, f"site {site_id!r} has no published {kind} notice")
    return render_html(notice, site, lang)
