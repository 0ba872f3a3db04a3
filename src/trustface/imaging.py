"""Safe image decoding: untrusted bytes or a path in, an RGB ``uint8`` array out.

Used by the engine, the REST API and the CLI, so every bad upload ends as a
:class:`~trustface.errors.TrustfaceError` with a sentence, never a Pillow traceback:

* ``E_IMAGE_INVALID``: empty, truncated, corrupt, not an image, an unsupported format
  (GIF, TIFF, SVG, ...), an animated image, a missing path or a directory.
* ``E_IMAGE_TOO_LARGE``: more than ``max_pixels`` (default :data:`MAX_PIXELS`), decided
  from the header before any pixel is decoded, or a Pillow decompression-bomb refusal.

Choices (documented here because callers rely on them):

* Accepted formats: JPEG (including camera MPO files, whose first picture is the photo),
  PNG, WebP, BMP and PGM/PPM. Only these Pillow plugins ever parse the data
  (``Image.open(..., formats=...)``), which keeps the parser attack surface small.
* GIF is refused, still or animated: it is outside the accepted list, its 256-colour
  palette degrades faces, and for an animated one no frame is "the" photo. Animated
  PNG (APNG) and animated WebP are refused for the same reason.
* Alpha is composited on white (not dropped): a transparent background then looks like
  paper instead of whatever colour the hidden pixels happen to hold.
* 16-bit data (``I;16*``, ``I``) is scaled to 0..255 by dividing by 257; float (``F``)
  data is clipped to 0..255.
* EXIF orientation is applied, so the array is the image as people see it.

Pillow globals are not changed. ``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay ``False``
(its default) so truncated files are refused instead of padded with grey; nothing here
sets it. Pillow's own bomb check (``Image.MAX_IMAGE_PIXELS``, about 89 MP) still runs
inside ``Image.open`` and is honoured, never loosened: its ``DecompressionBombError``,
and its ``DecompressionBombWarning`` when warnings are errors, become
``E_IMAGE_TOO_LARGE``; and the effective limit is ``min(max_pixels,
Image.MAX_IMAGE_PIXELS)``, so an image Pillow merely warns about is refused as well (the
warning itself is still emitted). We install no warning filters because
``warnings.catch_warnings`` is not thread-safe and the API decodes in threads.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Iterator
from typing import IO, Union

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from trustface.errors import E_IMAGE_INVALID, E_IMAGE_TOO_LARGE, TrustfaceError

__all__ = ["GATE_FRAME_MAX_PIXELS", "MAX_PIXELS", "ImageSource", "load_image", "image_info"]

#: Default pixel limit (width x height): 40 megapixels, i.e. 120 MB as an RGB array.
MAX_PIXELS = 40_000_000
#: a frame from a gate camera: 4K is 8.3 MP, so anything above 12 MP is not a camera frame, and
#: decoding it would only delay the gate (checked from the header, like MAX_PIXELS)
GATE_FRAME_MAX_PIXELS = 12_000_000

#: What :func:`load_image` accepts: the encoded file's bytes, or a path to it.
ImageSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", "os.PathLike[bytes]"]

# Pillow format names allowed to parse the data. "JPEG" also yields "MPO" images.
_PILLOW_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "PPM")
_ACCEPTED = "JPEG, PNG, WebP, BMP, PGM/PPM"
# Pillow format name -> name in messages.
_FORMAT_NAMES = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP", "PPM": "PGM/PPM"}

# How much of a Pillow error message to quote in ours (they can embed file contents).
_DETAIL_CHARS = 120


def load_image(source: ImageSource, *, max_pixels: int = MAX_PIXELS) -> NDArray[np.uint8]:
    """Decode an image file into an RGB array.

    Args:
        source: the encoded file as ``bytes``/``bytearray``/``memoryview``, or a path
            (``str`` or ``os.PathLike``) to a regular file.
        max_pixels: refuse images with more than this many pixels (width x height),
            checked from the header before decoding. Default :data:`MAX_PIXELS` (40 MP);
            values above Pillow's ``Image.MAX_IMAGE_PIXELS`` are capped to it.

    Returns:
        A new, writable, C-contiguous ``numpy.uint8`` array of shape ``(H, W, 3)``
        (rows, columns, R/G/B channels; 0..255), after EXIF orientation, so ``H`` and
        ``W`` may be swapped relative to the stored size.

    Raises:
        TrustfaceError: ``E_IMAGE_INVALID`` or ``E_IMAGE_TOO_LARGE`` (see module doc).
        TypeError, ValueError: ``source`` of the wrong type or ``max_pixels`` < 1
            (programming errors, not bad input).
    """
    _check_max_pixels(max_pixels)
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone flipped Pillow's global: refuse rather than pad with grey
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True; trustface.imaging needs it False")
    with _open_source(source) as (fp, label):
        im = _open_checked(fp, label, max_pixels)
        try:
            with im:
                # Full decode here, inside the try: truncation and corrupt pixel data
                # only show up now (Image.open read the header alone).
                im.load()
                ImageOps.exif_transpose(im, in_place=True)
                return _to_rgb_array(im)
        except TrustfaceError:
            raise
        except MemoryError:
            raise TrustfaceError(
                E_IMAGE_TOO_LARGE, f"{_cap(label)} is too large to decode in the memory available."
            ) from None
        except Exception as exc:  # hostile input: whatever Pillow raises is a bad image
            raise _decode_error(exc, _format_name(im), label) from exc


def image_info(source: ImageSource, *, max_pixels: int = MAX_PIXELS) -> dict[str, object]:
    """Read an image's header without decoding pixels.

    Applies the same refusals as :func:`load_image` that need only the header (format,
    animation, pixel limit), so a caller can refuse early and cheaply.

    Returns:
        ``{"format": str, "width": int, "height": int, "mode": str}`` where format is one
        of ``"JPEG"``, ``"PNG"``, ``"WebP"``, ``"BMP"``, ``"PGM/PPM"``; width and height
        are in pixels as stored, *before* EXIF orientation (reading the orientation of a
        PNG would need a full decode); mode is Pillow's mode name (``"RGB"``, ``"L"``, ...).
    """
    _check_max_pixels(max_pixels)
    with _open_source(source) as (fp, label):
        with _open_checked(fp, label, max_pixels) as im:
            return {"format": _format_name(im), "width": im.width, "height": im.height, "mode": im.mode}


# --------------------------------------------------------------------------- opening


def _check_max_pixels(max_pixels: int) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}")


@contextlib.contextmanager
def _open_source(source: ImageSource) -> Iterator[tuple[IO[bytes], str]]:
    """``source`` -> (binary file object, label for messages); closes what it opened."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = source if isinstance(source, bytes) else bytes(source)
        if not data:
            raise TrustfaceError(E_IMAGE_INVALID, "The image is empty (0 bytes).")
        yield io.BytesIO(data), "the image"
        return
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"image source must be bytes or a path, not {type(source).__name__}")
    path = os.fspath(source)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise TrustfaceError(E_IMAGE_INVALID, f"No such file: {path}.") from None
    except OSError as exc:
        raise TrustfaceError(E_IMAGE_INVALID, f"Cannot read the file {path}: {exc.strerror or exc}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise TrustfaceError(E_IMAGE_INVALID, f"The path {path} is a directory, not an image file.")
    # A FIFO or a device (/dev/zero) could block or never end: regular files only.
    if not stat.S_ISREG(st.st_mode):
        raise TrustfaceError(E_IMAGE_INVALID, f"The path {path} is not a regular file (a FIFO or a device, say).")
    if st.st_size == 0:
        raise TrustfaceError(E_IMAGE_INVALID, f"The file is empty (0 bytes): {path}.")
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise TrustfaceError(E_IMAGE_INVALID, f"Cannot read the file {path}: {exc.strerror or exc}.") from None
    with fh:
        yield fh, f"the file {path}"


def _open_checked(fp: IO[bytes], label: str, max_pixels: int) -> ImageFile.ImageFile:
    """Parse the header with an accepted plugin and apply the header-only refusals."""
    head = fp.read(64)
    fp.seek(0)
    sniffed = _sniff(head)
    try:
        im = Image.open(fp, formats=_PILLOW_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's global limit (or its warning, when warnings are errors) fired first.
        raise TrustfaceError(
            E_IMAGE_TOO_LARGE,
            f"{_cap(label)} declares more pixels than Pillow's decompression-bomb limit allows "
            f"(our limit is {max_pixels:,} pixels).",
        ) from exc
    except UnidentifiedImageError:
        raise _unidentified_error(sniffed, label) from None
    except MemoryError:
        raise TrustfaceError(E_IMAGE_TOO_LARGE, f"{_cap(label)} is too large to read its header.") from None
    except Exception as exc:  # header parsers raise OSError, ValueError, struct.error...
        raise _decode_error(exc, sniffed or "image", label) from exc

    try:
        width, height = im.size
        fmt = _format_name(im)
        if width < 1 or height < 1:
            raise TrustfaceError(
                E_IMAGE_INVALID, f"The {fmt} header of {label} declares zero pixels ({width}x{height})."
            )
        # Pillow's own bomb threshold also caps us: an image it only *warns* about (the
        # warning is not an exception under default filters) is still refused here.
        limit = max_pixels if Image.MAX_IMAGE_PIXELS is None else min(max_pixels, Image.MAX_IMAGE_PIXELS)
        if width * height > limit:
            raise TrustfaceError(
                E_IMAGE_TOO_LARGE,
                f"{_cap(label)} is {width}x{height} = {width * height:,} pixels, over the limit of {limit:,}.",
            )
        # MPO frames are extra pictures of one photo (e.g. a depth map): keep the first.
        if im.format != "MPO" and getattr(im, "n_frames", 1) > 1:
            raise TrustfaceError(
                E_IMAGE_INVALID, f"{_cap(label)} is an animated {fmt}; animated images are not supported, send a still."
            )
    except BaseException:
        im.close()
        raise
    return im


# Magic numbers, only to name the format in messages; Pillow still decides what parses.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"BM", "BMP"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"%PDF", "PDF"),
    (b"8BPS", "Photoshop (PSD)"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)
_UNSUPPORTED = {"GIF", "TIFF", "PDF", "Photoshop (PSD)", "JPEG 2000", "SVG", "HEIC/AVIF"}


def _sniff(head: bytes) -> str | None:
    """Best guess of the format from the first bytes, for messages only."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if len(head) >= 2 and head[0:1] == b"P" and head[1:2] in b"123456f":
        return "PGM/PPM"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"):
        return "HEIC/AVIF"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<svg", b"<?xml")):
        return "SVG"
    return None


def _unidentified_error(sniffed: str | None, label: str) -> TrustfaceError:
    if sniffed in _UNSUPPORTED:
        detail = " (animated or not)" if sniffed == "GIF" else ""
        return TrustfaceError(E_IMAGE_INVALID, f"{sniffed} images{detail} are not supported; send one of {_ACCEPTED}.")
    if sniffed is not None:
        # Looks like an accepted format but no header could be parsed.
        return TrustfaceError(E_IMAGE_INVALID, f"The {sniffed} header of {label} is corrupt or truncated.")
    return TrustfaceError(E_IMAGE_INVALID, f"{_cap(label)} is not a recognised image format ({_ACCEPTED}).")


def _decode_error(exc: BaseException, fmt: str, label: str) -> TrustfaceError:
    text = str(exc).strip()
    detail = text.splitlines()[0][:_DETAIL_CHARS] if text else type(exc).__name__
    lowered = detail.lower()
    if isinstance(exc, EOFError) or "truncated" in lowered or "premature end" in lowered:
        return TrustfaceError(E_IMAGE_INVALID, f"The {fmt} data of {label} is truncated.")
    # Decoders rarely tell corrupt from cut short (libwebp: "could not create decoder").
    return TrustfaceError(E_IMAGE_INVALID, f"The {fmt} data of {label} is corrupt or truncated: {detail}.")


def _format_name(im: Image.Image) -> str:
    return _FORMAT_NAMES.get(im.format or "", im.format or "image")


def _cap(label: str) -> str:
    return label[:1].upper() + label[1:]


# --------------------------------------------------------------------------- modes

_WHITE = (255, 255, 255)


def _to_rgb_array(im: Image.Image) -> NDArray[np.uint8]:
    """Any decoded mode -> (H, W, 3) uint8, C-contiguous and writable."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit samples (I is how Pillow widens 16-bit PGM): 0..65535 -> 0..255.
        gray = np.asarray(im).astype(np.float64) / 257.0
        return _gray_to_rgb(gray)
    if mode == "F":
        gray = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        return _gray_to_rgb(gray)

    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        # P + tRNS, RGB/L + colour key, LA, RGBA, PA...: through RGBA, then onto white.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        rgb = Image.alpha_composite(background, rgba).convert("RGB")
    elif mode != "RGB":
        rgb = im.convert("RGB")  # L, 1, P, CMYK (Adobe inversion handled by Pillow), YCbCr...
    else:
        rgb = im
    arr = np.array(rgb, dtype=np.uint8)  # np.array copies: writable and contiguous
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise TrustfaceError(E_IMAGE_INVALID, f"Cannot convert an image of mode {mode} to RGB.")
    return np.ascontiguousarray(arr)


def _gray_to_rgb(gray: NDArray[np.float64]) -> NDArray[np.uint8]:
    values = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(values[:, :, None], 3, axis=2))
