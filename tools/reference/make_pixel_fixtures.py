#!/usr/bin/env python3
"""Writes the pixel fixtures of Tests/RenderTests/Fixtures (run once; never at test time).

Test images: PNGs of every colour type and bit depth (palette with tRNS, Adam7
interlaced), written by a small encoder here so that every variant exists, and JPEGs
(baseline, progressive, 4:4:4, grayscale, CMYK) written by Pillow, plus crops of
scikit-image's public-domain sample photos (coffee, chelsea).

Expected values come from Pillow itself: decoded samples (np.asarray of the opened
image, in Pillow's mode), convert("RGB"), Image.resize with each filter, and the
model-input pipeline torchvision applies to a PIL image, reproduced step by step with
the same Pillow calls torchvision makes (Resize(size, BICUBIC) -> img.resize,
CenterCrop -> img.crop with round((dim - size) / 2), convert("RGB"), ToTensor's
float32 / 255, Normalize's float32 (x - mean) / std).

Everything goes into manifest.json (cases with offsets) and expected.bin (the arrays,
concatenated). Usage: tools/reference/.venv-pixels/bin/python tools/reference/make_pixel_fixtures.py
"""
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL
from PIL import Image
from skimage import data as skdata

OUT = Path(__file__).resolve().parents[2] / "Tests" / "RenderTests" / "Fixtures"
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)

rng = np.random.default_rng(20261129)


# ---------------------------------------------------------------- PNG writer

def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _pack_rows(samples: np.ndarray, depth: int) -> bytes:
    """Rows of an (h, w, c) sample array as PNG scanlines (filter byte 0)."""
    h, w, c = samples.shape
    out = bytearray()
    for y in range(h):
        out.append(0)
        row = samples[y].reshape(-1)
        if depth == 16:
            out += row.astype(">u2").tobytes()
        elif depth == 8:
            out += row.astype(np.uint8).tobytes()
        else:
            per_byte = 8 // depth
            padded = np.zeros(((len(row) + per_byte - 1) // per_byte) * per_byte, dtype=np.uint16)
            padded[: len(row)] = row
            for i in range(0, len(padded), per_byte):
                byte = 0
                for j in range(per_byte):
                    byte = (byte << depth) | int(padded[i + j])
                out.append(byte)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(samples, depth, color_type, palette=None, trns=None, interlace=False) -> bytes:
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples[:, :, None]
    h, w, _ = samples.shape
    raw = bytearray()
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += _pack_rows(sub, depth)
    else:
        raw += _pack_rows(samples, depth)
    png = b"\x89PNG\r\n\x1a\n"
    png += _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0))
    if palette is not None:
        png += _chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        png += _chunk(b"tRNS", trns)
    png += _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    png += _chunk(b"IEND", b"")
    return png


# ---------------------------------------------------------------- content

def smooth_field(h, w, channels, seed_scale=1.0):
    """Gradients, a hard edge and some noise: exercises both smooth and sharp resampling."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        v = 128 + 100 * np.sin(x / (3.0 + c) + c) * np.cos(y / (4.0 + 2 * c))
        v += np.where((x + 2 * y + 5 * c) % 17 < 6, 60, -40) * seed_scale
        v += rng.normal(0, 12, size=(h, w))
        planes.append(v)
    return np.clip(np.stack(planes, axis=-1), 0, 255)


def photo_crop(name, top, left, h, w):
    img = getattr(skdata, name)()
    return img[top:top + h, left:left + w]


# ---------------------------------------------------------------- fixtures

class Writer:
    def __init__(self):
        self.blob = bytearray()
        self.manifest = {"pillow": PIL.__version__, "mean": MEAN, "std": STD,
                         "decode": [], "resize": [], "preprocess": [], "errors": []}

    def array(self, arr: np.ndarray) -> dict:
        arr = np.ascontiguousarray(arr)
        if arr.dtype == np.uint16:
            payload, dtype = arr.astype("<u2").tobytes(), "u16"
        elif arr.dtype == np.float32:
            payload, dtype = arr.astype("<f4").tobytes(), "f32"
        else:
            payload, dtype = arr.astype(np.uint8).tobytes(), "u8"
        entry = {"offset": len(self.blob), "count": int(arr.size), "dtype": dtype}
        self.blob += payload
        while len(self.blob) % 4:
            self.blob.append(0)
        return entry


def pillow_samples(im: Image.Image) -> np.ndarray:
    """Pillow's own samples in its mode (mode "1" as 0/255 bytes, I;16 as uint16)."""
    if im.mode == "1":
        return np.asarray(im.convert("L"))
    if im.mode == "I;16":
        return np.frombuffer(im.tobytes(), dtype="<u2").reshape(im.height, im.width)
    return np.asarray(im)


def preprocess(im: Image.Image, size: int):
    """torchvision's Resize(size, BICUBIC), CenterCrop(size), convert("RGB"), ToTensor, Normalize."""
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        im = im.resize((new_w, new_h), Image.Resampling.BICUBIC)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    im = im.crop((left, top, left + size, top + size))
    rgb = im.convert("RGB")
    arr = np.asarray(rgb)
    tensor = arr.astype(np.float32).transpose(2, 0, 1) / np.float32(255)
    mean = np.asarray(MEAN, dtype=np.float32)[:, None, None]
    std = np.asarray(STD, dtype=np.float32)[:, None, None]
    return arr, ((tensor - mean) / std).astype(np.float32)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*"):
        if old.name != ".keep":
            old.unlink()
    writer = Writer()
    files = {}

    def save(name, payload: bytes):
        (OUT / name).write_bytes(payload)
        files[name] = payload

    # --- PNGs: every colour type and bit depth, landscape 37x23 (odd, to exercise packing)
    h, w = 23, 37
    field = smooth_field(h, w, 4)
    gray8 = field[:, :, 0].astype(np.uint8)
    gray16 = (field[:, :, 0] * 257 + rng.integers(0, 257, size=(h, w))).clip(0, 65535).astype(np.uint16)
    # Some 16-bit gray values above 255 and some below, so I;16 -> RGB clipping shows.
    gray16_low = (field[:, :, 1] * 2).astype(np.uint16)
    rgb8 = field[:, :, :3].astype(np.uint8)
    rgb16 = (field[:, :, :3] * 257).astype(np.uint16) ^ rng.integers(0, 256, size=(h, w, 3)).astype(np.uint16)
    alpha = np.concatenate([np.zeros((h, 5)), np.full((h, 5), 255), field[:, 10:, 3]], axis=1).astype(np.uint8)
    rgba8 = np.dstack([rgb8, alpha])
    rgba16 = np.dstack([rgb16, alpha.astype(np.uint16) * 257 + 3])
    la8 = np.dstack([gray8, alpha])
    la16 = np.dstack([gray16, alpha.astype(np.uint16) * 257])
    palette = rng.integers(0, 256, size=(256, 3))

    variants = [
        ("gray1.png", write_png(gray8 >> 7, 1, 0)),
        ("gray2.png", write_png(gray8 >> 6, 2, 0)),
        ("gray4.png", write_png(gray8 >> 4, 4, 0)),
        ("gray8.png", write_png(gray8, 8, 0)),
        ("gray8_trns.png", write_png(gray8, 8, 0, trns=struct.pack(">H", int(gray8[0, 0])))),
        ("gray16.png", write_png(gray16, 16, 0)),
        ("gray16_low.png", write_png(gray16_low, 16, 0)),
        ("rgb8.png", write_png(rgb8, 8, 2)),
        ("rgb8_trns.png", write_png(rgb8, 8, 2, trns=struct.pack(">HHH", *map(int, rgb8[0, 0])))),
        ("rgb16.png", write_png(rgb16, 16, 2)),
        ("palette1.png", write_png(gray8 >> 7, 1, 3, palette=palette[:2])),
        ("palette2.png", write_png(gray8 >> 6, 2, 3, palette=palette[:4])),
        ("palette4.png", write_png(gray8 >> 4, 4, 3, palette=palette[:16])),
        ("palette8.png", write_png(gray8, 8, 3, palette=palette)),
        ("palette8_trns.png", write_png(gray8, 8, 3, palette=palette,
                                        trns=bytes(rng.integers(0, 256, size=200).astype(np.uint8)))),
        ("palette4_trns_single.png", write_png(gray8 >> 4, 4, 3, palette=palette[:16],
                                               trns=bytes([255, 255, 0]))),
        ("gray_alpha8.png", write_png(la8, 8, 4)),
        ("gray_alpha16.png", write_png(la16, 16, 4)),
        ("rgba8.png", write_png(rgba8, 8, 6)),
        ("rgba16.png", write_png(rgba16, 16, 6)),
        ("interlaced_rgb8.png", write_png(rgb8, 8, 2, interlace=True)),
        ("interlaced_gray2.png", write_png(gray8 >> 6, 2, 0, interlace=True)),
        ("interlaced_palette4.png", write_png(gray8 >> 4, 4, 3, palette=palette[:16], interlace=True)),
        ("interlaced_rgba16.png", write_png(rgba16, 16, 6, interlace=True)),
        ("interlaced_gray16.png", write_png(gray16, 16, 0, interlace=True)),
        ("interlaced_tiny_rgb8.png", write_png(rgb8[:2, :3], 8, 2, interlace=True)),
        ("one_pixel_gray8.png", write_png(gray8[:1, :1], 8, 0)),
        ("portrait_rgba8.png", write_png(rgba8.transpose(1, 0, 2).copy(), 8, 6)),
        ("portrait_palette8.png", write_png(gray8.T.copy(), 8, 3, palette=palette)),
    ]
    for name, payload in variants:
        save(name, payload)

    # --- JPEGs written by Pillow (libjpeg-turbo): small odd-sized ones and a 640x480 photo
    coffee = Image.fromarray(skdata.coffee()).resize((640, 480), Image.Resampling.LANCZOS)
    chelsea = Image.fromarray(photo_crop("chelsea", 40, 150, 170, 120))  # portrait 120x170
    small = Image.fromarray(photo_crop("coffee", 100, 200, 45, 67))
    jpegs = [
        ("photo_640x480.jpg", coffee, dict(quality=85)),
        ("portrait_chelsea.jpg", chelsea, dict(quality=90)),
        ("baseline.jpg", small, dict(quality=90)),
        ("baseline_444.jpg", small, dict(quality=95, subsampling=0)),
        ("progressive.jpg", small, dict(quality=90, progressive=True)),
        ("grayscale.jpg", small.convert("L"), dict(quality=90)),
        ("cmyk.jpg", small.convert("CMYK"), dict(quality=90)),
    ]
    for name, im, options in jpegs:
        buffer = io.BytesIO()
        im.save(buffer, "JPEG", **options)
        save(name, buffer.getvalue())

    # --- decode expectations
    for name, payload in files.items():
        im = Image.open(io.BytesIO(payload))
        im.load()
        entry = {"file": name, "mode": im.mode, "width": im.width, "height": im.height,
                 "format": im.format}
        samples = pillow_samples(im)
        big = samples.size > 100_000
        # The big photo: every 13th sample only, to keep the fixtures small.
        entry["stride"] = 13 if big else 1
        entry["samples"] = writer.array(samples.reshape(-1)[:: entry["stride"]])
        if not big:
            entry["rgb"] = writer.array(np.asarray(im.convert("RGB")))
        if im.mode == "P":
            entry["palette"] = im.getpalette()  # the PLTE entries, RGB
            entry["has_transparency"] = "transparency" in im.info
        writer.manifest["decode"].append(entry)

    # --- resize expectations: Image.resize in the image's own mode
    filters = {"nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX,
               "bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
    sizes = [(17, 11), (61, 40), (37, 9), (12, 23), (50, 13)]
    resize_sources = {
        "rgb8.png": list(filters), "rgba8.png": list(filters), "gray8.png": list(filters),
        "gray_alpha8.png": ["bicubic", "bilinear"], "gray16.png": ["bicubic", "nearest", "box"],
        "palette8_trns.png": ["bicubic"], "gray1.png": ["bicubic"], "cmyk.jpg": ["bicubic", "bilinear"],
        "baseline.jpg": ["bicubic", "box"],
    }
    for name, filter_names in resize_sources.items():
        im = Image.open(io.BytesIO(files[name]))
        im.load()
        for filter_name in filter_names:
            for size in sizes:
                out = im.resize(size, filters[filter_name])
                writer.manifest["resize"].append({
                    "file": name, "filter": filter_name, "width": size[0], "height": size[1],
                    "mode": out.mode, "samples": writer.array(pillow_samples(out))})
    # A large downscale and upscale of the photo (bicubic), strided.
    im = Image.open(io.BytesIO(files["photo_640x480.jpg"]))
    for size in [(97, 71), (700, 530)]:
        out = np.asarray(im.resize(size, Image.Resampling.BICUBIC))
        writer.manifest["resize"].append({
            "file": "photo_640x480.jpg", "filter": "bicubic", "width": size[0], "height": size[1],
            "mode": "RGB", "stride": 7, "samples": writer.array(out.reshape(-1)[::7])})

    # --- preprocessing expectations
    cases = [(name, size) for name in files
             if name.endswith(".png") and not name.startswith(("interlaced_tiny", "one_pixel"))
             for size in (16, 13)]
    cases += [("one_pixel_gray8.png", 5), ("rgb8.png", 40), ("gray16_low.png", 30)]
    cases += [(name, 24) for name in ("baseline.jpg", "progressive.jpg", "grayscale.jpg", "cmyk.jpg",
                                      "baseline_444.jpg")]
    cases += [("portrait_chelsea.jpg", 64), ("photo_640x480.jpg", 64), ("photo_640x480.jpg", 288),
              ("photo_640x480.jpg", 224)]
    for name, size in cases:
        im = Image.open(io.BytesIO(files[name]))
        im.load()
        rgb, tensor = preprocess(im, size)
        entry = {"file": name, "size": size, "rgb": writer.array(rgb)}
        if size <= 64:
            entry["tensor"] = writer.array(tensor)
        writer.manifest["preprocess"].append(entry)

    # --- crop (out of bounds is zero), paste with a mask, blend, channel conversions
    ops = writer.manifest.setdefault("ops", [])
    rgb = Image.open(io.BytesIO(files["rgb8.png"])).convert("RGB")
    rgba = Image.open(io.BytesIO(files["rgba8.png"])).convert("RGBA")
    ops.append({"op": "crop", "file": "rgba8.png", "box": [-3, -2, 20, 30],
                "result": writer.array(np.asarray(rgba.crop((-3, -2, 20, 30))))})
    base = rgb.copy()
    piece = rgba.crop((0, 0, 20, 15))
    base.paste(piece, (25, -4), piece)
    ops.append({"op": "paste_masked", "file": "rgb8.png", "source": "rgba8.png", "source_box": [0, 0, 20, 15],
                "at": [25, -4], "result": writer.array(np.asarray(base))})
    flipped = rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    ops.append({"op": "blend_flipped", "file": "rgb8.png", "alpha": 0.3,
                "result": writer.array(np.asarray(Image.blend(rgb, flipped, 0.3)))})
    ops.append({"op": "to_gray", "file": "rgb8.png", "result": writer.array(np.asarray(rgb.convert("L")))})

    # --- files that must be refused
    photo = files["baseline.jpg"]
    sof = photo.find(b"\xff\xc0")
    bomb_jpeg = bytearray(photo)
    struct.pack_into(">HH", bomb_jpeg, sof + 5, 12000, 12000)  # height, width: 144 megapixels
    save("bomb.jpg", bytes(bomb_jpeg))
    bomb_png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    bomb_png += _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b"")
    save("bomb.png", bomb_png)
    save("truncated.png", files["rgb8.png"][: len(files["rgb8.png"]) // 2])
    save("truncated.jpg", files["baseline.jpg"][: len(files["baseline.jpg"]) // 2])
    save("garbage.png", b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 256, 300).astype(np.uint8)))
    save("not_an_image.jpg", b"GIF89a this is not a JPEG at all\n")
    save("empty.png", b"")
    for name in ("bomb.jpg", "bomb.png", "truncated.png", "truncated.jpg", "garbage.png",
                 "not_an_image.jpg", "empty.png"):
        try:
            Image.open(io.BytesIO(files[name])).load()
            outcome = "loaded"
        except Exception as error:  # what Pillow says, for the record
            outcome = f"{type(error).__name__}: {str(error).split(' <')[0]}"
        writer.manifest["errors"].append({"file": name, "pillow": outcome})

    (OUT / "expected.bin").write_bytes(bytes(writer.blob))
    (OUT / "manifest.json").write_text(json.dumps(writer.manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total / 1e6:.2f} MB, into {OUT}")


if __name__ == "__main__":
    main()
