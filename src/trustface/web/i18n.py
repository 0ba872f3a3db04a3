"""Page text in English and Chinese (Simplified), chosen from the ``tf_lang`` cookie (the switch on
every page) or else the browser's Accept-Language. Error messages from the services are English
sentences; the common codes have Chinese words here, the rest fall back to the English sentence.
"""

from __future__ import annotations

from typing import Any

from trustface.web import i18n_factor

LANGS = ("en", "zh")
DEFAULT = "en"

T: dict[str, tuple[str, str]] = {
    # general
    "app_name": ("trustface", "trustface"),
    "skip_to_content": ("Skip to content", "跳到正文"),
    "language": ("Language", "语言"),
    "console": ("Property console", "物业控制台"),
    "console_menu": ("Console menu", "控制台菜单"),
    "self_service": ("My face data", "我的人脸数据"),
    "could_not": ("Not done:", "未完成："),
    "error_title": ("Something is not right", "出现问题"),
    "go_back": ("Go back", "返回"),
    "yes": ("yes", "是"), "no": ("no", "否"),
    "show": ("Show", "显示"),
    "continue": ("Continue", "继续"),
    "sign_in": ("Sign in", "登录"),
    "sign_out": ("Sign out", "退出"),
    "sign_in_title": ("Sign in to the property console", "登录物业控制台"),
    "sign_in_help": ("Use the e-mail and password your administrator set up for you.",
                     "请使用管理员为您设置的邮箱和密码。"),
    "signed_out": ("You are signed out.", "您已退出。"),
    "email": ("E-mail", "邮箱"),
    "password": ("Password", "密码"),
    "role_admin": ("administrator", "管理员"),
    "role_operator": ("operator", "操作员"),
    "role_auditor": ("auditor", "审计员"),
    "nav_overview": ("Overview", "概览"),
    "nav_residents": ("Residents", "住户"),
    "nav_gates": ("Gates", "门禁"),
    "nav_log": ("Access log", "通行记录"),
    "nav_audit": ("Audit chain", "审计链"),
    "overview_title": ("Your sites", "您的场所"),
    "no_sites": ("No sites yet: create one through the API or the command line.",
                 "尚无场所：请通过 API 或命令行创建。"),
    "site": ("Site", "场所"),
    "site_type": ("Type", "类型"),
    "site_type_residential": ("residential", "住宅小区"),
    "site_type_business": ("business", "经营场所"),
    "site_type_public": ("public place", "公共场所"),
    "site_type_workplace": ("workplace", "工作场所"),
    "site_type_education": ("education", "教育机构"),
    "site_type_online": ("online", "线上"),
    "notice_version": ("Processing rules", "处理规则"),
    "version_n": ("version {n}", "第 {n} 版"),
    "no_notice": ("none published: face processing is off", "未发布：人脸处理已关闭"),
    "signage": ("Signs posted", "已张贴提示标识"),
    "purposes": ("Purposes", "处理目的"),
    "purpose": ("Purpose", "目的"),
    "purpose_door_access": ("door access", "门禁通行"),
    "mode": ("Mode", "方式"),
    "mode_verify": ("verify (1:1)", "核验（1:1）"),
    "mode_identify": ("identify (1:N)", "辨识（1:N）"),
    "mode_analyze": ("analyse", "分析"),
    "mode_keep_photo": ("keep my photo (written consent)", "保存本人照片（书面同意）"),
    "status": ("Status", "状态"),
    "action": ("Action", "操作"),
    "status_active": ("consented", "已同意"),
    "status_withdrawn": ("withdrawn", "已撤回"),
    "status_declined": ("declined", "已拒绝"),
    "status_expired": ("expired", "已过期"),
    "status_superseded": ("replaced", "已更新"),
    "status_none": ("not asked", "未询问"),
    # residents
    "residents_title": ("Residents of {site}", "{site} 的住户"),
    "residents_list": ("Residents ({n})", "住户（{n}）"),
    "residents_caption": ("Residents and their face consent per purpose and mode",
                          "住户及其按目的和方式的人脸同意状态"),
    "resident": ("Resident", "住户"),
    "unnamed": ("(no name recorded)", "（未登记姓名）"),
    "no_residents": ("No residents registered yet.", "尚未登记住户。"),
    "next_page": ("Next page", "下一页"),
    "ways_in": ("Ways in", "通行方式"),
    "add_resident": ("Register a resident", "登记住户"),
    "add_resident_help": ("Only what the desk needs: a name, a unit, and an age check. Face consent is asked "
                          "separately, on its own screen.",
                          "只登记前台需要的信息：姓名、房号和年龄核对。人脸同意在单独的页面另行询问。"),
    "display_name": ("Name", "姓名"),
    "unit_ref": ("Unit or reference", "房号或编号"),
    "age": ("Age", "年龄"),
    "age_adult": ("18 or older", "18 岁及以上"),
    "age_birth_date": ("Younger, or not sure: enter the date of birth", "未满 18 岁或不确定：填写出生日期"),
    "birth_date": ("Date of birth", "出生日期"),
    "resident_added": ("Resident registered. Ask about face entry below, or issue a PIN or card.",
                       "住户已登记。可在下方询问是否使用刷脸通行，或发放密码或门卡。"),
    "pseudonymous_id": ("Pseudonymous id", "匿名编号"),
    "minor": ("a minor: a guardian consents", "未成年人：须由监护人同意"),
    "suspended_suspend": ("processing suspended", "处理已暂停"),
    "suspended_restrict": ("processing restricted", "处理已限制"),
    "face_consent": ("Face consent", "人脸识别同意"),
    "face_consent_help": ("One separate choice per purpose and mode. Nobody needs a face to get in.",
                          "每个目的和方式单独选择。任何人无需刷脸也能通行。"),
    "withdraw": ("Withdraw", "撤回"),
    "withdraw_now": ("Withdraw", "撤回同意"),
    "withdrawn_done": ("Consent withdrawn. The face template is deleted; the other ways in keep working.",
                       "同意已撤回。人脸模板已删除，其他通行方式照常有效。"),
    "ask_consent": ("Ask for consent", "询问是否同意"),
    "declined_cooldown": ("Declined recently: do not ask again unless the resident asks.",
                          "近期已拒绝：除非住户主动提出，请勿再次询问。"),
    "resident_asks": ("The resident asks for it", "住户主动申请"),
    "consent_recorded": ("Consent recorded. Now enrol a photo.", "同意已记录。现在可以录入照片。"),
    "enrol_title": ("Enrol a photo", "录入照片"),
    "enrol_help": ("One clear photo of the face. The photo is not kept: only an encrypted template is stored.",
                   "一张清晰的正脸照片。照片不会保存，只保存加密的人脸模板。"),
    "enrol_needs_consent": ("Enrolment needs the resident's face consent first.", "录入前须先取得住户的人脸同意。"),
    "enrol_for": ("Enrol for", "录入用于"),
    "photo": ("Photo", "照片"),
    "use_camera": ("Use the camera instead", "改用摄像头拍照"),
    "take_photo": ("Take the photo", "拍照"),
    "photo_taken": ("Photo taken from the camera.", "已用摄像头拍照。"),
    "camera_failed": ("The camera cannot be used here; choose a photo file.", "此处无法使用摄像头，请选择照片文件。"),
    "camera_preview": ("Camera preview", "摄像头画面"),
    "enrol_button": ("Enrol", "录入"),
    "enrolled": ("Enrolled: {n} template(s). The photo was not kept.", "已录入 {n} 个模板。照片未保存。"),
    "templates_held": ("Templates held:", "已存模板："),
    "ways_in_title": ("Ways in without a face", "无需刷脸的通行方式"),
    "ways_in_help": ("A PIN or a card opens every gate. Issue one to anyone who declines or withdraws face entry.",
                     "密码或门卡可以打开所有门。拒绝或撤回刷脸的住户都应获得其中一种。"),
    "declined_banner": ("Face declined and recorded. Issue a PIN or register a card now.",
                        "已记录拒绝使用人脸。请现在发放密码或登记门卡。"),
    "declined_me": ("Recorded: you declined. Your PIN or card keeps working.", "已记录您的拒绝。您的密码或门卡照常有效。"),
    "no_credentials": ("No PIN or card yet.", "尚无密码或门卡。"),
    "issue_pin": ("Generate a PIN", "生成密码"),
    "card_number": ("Card number", "卡号"),
    "register_card": ("Register the card", "登记门卡"),
    "pin_issued": ("New PIN for the resident:", "住户的新密码："),
    "card_registered": ("Card registered.", "门卡已登记。"),
    "shown_once_help": ("Shown only this once: it is stored only in a form nobody can read back.",
                        "仅显示这一次：系统只以无法还原的形式保存。"),
    "cred_pin": ("PIN", "密码"), "cred_card": ("card", "门卡"), "cred_qr": ("QR code", "二维码"),
    "cred_visitor_pass": ("visitor pass", "访客通行证"),
    "self_service_title": ("Self-service link", "自助服务链接"),
    "self_service_help": ("A private link for the resident to see what is held, withdraw, download the evidence or "
                          "ask for erasure. It works for 30 days.",
                          "住户专用链接：查看所存信息、撤回同意、下载证据或申请删除。有效期 30 天。"),
    "make_link": ("Make a self-service link", "生成自助服务链接"),
    "link_title": ("Self-service link", "自助服务链接"),
    "link_help": ("Give this link to the resident (print it or send it to their phone).",
                  "请将此链接交给住户（打印或发送到手机）。"),
    # consent screen
    "consent_title_short": ("Face consent", "人脸识别同意"),
    "consent_title": ("Face recognition for {purpose}: {mode}", "用于{purpose}的人脸识别：{mode}"),
    "consent_separate": ("This is a separate choice, asked on its own. Saying no changes nothing else: a PIN or a "
                         "card opens every gate.",
                         "这是一项单独询问的选择。拒绝不影响其他任何事项：密码或门卡可以打开所有门。"),
    "consent_for": ("For:", "对象："),
    "consent_what": ("What happens", "会发生什么"),
    "consent_what_text_identify": ("At the gate the camera compares your face with the residents who agreed, and "
                                   "opens for you. We keep an encrypted face template made from one photo; the "
                                   "photo itself is not kept.",
                                   "在门口，摄像头会将您的面部与已同意的住户比对并为您开门。我们保存由一张照片生成的加密"
                                   "人脸模板，照片本身不保存。"),
    "consent_what_text_verify": ("When you say who you are, the camera checks that it is you. We keep an encrypted "
                                 "face template made from one photo; the photo itself is not kept.",
                                 "当您表明身份时，摄像头核验是否为本人。我们保存由一张照片生成的加密人脸模板，照片本身不保存。"),
    "consent_what_text_analyze": ("A limited analysis of face images, only for the attributes named in the rules.",
                                  "仅针对规则中列明的属性进行有限的人脸分析。"),
    "consent_why": ("Why it is necessary", "为何必要"),
    "consent_impact": ("How it affects you", "对您的影响"),
    "consent_impact_default": ("Face data is sensitive personal information. It is encrypted and used only for this "
                               "purpose.", "人脸信息属于敏感个人信息，经加密且仅用于此目的。"),
    "consent_retention": ("How long:", "保存期限："),
    "consent_withdraw": ("Your right to withdraw", "您有权撤回"),
    "consent_withdraw_text": ("You can withdraw at any time, as easily as you agreed: one click in self-service, or "
                              "at the desk. The template is deleted at once and your PIN or card keeps working.",
                              "您可以随时撤回，与同意一样简单：在自助服务中点击一次，或到前台办理。模板立即删除，"
                              "您的密码或门卡照常有效。"),
    "consent_notice_ref": ("Processing rules version {version}, published {date}.", "处理规则第 {version} 版，发布于 {date}。"),
    "read_rules": ("Read the full rules", "阅读完整规则"),
    "consent_checkbox": ("I agree to face recognition for {purpose} ({mode}) as described above.",
                         "我同意按上述说明将人脸识别用于{purpose}（{mode}）。"),
    "consent_checkbox_guardian": ("As the guardian, I agree to face recognition of this child for {purpose} ({mode}) "
                                  "as described above.",
                                  "作为监护人，我同意按上述说明将此儿童的人脸识别用于{purpose}（{mode}）。"),
    "consent_accept": ("Confirm consent", "确认同意"),
    "consent_decline": ("No thanks: use a PIN or card instead", "不用了：改用密码或门卡"),
    "consent_tick_first": ("Tick the box if the person agrees, or choose “No thanks”.",
                           "如本人同意请勾选方框，否则请选择“不用了”。"),
    "guardian_title": ("A guardian consents for a child under {age}", "未满 {age} 岁的儿童须由监护人同意"),
    "guardian_help": ("Check the guardian's identity before they agree.", "请在监护人同意前核实其身份。"),
    "guardian_minors_rules": ("The rules for children (version {version}) apply.",
                              "适用儿童个人信息处理规则（第 {version} 版）。"),
    "guardian_name": ("Guardian's name", "监护人姓名"),
    "guardian_relationship": ("Relationship to the child", "与儿童的关系"),
    "guardian_verification": ("How the guardian was verified", "监护人身份核验方式"),
    "rel_parent": ("parent", "父母"), "rel_legal_guardian": ("legal guardian", "法定监护人"),
    "rel_legally_authorized_representative": ("legally authorised representative", "法定授权代理人"),
    "ver_id_document": ("identity document", "身份证件"), "ver_verified_account": ("verified account", "已验证账户"),
    "ver_signed_form": ("signed form", "签字表格"), "ver_in_person": ("in person at the desk", "前台当面核验"),
    # gates
    "gates_title": ("Gates of {site}", "{site} 的门禁"),
    "gates_list": ("Gates", "门禁"),
    "gate": ("Gate", "门禁"),
    "no_gates": ("No gates yet.", "尚无门禁。"),
    "add_gate": ("Add a gate", "添加门禁"),
    "add_gate_help": ("Choose the ways in. Face can be offered, but never alone: a PIN, card, QR code or visitor pass "
                      "must always work too.",
                      "选择通行方式。可以提供刷脸，但不能只有刷脸：必须同时支持密码、门卡、二维码或访客通行证。"),
    "gate_name": ("Gate name", "门禁名称"),
    "gate_added": ("Gate added.", "门禁已添加。"),
    "kiosk_link": ("Set up a kiosk", "设置门口终端"),
    "kiosk_link_title": ("Kiosk link for {gate}", "{gate} 的终端链接"),
    "kiosk_link_help": ("Open this link once on the gate's kiosk; it keeps the gate key for the session.",
                        "在门口终端上打开此链接一次；终端会在本次会话中保存门禁密钥。"),
    "method_face": ("face", "刷脸"), "method_pin": ("PIN", "密码"), "method_card": ("card", "门卡"),
    "method_qr": ("QR code", "二维码"), "method_visitor_pass": ("visitor pass", "访客通行证"),
    # log and audit
    "log_title": ("Live access log", "实时通行记录"),
    "log_help": ("The latest gate decisions, newest first; the list refreshes by itself.",
                 "最新的门禁判定，最新的在前；列表自动刷新。"),
    "log_updated": ("Updated", "已更新"),
    "log_empty": ("No gate attempts yet.", "尚无通行记录。"),
    "time_utc": ("Time (UTC)", "时间（UTC）"),
    "method": ("Method", "方式"),
    "result": ("Result", "结果"),
    "reason": ("Reason", "原因"),
    "granted": ("granted", "通过"),
    "denied": ("denied", "未通过"),
    "audit_title": ("Audit chain", "审计链"),
    "audit_ok": ("The chain is intact: {n} events, each linked to the one before, head signature valid.",
                 "审计链完整：共 {n} 条事件，逐条相连，链头签名有效。"),
    "audit_bad": ("The chain is broken at event {seq}.", "审计链在第 {seq} 条事件处断裂。"),
    "audit_help": ("Every consent, enrolment, gate decision and erasure is a hash-linked event; a change or a "
                   "deletion anywhere breaks the chain.",
                   "每一次同意、录入、门禁判定和删除都是一条哈希相连的事件；任何修改或删除都会使链条断裂。"),
    "check_again": ("Check again", "重新检查"),
    "nav_compliance": ("Compliance", "合规"),
    "compliance_title": ("Compliance of {site}", "{site} 的合规评估"),
    "compliance_verdict_pass": ("Every check passes", "全部检查通过"),
    "compliance_verdict_warn": ("Some checks need attention", "部分检查需要关注"),
    "compliance_verdict_fail": ("Some checks fail", "部分检查未通过"),
    "compliance_counts": ("{p} pass, {w} warn, {f} fail", "通过 {p} 项，警告 {w} 项，未通过 {f} 项"),
    "compliance_pdf": ("Download the report (PDF)", "下载报告（PDF）"),
    "compliance_check": ("Check", "检查项"),
    "compliance_evidence": ("Evidence from the live system", "来自系统的证据"),
    "compliance_requirements": ("Requirements", "对应要求"),
    "compliance_fix": ("Fix:", "整改："),
    "compliance_status_pass": ("pass", "通过"),
    "compliance_status_warn": ("warn", "警告"),
    "compliance_status_fail": ("fail", "未通过"),
    # self-service
    "me_start_title": ("Open your self-service page", "打开您的自助服务页面"),
    "me_start_help": ("Open the link you were given. If it does not open by itself, type the code from the link here.",
                      "请打开您收到的链接。如未自动打开，请在此输入链接中的代码。"),
    "me_code": ("Code from your link", "链接中的代码"),
    "me_link_invalid": ("This link is no longer valid: it expired, was withdrawn, or the data was erased. Ask the "
                        "property office for a new one.", "此链接已失效：已过期、已撤销或数据已删除。请向物业索取新链接。"),
    "me_title": ("Your face data", "您的人脸数据"),
    "me_lead": ("What is held about you, and your choices. Withdrawing is one click.",
                "这里列出所保存的关于您的信息和您的选择。撤回只需点击一次。"),
    "me_consents": ("Your consents", "您的同意"),
    "me_turn_on": ("Turn on", "开启"),
    "me_withdraw_help": ("Withdrawing deletes the face template at once. Your PIN or card keeps working.",
                         "撤回后人脸模板立即删除，您的密码或门卡照常有效。"),
    "me_held": ("What is held", "所保存的信息"),
    "templates": ("Face templates (encrypted)", "人脸模板（加密）"),
    "none_held": ("none", "无"),
    "photos_kept": ("Photos kept", "保存的照片"),
    "audit_events": ("Events about you in the audit trail", "审计记录中与您有关的事件"),
    "me_no_bytes": ("Templates are never shown or sent: not to you, not to staff, not in any export.",
                    "人脸模板从不显示或发送：不给您，不给工作人员，也不出现在任何导出中。"),
    "me_recent": ("Recent entries", "最近的通行"),
    "me_no_recent": ("No gate entries yet.", "尚无通行记录。"),
    "me_rights": ("Your rights", "您的权利"),
    "me_evidence": ("Download the evidence (JSON)", "下载证据（JSON）"),
    "me_evidence_help": ("Every event about you with a proof that it is part of the signed audit chain.",
                         "所有与您有关的事件，附有其属于已签名审计链的证明。"),
    "me_erase": ("Erase my data", "删除我的数据"),
    "me_erase_help": ("This withdraws every consent, deletes your face templates, PINs, cards and name, and ends "
                      "this link. The pseudonymous audit record stays, as the law requires.",
                      "这将撤回所有同意，删除您的人脸模板、密码、门卡和姓名，并使此链接失效。按法律要求，匿名的审计记录会保留。"),
    "me_erase_confirm": ("Yes, erase my data now", "是的，立即删除我的数据"),
    "me_erased": ("Your data is erased", "您的数据已删除"),
    "me_erased_help": ("Keep the certificate number below as your proof.", "请保留下面的证明编号作为凭证。"),
    "certificate": ("Certificate", "证明编号"),
    "audit_seq": ("Audit event", "审计事件"),
    "me_consent_given": ("Consent recorded. Ask the desk to enrol your photo.", "同意已记录。请到前台录入照片。"),
    # notice
    "notice_title": ("Processing rules", "个人信息处理规则"),
    "notice_area": ("Public notice", "公开规则"),
    "notice_minors": ("rules for children", "儿童个人信息处理规则"),
    "notice_hash": ("Fingerprint", "指纹"),
    "nf_controller": ("Who processes", "处理者"), "nf_contact": ("Contact", "联系方式"),
    "nf_purposes": ("Purposes", "处理目的"), "nf_methods": ("How", "处理方式"),
    "nf_categories": ("What data", "数据种类"), "nf_retention": ("How long", "保存期限"),
    "nf_rights_procedure": ("Your rights and how to use them", "您的权利及行使方式"),
    "nf_necessity": ("Why it is necessary", "必要性"), "nf_impact": ("How it affects you", "对个人的影响"),
    "nf_withdrawal": ("Withdrawing", "撤回同意"),
    # kiosk
    "kiosk_title": ("Gate", "门禁"),
    "kiosk_fullscreen": ("Full screen", "全屏"),
    "kiosk_key_title": ("Connect this kiosk to its gate", "将终端连接到门禁"),
    "kiosk_key_help": ("Enter the gate key once. It is kept only for this browser session.",
                       "请输入一次门禁密钥。密钥只在本次浏览器会话中保存。"),
    "kiosk_key": ("Gate key", "门禁密钥"),
    "kiosk_start": ("Start", "开始"),
    "kiosk_face": ("Enter with my face", "刷脸进入"),
    "kiosk_welcome": ("Welcome. Press a button to enter.", "欢迎。请按按钮进入。"),
    "kiosk_use_alt": ("Use PIN / card / QR instead", "改用密码 / 门卡 / 二维码"),
    "kiosk_alt_title": ("PIN, card or QR code", "密码、门卡或二维码"),
    "kiosk_pin_pad": ("PIN pad", "密码键盘"),
    "kiosk_pin_entered": ("Digits entered", "已输入的位数"),
    "kiosk_clear": ("Clear", "清除"),
    "kiosk_clear_short": ("C", "清除"),
    "kiosk_backspace": ("Delete last digit", "删除最后一位"),
    "kiosk_pin_ok": ("Enter PIN", "确认密码"),
    "kiosk_card_or_qr": ("Card number or QR code (readers type here)", "卡号或二维码（读卡器会在此输入）"),
    "kiosk_card": ("Card", "门卡"),
    "kiosk_qr": ("QR code", "二维码"),
    "kiosk_signage_loading": ("Loading the gate's rules…", "正在载入门禁规则…"),
    "kiosk_rules": ("Processing rules", "个人信息处理规则"),
}

#: strings the kiosk's script needs (sent as JSON in the page)
KIOSK_STRINGS = {
    "looking": ("Looking… please face the camera", "正在识别…请看向摄像头"),
    "checking": ("Checking…", "正在核验…"),
    "face_camera": ("Look straight at the camera", "请正视摄像头"),
    "step_n": ("Step {n} of {total}", "第 {n} 步，共 {total} 步"),
    "granted": ("Welcome — the gate is open", "欢迎 — 门已打开"),
    "denied": ("Not opened", "未开门"),
    "try_alt": ("Please use your PIN, card or QR code.", "请使用密码、门卡或二维码。"),
    "no_camera": ("The camera is not available. Please use your PIN, card or QR code.",
                  "摄像头不可用。请使用密码、门卡或二维码。"),
    "key_invalid": ("This gate key is not valid. Ask the property office for a new kiosk link.",
                    "门禁密钥无效。请向物业索取新的终端链接。"),
    "offline": ("The gate service cannot be reached. Please use your card, or ask the desk.",
                "无法连接门禁服务。请使用门卡或联系前台。"),
    "pin_short": ("Enter at least 6 digits.", "请至少输入 6 位数字。"),
    "signage": ("Face recognition is used at this gate for {purpose} ({controller}). It is your choice: "
                "{alternatives} always work.",
                "本门禁使用人脸识别用于{purpose}（处理者：{controller}）。是否使用由您决定：{alternatives}始终可用。"),
    "signage_contact": ("Questions: {contact}.", "咨询：{contact}。"),
    "no_face_gate": ("This gate opens with {alternatives}.", "本门禁可使用{alternatives}开门。"),
    "rules_version": ("Processing rules (version {version})", "个人信息处理规则（第 {version} 版）"),
    "and": (" or ", "或"),
}
T.update(i18n_factor.T)  # the two-factor gate's words (issue 16)
KIOSK_STRINGS.update(i18n_factor.KIOSK_STRINGS)

#: the liveness challenge's prompts (trustface.liveness.active.STEPS)
LIVENESS_STEPS = {
    "blink": ("Blink", "请眨眼"),
    "turn_left": ("Turn your head to your left", "请向左转头"),
    "turn_right": ("Turn your head to your right", "请向右转头"),
    "look_up": ("Look up", "请抬头"),
    "open_mouth": ("Open your mouth", "请张嘴"),
}

#: Chinese words for the refusal codes people meet on these pages; others show the English sentence
ERRORS_ZH = {
    "E_FACE_ONLY_POLICY": "不能只用刷脸通行：请同时提供密码、门卡、二维码或访客通行证。",
    "E_CONSENT_MISSING": "此人尚未同意用于该目的和方式的人脸处理。",
    "E_CONSENT_BUNDLED": "人脸同意必须单独给出，不能预先勾选或与其他事项捆绑。",
    "E_GUARDIAN_REQUIRED": "未成年人须由监护人同意，并填写监护人姓名、关系和核验方式。",
    "E_NOTICE_NOT_SHOWN": "未展示当前发布的处理规则；请刷新页面后再试。",
    "E_REPROMPT_COOLDOWN": "此人近期已拒绝；除非本人主动提出，不得再次询问。",
    "E_MODE_NOT_ALLOWED": "该目的不允许这种处理方式。",
    "E_NO_MATCH": "未识别到已同意的住户；请使用其他方式。",
    "E_NO_FACE": "未检测到人脸；请正对摄像头，或使用其他方式。",
    "E_LIVENESS_FAILED": "活体检测未通过。",
    "E_REPLAY_DETECTED": "检测到重放的画面。",
    "E_INJECTION_SUSPECTED": "画面疑似被注入。",
    "E_CHALLENGE_EXPIRED": "活体检测已超时；请重新开始。",
    "E_MULTIPLE_FACES": "画面中有多张人脸；请一次一人。",
    "E_FACE_QUALITY": "照片质量不足（模糊、过暗或人脸太小）；请换一张。",
    "E_IMAGE_INVALID": "无法读取该图片；请使用 JPEG、PNG 或 WebP 照片。",
    "E_IMAGE_TOO_LARGE": "图片太大。",
    "E_CREDENTIAL_INVALID": "密码、门卡或二维码无效。",
    "E_CREDENTIAL_EXPIRED": "二维码或访客通行证已过期。",
    "E_CREDENTIAL_CONFLICT": "该密码或门卡已被使用；请换一个。",
    "E_WEAK_PIN": "密码太简单或位数不对（须 6 至 12 位数字）。",
    "E_METHOD_NOT_OFFERED": "本门禁不支持这种方式。",
    "E_GATE_CLOSED": "门禁在当前时段关闭。",
    "E_SUSPENDED": "人脸处理已暂停；请使用其他方式。",
    "E_UNAUTHENTICATED": "邮箱或密码不正确，或登录已过期。",
    "E_FORBIDDEN": "您的角色无权进行此操作，或表单已过期；请刷新后重试。",
    "E_NOT_FOUND": "未找到。",
    "E_RATE_LIMITED": "尝试过于频繁；请稍后再试。",
    "E_ALTERNATIVE_REQUIRED": "这是该住户唯一的通行方式；请先发放其他凭证。",
    "E_INVALID_ARGUMENT": "输入有误。",
    "E_MALFORMED_REQUEST": "表单内容有误。",
}


def pick(accept_language: str | None, cookie: str | None) -> str:
    """The page language: the switch's cookie, else the first of our languages the browser
    prefers (by q-value), else English."""
    if cookie in LANGS:
        return cookie
    best, best_q = DEFAULT, -1.0
    for i, part in enumerate((accept_language or "").split(",")[:20]):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()
        q = 1.0
        for b in bits[1:]:
            b = b.strip()
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        primary = tag.split("-")[0]
        if primary in LANGS and q > best_q:
            best, best_q = primary, q - i * 1e-6  # earlier wins a tie
    return best


def translator(lang: str):
    index = LANGS.index(lang) if lang in LANGS else 0

    def t(key: str, default: str | None = None, **kw) -> str:
        entry = T.get(key)
        text = entry[index] if entry else (default if default is not None else key)
        return text.format(**kw) if kw else text

    return t


def error_text(lang: str, code: str, message: str) -> str:
    """A refusal in words in the page's language (the service's English sentence otherwise)."""
    if lang == "zh" and code in ERRORS_ZH:
        return ERRORS_ZH[code]
    return message


def kiosk_strings(lang: str) -> dict[str, Any]:
    """The kiosk script's texts in ``lang``: its messages, and tables of refusal reasons, ways in,
    purposes and liveness steps."""
    index = LANGS.index(lang) if lang in LANGS else 0
    strings: dict[str, Any] = {k: v[index] for k, v in KIOSK_STRINGS.items()}
    strings["reasons"] = ({code: text for code, text in ERRORS_ZH.items()} if lang == "zh" else {})
    strings["methods"] = {m: T[f"method_{m}"][index] for m in ("face", "pin", "card", "qr", "visitor_pass")}
    strings["purposes"] = {"door_access": T["purpose_door_access"][index]}
    strings["steps"] = {k: v[index] for k, v in LIVENESS_STEPS.items()}
    return strings
