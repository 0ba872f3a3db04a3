"""Page text of the two-factor gate (issue 16, item 3), English and Chinese (Simplified): the
console's gate form and the kiosk's credential-then-face prompts. :mod:`trustface.web.i18n` merges
these tables into its own."""

from __future__ import annotations

T: dict[str, tuple[str, str]] = {
    "face_step": ("Face step", "刷脸方式"),
    "face_step_help": ("Face alone searches everyone enrolled (1:N): the chance that a stranger matches someone grows "
                       "with every resident. After a PIN, card or QR code the face is checked against that resident "
                       "only (1:1).",
                       "单独刷脸会在所有已登记人员中搜索（1:N）：陌生人被误认为某位住户的概率随住户人数增加。"
                       "先输入密码、门卡或二维码后，只将人脸与该住户比对（1:1）。"),
    "face_mode_identify": ("face alone (1:N)", "单独刷脸（1:N）"),
    "face_mode_verify_after_credential": ("PIN, card or QR code, then face (1:1)", "先密码、门卡或二维码，再刷脸（1:1）"),
    "credential_alone": ("Also open without a face", "也可不刷脸通行"),
    "credential_alone_help": ("For a two-factor gate: the credentials that open it on their own, for residents who "
                              "decline face. Keep at least one.",
                              "用于双重验证门禁：可单独开门的凭证，供不使用人脸的住户使用。至少保留一项。"),
    "opens_alone": ("opens alone", "可单独开门"),
    "alone_pin": ("PIN alone", "仅密码"), "alone_card": ("card alone", "仅门卡"), "alone_qr": ("QR code alone", "仅二维码"),
    "method_credential+face": ("PIN, card or QR + face", "凭证 + 刷脸"),
    "kiosk_no_face": ("Without my face", "不刷脸"),
    # issue 17: a face gate requires the liveness challenge; an attended one may do without, with a reason
    "liveness_check": ("Liveness check", "活体检测"),
    "liveness_check_help": ("A face gate asks for a short challenge (blink, turn) so that a photo cannot open it. "
                            "Only at a gate where a person always watches may it take a single photo: say why below "
                            "(it is recorded and shown in the compliance report). Leave empty to require it.",
                            "刷脸门禁会要求简短的动作验证（眨眼、转头），使照片无法开门。只有始终有人值守的门禁才可"
                            "只拍一张照片：请在下方说明理由（将被记录并显示在合规报告中）。留空则必须进行活体检测。"),
    "liveness_off_reason": ("Attended gate: why no liveness check", "有人值守：为何不做活体检测"),
}

#: strings the kiosk's script needs
KIOSK_STRINGS: dict[str, tuple[str, str]] = {
    "two_factor_first": ("Enter your PIN, card or QR code, then look at the camera.",
                         "请先输入密码、门卡或二维码，然后看向摄像头。"),
    "now_face": ("Now look at the camera…", "请看向摄像头…"),
}
