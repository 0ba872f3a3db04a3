"""Error codes of the liveness room (registered in the shared catalogue; docs/errors.md)."""

from trustface.errors import register

E_REPLAY_DETECTED = register(
    "E_REPLAY_DETECTED", 403, ("R25", "ISO30107-3"),
    "The frame was seen before: byte- or pixel-identical to a recent probe at this gate, or a perceptual-hash "
    "match of a blocklisted attack frame (local or shared threat intelligence). The other ways in are offered.",
)
E_INJECTION_SUSPECTED = register(
    "E_INJECTION_SUSPECTED", 403, ("R25", "ISO30107-3"),
    "The frames look injected rather than captured: identical consecutive frames, impossible timing, frame "
    "sizes that change within a burst, editing-tool metadata (Photoshop, GIMP, Snapseed, ...), or a blocklisted "
    "client or device. The other ways in are offered.",
)
E_LIVENESS_FAILED = register(
    "E_LIVENESS_FAILED", 403, ("R25", "ISO30107-3"),
    "The challenge was not performed (steps missing or out of order, a different face mid-sequence, no face) "
    "or a presentation-attack detector flagged the frames. The other ways in are offered.",
)
E_CHALLENGE_EXPIRED = register(
    "E_CHALLENGE_EXPIRED", 410, ("R25",),
    "The liveness challenge's time window has passed, or its nonce was already used; ask for a new challenge.",
)
E_CHALLENGE_UNKNOWN = register(
    "E_CHALLENGE_UNKNOWN", 404, (),
    "No liveness challenge with this nonce was issued for this gate.",
)

LIVENESS_CODES = (E_REPLAY_DETECTED, E_INJECTION_SUSPECTED, E_LIVENESS_FAILED, E_CHALLENGE_EXPIRED,
                  E_CHALLENGE_UNKNOWN)
