"""Liveness: challenge-response liveness, replay and injection detection, a PAD model interface.

* :mod:`.active`: random challenges (blink, turn left/right, look up, open mouth) checked in order
  on 68-point landmarks, with the same face throughout;
* :mod:`.passive`: replay (recent frames of the gate, the blocklist) and injection signals
  (identical frames, impossible timing, changing frame size, editing-tool metadata);
* :mod:`.pad`: the :class:`~trustface.liveness.pad.PadModel` protocol and the built-in moire check;
* :mod:`.phash`: DCT perceptual hash and digests (numpy + Pillow);
* :mod:`.service`: the database-backed flow used by the API, the CLI and ``access.decide_face``.

Docs: docs/liveness.md. Codes: :mod:`.codes`.
"""

from trustface.liveness.codes import (  # noqa: F401
    E_CHALLENGE_EXPIRED,
    E_CHALLENGE_UNKNOWN,
    E_INJECTION_SUSPECTED,
    E_LIVENESS_FAILED,
    E_REPLAY_DETECTED,
)
