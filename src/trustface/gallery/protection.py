"""Template protection: a keyed orthogonal transform, then envelope encryption.

* Cancelable transform (ISO/IEC 24745 renewability and unlinkability, R11): each tenant and
  key version gets a random orthogonal 128x128 matrix derived from the tenant's secret.
  Orthogonal maps keep Euclidean distances, so calibrated thresholds hold for protected
  templates and protected probes; the same face under two tenants' matrices lands in
  unrelated places, and a new key version makes old templates useless.
* Envelope encryption (SPC-2(5), PIPL-51): each subject has an AES-256-GCM data key, stored
  only wrapped by the tenant's key-encryption key (AES key wrap). The AAD binds a ciphertext
  to tenant, subject, template id and model version, so a swapped or edited row never
  decrypts. Destroying the wrapped data key crypto-shreds every copy in the live database; a backup
  taken earlier still holds the wrapped key (and the key file unwraps it), so every purge is also
  written to the erasure log that ``trustface restore`` replays (:mod:`trustface.gallery.erasure_log`).

Key material comes from the deployment's key file, never from the database. Every failure to
open or unwrap raises :class:`~trustface.gallery.codes.TemplateIntegrityError` (E_TEMPLATE_INTEGRITY);
the gallery catches it where it can name the template and raises it again with that name.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from trustface.gallery.codes import TemplateIntegrityError

__all__ = [
    "DIM", "NONCE_BYTES", "TemplateIntegrityError", "aad", "kek_check", "new_data_key", "open_sealed", "open_sealed_blob",
    "open_sealed_bytes", "protect", "seal", "seal_bytes", "tenant_kek", "transform_matrix", "unprotect", "unwrap_key",
    "wrap_key",
]

DIM = 128
NONCE_BYTES = 12
Vectors = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float64]


def _derive(secret: bytes, label: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label.encode()).derive(secret)


def tenant_kek(secret: bytes, tenant_id: str, version: int) -> bytes:
    """The tenant's 256-bit key-encryption key for a key version."""
    return _derive(secret, f"trustface/kek/v{version}/{tenant_id}")


@functools.lru_cache(maxsize=64)
def transform_matrix(secret: bytes, tenant_id: str, version: int) -> Matrix:
    """The tenant's keyed random orthogonal matrix, shape (128, 128), float64."""
    seed = int.from_bytes(_derive(secret, f"trustface/transform/v{version}/{tenant_id}"), "big")
    gaussian = np.random.default_rng(seed).standard_normal((DIM, DIM))
    q, r = np.linalg.qr(gaussian)
    matrix: Matrix = q * np.sign(np.diag(r))  # sign fix makes Q unique for the seed (Haar-distributed)
    return matrix


def protect(descriptor: npt.ArrayLike, matrix: Matrix) -> Vectors:
    """Apply the transform to a descriptor (128,) or a batch (N, 128); float32 out."""
    return (np.asarray(descriptor, dtype=np.float64) @ matrix.T).astype(np.float32)


def unprotect(template: npt.ArrayLike, matrix: Matrix) -> Vectors:
    """Invert the transform (only key rotation needs this, never a caller)."""
    return (np.asarray(template, dtype=np.float64) @ matrix).astype(np.float32)


def new_data_key() -> bytes:
    """A fresh random AES-256 data key (32 bytes)."""
    return AESGCM.generate_key(bit_length=256)


def wrap_key(data_key: bytes, kek: bytes) -> bytes:
    return aes_key_wrap(kek, data_key)


def unwrap_key(wrapped: bytes, kek: bytes) -> bytes:
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap as exc:
        raise TemplateIntegrityError("the subject's data key does not unwrap with the tenant key") from exc


def aad(tenant_id: str, subject_id: str, template_id: str, model_version: str, *, site_id: str = "",
        purpose_id: str = "", mode: str = "", key_version: int = 0) -> bytes:
    """Associated data of a template ciphertext. Besides tenant, subject, template id and model
    version it binds the gallery (site, purpose, mode) and the key version, so that editing a row's
    mode (e.g. moving a verify-only template into the identify gallery), purpose or key version
    fails authentication just like a swapped row (SPC-2(4), SPC-2(5))."""
    for part in (tenant_id, subject_id, template_id, model_version, site_id, purpose_id, mode):
        if "|" in part:
            raise ValueError("identifiers in the AAD may not contain '|'")
    return (f"trustface-template/2|{tenant_id}|{subject_id}|{template_id}|{model_version}|"
            f"{site_id}|{purpose_id}|{mode}|v{int(key_version)}").encode()


def kek_check(kek: bytes) -> str:
    """A public check value of a KEK (HMAC-SHA256 of a constant): lets the gallery say "wrong key
    file" instead of reporting every template as tampered."""
    from cryptography.hazmat.primitives import hmac

    h = hmac.HMAC(kek, hashes.SHA256())
    h.update(b"trustface/kek-check/1")
    return h.finalize().hex()


def seal(template: npt.ArrayLike, data_key: bytes, associated: bytes) -> bytes:
    """nonce || AES-256-GCM(template float32 bytes)."""
    return seal_bytes(np.ascontiguousarray(template, dtype=np.float32).tobytes(), data_key, associated)


def seal_bytes(plain: bytes, data_key: bytes, associated: bytes) -> bytes:
    """nonce || AES-256-GCM(plain) with a fresh random 96-bit nonce."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(data_key).encrypt(nonce, plain, associated)


def open_sealed_blob(blob: bytes, data_key: bytes, associated: bytes) -> bytes:
    """The plaintext of :func:`seal_bytes`; raises :class:`TemplateIntegrityError` when it fails."""
    try:
        return AESGCM(data_key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)
    except (InvalidTag, ValueError) as exc:
        raise TemplateIntegrityError("ciphertext failed authentication") from exc


def open_sealed(blob: bytes, data_key: bytes, associated: bytes) -> Vectors:
    return np.frombuffer(open_sealed_bytes(blob, data_key, associated), dtype=np.float32).copy()


def open_sealed_bytes(blob: bytes, data_key: bytes, associated: bytes) -> bytes:
    """The plaintext of a sealed template (DIM float32, little-endian) as bytes: the start-up rebuild
    joins a batch of them into one array instead of making a million small ones."""
    plain = open_sealed_blob(blob, data_key, associated)
    if len(plain) != DIM * 4:
        raise TemplateIntegrityError("template plaintext has the wrong length")
    return plain
