"""Fixed vocabularies of the policy room (modes, site types, channels, legal bases, deny-lists).

The analysis deny-list here is hard-coded on purpose (R19, SPC-2(7)): profiles may only *add* to
it, and no setting removes an entry.
"""

from __future__ import annotations

VERIFY, IDENTIFY, ANALYZE = "verify", "identify", "analyze"
#: keeping the enrolment photos themselves (encrypted): its own consent, and a written one (R9)
RETAIN_IMAGE = "keep_photo"
MODES = (VERIFY, IDENTIFY, ANALYZE, RETAIN_IMAGE)
#: consent methods that count as written (a signature or an uploaded signed release)
WRITTEN_METHODS = frozenset({"signature", "written_release"})

SITE_TYPES = ("residential", "business", "public", "workplace", "education", "online")
#: site types where identify/analyze need a recorded legal basis and a signage attestation (SPC-2(1))
PREMISES_SITE_TYPES = frozenset({"business", "public"})

JURISDICTIONS = ("cn", "eu", "us-il")

CHANNELS = ("kiosk", "app", "desk", "paper")
#: how consent was expressed; ``written_release`` = an uploaded signed written release
METHODS = ("click", "signature", "written_release")

#: PIPL-13 / SPC-5 legal bases
LEGAL_BASES = (
    "consent",
    "contract_or_hr",
    "legal_duty",
    "emergency",        # public-health emergency, protection of life, health or property (SPC-5(1))
    "public_safety",    # public-place use for public safety under state rules (SPC-5(2))
    "news_reporting",
    "public_data",
    "other_law",
)
#: bases under which the gate may grant without a consent record; each needs a justification,
#: an approver and an expiry, and stops at the expiry (SPC-5, R22)
STATUTORY_BASES = frozenset({"emergency", "public_safety", "legal_duty"})

#: device location types that are private spaces: cameras there are refused (E_PRIVATE_SPACE)
PRIVATE_LOCATION_TYPES = frozenset(
    {"hotel_room", "guest_room", "toilet", "restroom", "bathroom", "shower", "changing_room",
     "locker_room", "dormitory_room", "bedroom", "lactation_room", "medical_room"}
)
LOCATION_TYPES = frozenset(
    {"entrance", "exit", "lobby", "gate", "elevator", "corridor", "parking", "reception", "checkout",
     "office", "classroom", "app"}
) | PRIVATE_LOCATION_TYPES

#: hard-coded analysis deny-list (R19, SPC-2(7)); profiles can only add to it
DENY_ATTRIBUTES = frozenset(
    {"race", "ethnicity", "skin_color", "religion", "health", "disability", "sexual_orientation",
     "work_performance", "economic_status", "political_opinion", "pregnancy", "criminal_record"}
)
#: analysis attributes a purpose may ask for at all (R19: "attributes on an allow-list only")
ALLOWED_ATTRIBUTES = frozenset(
    {"age_estimate", "face_count", "mask", "glasses", "head_pose", "image_quality", "emotion"}
)

SUSPENSION_KINDS = ("suspend", "restrict")
GUARDIAN_RELATIONSHIPS = ("parent", "legal_guardian", "legally_authorized_representative")
GUARDIAN_VERIFICATIONS = ("id_document", "verified_account", "signed_form", "in_person")
RELEASE_SIGNATURES = ("e_signature", "wet_signature")

#: fields a notice must carry (PIPL-17, PIPL-30, GDPR-13, BIPA-15b)
NOTICE_FIELDS = ("controller", "contact", "purposes", "methods", "categories", "retention",
                 "rights_procedure", "necessity", "impact", "withdrawal")
NOTICE_KINDS = ("general", "minors")
