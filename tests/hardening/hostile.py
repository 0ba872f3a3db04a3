"""Hostile payloads, built in memory: image bombs, truncated files, polyglots and files that are not
images. Nothing here is read from disk except the real photo that gets cut short."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A 100-byte PNG whose IHDR claims ``width`` x ``height`` RGB pixels (valid CRCs)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + _chunk(b"IEND", b""))


def png_bomb(width: int = 10_000, height: int = 10_000) -> bytes:
    """A real decompression bomb: a valid greyscale PNG of ``width`` x ``height`` black pixels whose
    IDAT really inflates to width*height bytes (10,000 x 10,000: ~97 KB in, 100 MB out)."""
    comp = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + samples
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def encode(fmt: str, size=(16, 16), color=(120, 90, 60), **kw) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt, **kw)
    return buf.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose SOF0 marker is patched to claim ``width`` x ``height``."""
    data = bytearray(encode("JPEG"))
    at = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode("BMP", (4, 4)))
    struct.pack_into("<ii", data, 18, width, height)
    return bytes(data)


def ppm_claiming(width: int, height: int) -> bytes:
    return f"P6\n{width} {height}\n255\n".encode() + b"\0" * 30


def png_bad_crc() -> bytes:
    data = bytearray(encode("PNG", (32, 32)))
    at = data.index(b"IDAT") + 6
    data[at] ^= 0xFF  # flip compressed bytes inside IDAT: zlib/CRC both fail
    return bytes(data)


def animated_png() -> bytes:
    buf = io.BytesIO()
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def zip_bytes(marker: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("payload.sh", f"#!/bin/sh\necho {marker}\n")
    return buf.getvalue()


#: the marker put into polyglot payloads; no table may ever hold it
MARKER = "pwned-by-polyglot-7f3a"

#: JPEG + ZIP: a valid (faceless) JPEG with a ZIP archive appended; unzip and image viewers both open it
JPEG_ZIP = encode("JPEG") + zip_bytes(MARKER)
#: PNG + HTML: a valid PNG followed by a script (served as text/html somewhere, it would run)
PNG_HTML = encode("PNG") + f"<html><script>alert('{MARKER}')</script></html>".encode()
#: GIF/JavaScript polyglot: parses as a GIF header and as a JS expression
GIF_JS = b"GIF89a/*\x0a\x00\x0a\x00\x00\x00\x00;*/=alert(document.domain);//" + b"\x00" * 16 + b";"
HTML = b"<!DOCTYPE html><html><body><script>fetch('/v1/api-keys')</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" onload="alert(1)">'
       b'<circle cx="32" cy="32" r="30"/></svg>')
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 57
