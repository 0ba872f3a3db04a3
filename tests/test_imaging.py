"""trustface.imaging against a hostile-image corpus generated in tmp_path.

Every file is built here (Pillow, numpy, hand-written bytes): no mocks, no fixtures on
disk except the shared photo data set. Each refusal checks its exact code and that the
message is a sentence; each valid-but-unusual file checks the decoded pixels.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from trustface.config import data_root
from trustface.errors import E_IMAGE_INVALID, E_IMAGE_TOO_LARGE, TrustfaceError
from trustface.imaging import MAX_PIXELS, _to_rgb_array, image_info, load_image

# ----------------------------------------------------------------------------- builders

RNG_SEED = 1234


def encode(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def noise(width: int = 48, height: int = 64) -> Image.Image:
    rng = np.random.default_rng(RNG_SEED)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, *, depth: int = 8, colour: int = 2, idat: bytes | None = None) -> bytes:
    """A PNG written by hand; idat=None gives a header-only file (no pixel data at all)."""
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    if idat is not None:
        out += png_chunk(b"IDAT", idat)
    return out + png_chunk(b"IEND", b"")


def zero_rows_idat(width: int, height: int) -> bytes:
    """zlib stream of all-black 1-bit rows, streamed so the raw data is never in memory."""
    co = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    return b"".join(co.compress(row) for _ in range(height)) + co.flush()


def animated(fmt: str) -> bytes:
    first = noise(32, 32)
    return encode(first, fmt, save_all=True, append_images=[first.rotate(90)], duration=100)


def corrupt_jpeg() -> bytes:
    """A bogus Huffman table (every code-length count 255). Corrupt *scan* bytes would not
    do: libjpeg only warns about those and decodes grey blocks, which is not a refusal."""
    data = bytearray(encode(noise(), "JPEG", quality=90))
    dht = data.index(b"\xff\xc4")
    data[dht + 5 : dht + 21] = b"\xff" * 16
    return bytes(data)


def bad_crc_png() -> bytes:
    data = bytearray(encode(noise(8, 8), "PNG"))
    data[29] ^= 0xFF  # first byte of the IHDR chunk's CRC
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("RGB", (16, 16), (10, 20, 30)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


TEXT = b"Meeting notes: bring the badge photos.\n" * 5
HUGE_PPM = b"P6\n100000 100000\n255\n" + b"\x00" * 64
GIF_REFUSAL = "GIF images (animated or not) are not supported"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle r="9"/></svg>'

# (id, file name, builder, code, fragment the message must contain, case-insensitive)
REFUSALS: list[tuple[str, str, Callable[[], bytes], str, str]] = [
    ("zero-bytes", "empty.jpg", lambda: b"", E_IMAGE_INVALID, "empty"),
    ("text-named-jpg", "notes.jpg", lambda: TEXT, E_IMAGE_INVALID, "not a recognised image format"),
    ("random-bytes", "noise.bin", lambda: np.random.default_rng(RNG_SEED).bytes(4096), E_IMAGE_INVALID, "recognised"),
    ("truncated-jpeg", "half.jpg", lambda: half(encode(noise(), "JPEG")), E_IMAGE_INVALID, "JPEG data of the"),
    ("truncated-png", "half.png", lambda: half(encode(noise(), "PNG")), E_IMAGE_INVALID, "truncated"),
    ("truncated-webp", "half.webp", lambda: half(encode(noise(), "WEBP")), E_IMAGE_INVALID, "WebP"),
    ("truncated-bmp", "half.bmp", lambda: half(encode(noise(), "BMP")), E_IMAGE_INVALID, "truncated"),
    ("truncated-ppm", "half.ppm", lambda: half(encode(noise(), "PPM")), E_IMAGE_INVALID, "truncated"),
    ("jpeg-soi-only", "soi.jpg", lambda: b"\xff\xd8", E_IMAGE_INVALID, "JPEG header"),
    ("corrupt-jpeg-huffman", "corrupt.jpg", corrupt_jpeg, E_IMAGE_INVALID, "JPEG data"),
    ("png-bad-crc", "crc.png", bad_crc_png, E_IMAGE_INVALID, "PNG header"),
    ("png-zero-width", "zero.png", lambda: png_bytes(0, 10), E_IMAGE_INVALID, "PNG"),
    ("png-no-pixel-data", "nodata.png", lambda: png_bytes(8, 8), E_IMAGE_INVALID, "PNG data"),
    ("png-header-20000x20000", "huge.png", lambda: png_bytes(20000, 20000), E_IMAGE_TOO_LARGE, "pixels"),
    ("png-header-7000x6000", "42mp.png", lambda: png_bytes(7000, 6000), E_IMAGE_TOO_LARGE, "42,000,000"),
    ("jpeg-sof-8000x6000", "48mp.jpg", lambda: jpeg_claiming(8000, 6000), E_IMAGE_TOO_LARGE, "48,000,000"),
    ("jpeg-sof-65000x65000", "huge.jpg", lambda: jpeg_claiming(65000, 65000), E_IMAGE_TOO_LARGE, "bomb"),
    ("ppm-header-100000x100000", "huge.ppm", lambda: HUGE_PPM, E_IMAGE_TOO_LARGE, "pixels"),
    ("gif-still", "still.gif", lambda: encode(noise(), "GIF"), E_IMAGE_INVALID, GIF_REFUSAL),
    ("gif-animated", "anim.gif", lambda: animated("GIF"), E_IMAGE_INVALID, GIF_REFUSAL),
    ("png-animated", "anim.png", lambda: animated("PNG"), E_IMAGE_INVALID, "animated PNG"),
    ("webp-animated", "anim.webp", lambda: animated("WEBP"), E_IMAGE_INVALID, "animated WebP"),
    ("tiff", "photo.tiff", lambda: encode(noise(), "TIFF"), E_IMAGE_INVALID, "TIFF images"),
    ("svg", "logo.svg", lambda: SVG, E_IMAGE_INVALID, "SVG images"),
    ("svg-named-png", "logo.png", lambda: b"\xef\xbb\xbf  " + SVG, E_IMAGE_INVALID, "SVG images"),
    ("pdf", "scan.pdf", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", E_IMAGE_INVALID, "PDF images"),
    ("html", "index.png", lambda: b"<!doctype html><html><body>404</body></html>", E_IMAGE_INVALID, "not a recognised"),
]


def assert_refused(source: object, code: str, fragment: str = "", **kwargs: object) -> TrustfaceError:
    """The call raises TrustfaceError(code) whose message is a sentence containing fragment."""
    with pytest.raises(TrustfaceError) as caught:
        load_image(source, **kwargs)  # type: ignore[arg-type]
    err = caught.value
    assert err.code == code, err.message
    message = err.message
    assert message[:1].isupper() and message.endswith(".") and len(message.split()) >= 4, message
    assert fragment.lower() in message.lower(), message
    return err


@pytest.mark.parametrize(
    ("name", "builder", "code", "fragment"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_hostile_corpus_is_refused_from_path_and_bytes(
    tmp_path: Path, name: str, builder: Callable[[], bytes], code: str, fragment: str
) -> None:
    data = builder()
    path = tmp_path / name
    path.write_bytes(data)
    assert_refused(path, code, fragment)
    assert_refused(str(path), code, fragment)
    if data:
        assert_refused(data, code, fragment)
    else:
        assert_refused(data, code, "empty")


def test_header_only_refusals_apply_to_image_info() -> None:
    for data, code in [(png_bytes(20000, 20000), E_IMAGE_TOO_LARGE), (animated("GIF"), E_IMAGE_INVALID)]:
        with pytest.raises(TrustfaceError) as caught:
            image_info(data)
        assert caught.value.code == code


def test_42_megapixel_png_is_refused_from_its_header(tmp_path: Path) -> None:
    width, height = 7000, 6000  # 42 MP, a real file of a few kilobytes
    valid = png_bytes(width, height, depth=1, colour=0, idat=zero_rows_idat(width, height))
    with Image.open(io.BytesIO(valid)) as im:  # it really is a decodable image
        im.load()
        assert im.size == (width, height)
    assert_refused(valid, E_IMAGE_TOO_LARGE, "over the limit of 40,000,000")

    # Same header, garbage pixel data: still TOO_LARGE, so no pixel was decoded...
    garbage = png_bytes(width, height, depth=1, colour=0, idat=b"\x78\x9c" + b"\xfe" * 64)
    path = tmp_path / "42mp-garbage.png"
    path.write_bytes(garbage)
    assert_refused(path, E_IMAGE_TOO_LARGE, "42,000,000")
    # ...whereas decoding it (limit raised) would have failed on the garbage.
    assert_refused(path, E_IMAGE_INVALID, "PNG data", max_pixels=42_000_000)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """100 MP of 1-bit zeros in ~12 kB: 300 MB as RGB. Pillow warns at 89 MP, errors at 179 MP."""
    side = 10_000
    return png_bytes(side, side, depth=1, colour=0, idat=zero_rows_idat(side, side))


def test_decompression_bomb_is_refused_under_default_warning_filters(bomb: bytes) -> None:
    assert len(bomb) < 20_000
    with pytest.warns(Image.DecompressionBombWarning):
        assert_refused(bomb, E_IMAGE_TOO_LARGE, "100,000,000 pixels")
    # Raising our limit does not loosen Pillow's: still refused.
    with pytest.warns(Image.DecompressionBombWarning):
        assert_refused(bomb, E_IMAGE_TOO_LARGE, "pixels", max_pixels=10**9)


def test_decompression_bomb_warning_as_error_is_converted(bomb: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_refused(bomb, E_IMAGE_TOO_LARGE, "decompression-bomb")


def test_pixel_limit_is_inclusive() -> None:
    data = encode(Image.new("RGB", (10, 10), (1, 2, 3)), "PNG")
    assert load_image(data, max_pixels=100).shape == (10, 10, 3)
    assert_refused(data, E_IMAGE_TOO_LARGE, "100 pixels, over the limit of 99", max_pixels=99)
    assert MAX_PIXELS == 40_000_000


# ----------------------------------------------------------------------------- paths


def test_missing_path(tmp_path: Path) -> None:
    assert_refused(tmp_path / "nope.jpg", E_IMAGE_INVALID, "no such file")


def test_directory(tmp_path: Path) -> None:
    assert_refused(tmp_path, E_IMAGE_INVALID, "is a directory")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "upload.jpg"
    os.mkfifo(fifo)
    assert_refused(fifo, E_IMAGE_INVALID, "not a regular file")


def test_programming_errors_are_not_image_errors() -> None:
    with pytest.raises(TypeError):
        load_image(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        load_image(b"x", max_pixels=0)


# ----------------------------------------------------------------------------- valid inputs


def check_rgb(arr: np.ndarray, shape: tuple[int, int]) -> None:
    assert arr.dtype == np.uint8 and arr.shape == (*shape, 3)
    assert arr.flags.c_contiguous and arr.flags.writeable


def test_rgb_formats_round_trip_exactly() -> None:
    im = noise()
    expected = np.asarray(im)
    for fmt, kwargs in [("PNG", {}), ("BMP", {}), ("PPM", {}), ("WEBP", {"lossless": True})]:
        arr = load_image(encode(im, fmt, **kwargs))
        check_rgb(arr, (64, 48))
        np.testing.assert_array_equal(arr, expected, err_msg=fmt)


def test_bytes_like_and_path_inputs_agree(tmp_path: Path) -> None:
    data = encode(noise(), "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(data)
    expected = load_image(data)
    for source in (bytearray(data), memoryview(data), path, str(path)):
        np.testing.assert_array_equal(load_image(source), expected)


def test_lossy_jpeg_and_webp_decode_close() -> None:
    im = Image.new("RGB", (32, 16), (200, 40, 90))
    for fmt in ("JPEG", "WEBP"):
        arr = load_image(encode(im, fmt, quality=95))
        check_rgb(arr, (16, 32))
        assert np.abs(arr.astype(int) - [200, 40, 90]).max() <= 6, fmt


def test_grayscale_jpeg_becomes_three_equal_channels() -> None:
    gradient = Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1)), "L")
    arr = load_image(encode(gradient, "JPEG", quality=95))
    check_rgb(arr, (16, 64))
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    assert np.abs(arr[..., 0].astype(int) - np.asarray(gradient)).max() <= 8


def test_cmyk_jpeg_becomes_rgb() -> None:
    cyan = Image.new("CMYK", (8, 8), (255, 0, 0, 0))
    arr = load_image(encode(cyan, "JPEG", quality=95))
    check_rgb(arr, (8, 8))
    assert np.abs(arr.astype(int) - [0, 255, 255]).max() <= 4


def test_16bit_grayscale_png_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    arr = load_image(data)
    check_rgb(arr, (1, 4))
    np.testing.assert_array_equal(arr[0, :, 0], [0, 1, 128, 255])


def test_16bit_rgb_png_hand_written() -> None:
    row = b"\x00" + np.full((4, 3), [65535, 32896, 0], dtype=">u2").tobytes()
    arr = load_image(png_bytes(4, 2, depth=16, colour=2, idat=zlib.compress(row * 2)))
    check_rgb(arr, (2, 4))
    assert (arr == [255, 128, 0]).all()


def test_16bit_pgm_is_scaled() -> None:
    values = np.array([[0, 257, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values), "PPM")
    assert data.startswith(b"P5") and b"65535" in data[:20]
    np.testing.assert_array_equal(load_image(data)[0, :, 1], [0, 1, 255])


def test_pgm_ppm_plain_and_binary() -> None:
    gray = Image.fromarray(np.array([[0, 100, 255]], dtype=np.uint8), "L")
    pgm = encode(gray, "PPM")
    assert pgm.startswith(b"P5")
    np.testing.assert_array_equal(load_image(pgm)[0], [[0, 0, 0], [100, 100, 100], [255, 255, 255]])
    ppm = encode(noise(), "PPM")
    assert ppm.startswith(b"P6")
    check_rgb(load_image(ppm), (64, 48))
    ascii_ppm = b"P3\n# comment\n2 1\n255\n255 0 0   0 0 255\n"
    np.testing.assert_array_equal(load_image(ascii_ppm)[0], [[255, 0, 0], [0, 0, 255]])


def test_float_pfm_is_clipped() -> None:
    data = encode(Image.fromarray(np.array([[-5.0, 100.4, 300.0, np.nan]], dtype=np.float32)), "PPM")
    assert data.startswith(b"Pf")
    np.testing.assert_array_equal(load_image(data)[0, :, 0], [0, 100, 255, 0])


def test_rgba_png_is_composited_on_white() -> None:
    rgba = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [255, 0, 0, 128]]], dtype=np.uint8)
    arr = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    check_rgb(arr, (1, 3))
    np.testing.assert_array_equal(arr[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(arr[0, 1], [255, 255, 255])
    assert np.abs(arr[0, 2].astype(int) - [255, 127, 127]).max() <= 1


def test_la_png_is_composited_on_white() -> None:
    la = Image.new("LA", (2, 1))
    la.putpixel((0, 0), (0, 255))
    la.putpixel((1, 0), (0, 0))
    np.testing.assert_array_equal(load_image(encode(la, "PNG"))[0], [[0, 0, 0], [255, 255, 255]])


def test_palette_png_with_transparency() -> None:
    pal = Image.new("P", (2, 2), 0)
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((1, 0), 1)
    data = encode(pal, "PNG", transparency=0)  # index 0 (red) is fully transparent
    arr = load_image(data)
    np.testing.assert_array_equal(arr[0], [[255, 255, 255], [0, 0, 255]])
    np.testing.assert_array_equal(load_image(encode(pal, "PNG"))[0], [[255, 0, 0], [0, 0, 255]])


def test_one_bit_bmp() -> None:
    checker = (np.indices((8, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)
    data = encode(Image.fromarray(checker, "L").convert("1"), "BMP")
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "1"
    arr = load_image(data)
    check_rgb(arr, (8, 8))
    np.testing.assert_array_equal(arr[..., 2], checker)


def test_exif_orientation_6_rotates_clockwise() -> None:
    # Stored 40 wide x 20 high, red marker top-left. Orientation 6 = "rotate 90 CW to view":
    # displayed 20 wide x 40 high, marker top-right.
    stored = np.full((20, 40, 3), 255, dtype=np.uint8)
    stored[:6, :6] = [255, 0, 0]
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())
    assert image_info(data) == {"format": "JPEG", "width": 40, "height": 20, "mode": "RGB"}
    arr = load_image(data)
    check_rgb(arr, (40, 20))

    def is_red(patch: np.ndarray) -> bool:
        return bool((np.abs(patch.astype(int) - [255, 0, 0]).max(axis=-1) < 60).all())

    assert is_red(arr[1:5, -5:-1])
    assert not is_red(arr[1:5, 1:5]) and not is_red(arr[-5:-1, -5:-1]) and not is_red(arr[-5:-1, 1:5])


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: Image.new("RGB", (2, 2), (255, 0, 0)).convert("YCbCr"), (255, 0, 0)),
        (lambda: Image.new("I", (2, 2), 65535), (255, 255, 255)),
        (lambda: Image.new("I", (2, 2), -7), (0, 0, 0)),
        (lambda: Image.new("F", (2, 2), 1e9), (255, 255, 255)),
        (lambda: Image.new("RGBA", (2, 2), (0, 0, 255, 0)), (255, 255, 255)),
        (lambda: Image.new("P", (2, 2), 0), (0, 0, 0)),
    ],
    ids=["YCbCr", "I-max", "I-negative", "F-huge", "RGBA-clear", "P"],
)
def test_mode_conversion_of_decoded_modes(make: Callable[[], Image.Image], expected: tuple[int, int, int]) -> None:
    arr = _to_rgb_array(make())
    check_rgb(arr, (2, 2))
    assert np.abs(arr.astype(int) - expected).max() <= 2


def test_mpo_camera_jpeg_gives_its_first_picture() -> None:
    # Phones write MPO (a JPEG plus extra pictures); Pillow opens it as a 2-frame "MPO".
    buf = io.BytesIO()
    Image.new("RGB", (16, 8), (255, 0, 0)).save(buf, "MPO", save_all=True, append_images=[Image.new("RGB", (16, 8))])
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        assert (im.format, im.n_frames) == ("MPO", 2)
    arr = load_image(buf.getvalue())
    check_rgb(arr, (8, 16))
    assert np.abs(arr.astype(int) - [255, 0, 0]).max() <= 4
    assert image_info(buf.getvalue())["format"] == "JPEG"


def test_image_info_reads_the_header() -> None:
    assert image_info(encode(noise(), "WEBP")) == {"format": "WebP", "width": 48, "height": 64, "mode": "RGB"}
    assert image_info(png_bytes(7000, 5000))["width"] == 7000  # 35 MP header only: fine


def test_truncation_guard_is_left_off() -> None:
    load_image(encode(noise(), "JPEG"))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# ----------------------------------------------------------------------------- real photos


def test_real_photo_from_shared_data_set() -> None:
    path = data_root() / "photos" / "examples" / "obama.jpg"
    if not path.is_file():
        pytest.skip(f"shared data set not found at {data_root()}")
    with Image.open(path) as im:
        width, height = im.size
    arr = load_image(path)
    check_rgb(arr, (height, width))
    assert arr.std() > 10  # a photo, not a flat fill


def test_32bit_png_from_shared_data_set() -> None:
    found = sorted((data_root() / "photos").glob("**/test_images/32bit.png"))
    if not found:
        pytest.skip("32bit.png not in the shared data set")
    with Image.open(found[0]) as im:
        assert im.mode == "RGBA"
        width, height = im.size
    check_rgb(load_image(found[0]), (height, width))
