#!/usr/bin/python3
"""Toy-world scenes drawn by a renderer that is not clipscope's: other shape drawings,
other fonts, other backgrounds (Pillow; Debian's python3-pil, so run it with
/usr/bin/python3). A test-only tool: it checks that the toy model's concept neurons
hold their concept on scenes nobody in the project drew.

Files are named as `clipscope toy gallery` names them (00012-red-star+word-moon.png),
in the same category folders, so `clipscope toy purity --folder DIR` reads what each
shows from its name.

    /usr/bin/python3 tools/other_renderer.py -o /tmp/other [--count 1200] [--seed 5]
"""
import argparse
import math
import os
import random

from PIL import Image, ImageDraw, ImageFont

SHAPES = ["circle", "square", "triangle", "star", "heart", "cross", "ring", "moon", "diamond", "arrow", "hexagon", "smiley"]
INKS = {
    "red": (220, 30, 30), "orange": (255, 140, 0), "yellow": (240, 220, 20), "green": (30, 170, 50),
    "blue": (30, 70, 220), "purple": (130, 40, 160), "pink": (255, 150, 190), "brown": (120, 70, 30),
    "black": (15, 15, 15), "white": (245, 245, 245),
}
CONCEPTS = ["dog", "cat", "sun", "tree", "car", "house", "fish", "bird", "apple", "music", "love", "happy", "sad", "fire",
            "water", "book", "phone", "pizza", "king", "money", "time", "snow", "rain", "night", "smile", "game", "peace",
            "danger", "gold", "ice"]
WORDS = SHAPES + list(INKS) + CONCEPTS
# Every font but the one clipscope draws with (DejaVu Sans).
FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Oblique.ttf", "/usr/share/fonts/truetype/noto/NotoMono-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerifCondensed-Italic.ttf",
]
SIZE = 96


def jittered(colour, rng):
    return tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in colour)


def background(rng):
    """Stripes, checks, a radial gradient, noise or flat: pale or dark, never an ink."""
    pale = rng.random() < 0.7
    def tone():
        return tuple(rng.randint(190, 250) if pale else rng.randint(0, 50) for _ in range(3))
    a, b = tone(), tone()
    image = Image.new("RGB", (SIZE, SIZE), a)
    draw = ImageDraw.Draw(image)
    kind = rng.choice(["stripes", "checks", "radial", "noise", "flat"])
    if kind == "stripes":
        width = rng.randint(4, 12)
        for x in range(-SIZE, 2 * SIZE, 2 * width):
            draw.polygon([(x, 0), (x + width, 0), (x + width + SIZE, SIZE), (x + SIZE, SIZE)], fill=b)
    elif kind == "checks":
        cell = rng.randint(8, 16)
        for y in range(0, SIZE, cell):
            for x in range(0, SIZE, cell):
                if (x // cell + y // cell) % 2:
                    draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=b)
    elif kind == "radial":
        for r in range(SIZE, 0, -4):
            t = r / SIZE
            draw.ellipse([SIZE / 2 - r, SIZE / 2 - r, SIZE / 2 + r, SIZE / 2 + r],
                         fill=tuple(int(a[k] * t + b[k] * (1 - t)) for k in range(3)))
    elif kind == "noise":
        pixels = image.load()
        for y in range(SIZE):
            for x in range(SIZE):
                t = rng.random() * 0.3
                pixels[x, y] = tuple(int(a[k] * (1 - t) + b[k] * t) for k in range(3))
    return image, a


def polygon(points, cx, cy, r, turn):
    s, c = math.sin(turn), math.cos(turn)
    return [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in points]


def regular(n, phase):
    return [(math.cos(phase + 2 * math.pi * i / n), math.sin(phase + 2 * math.pi * i / n)) for i in range(n)]


def draw_shape(image, shape, ink, back, rng):
    """Each shape as another hand would draw it: other proportions, other constructions."""
    draw = ImageDraw.Draw(image)
    r = SIZE * rng.uniform(0.17, 0.33)
    cx, cy = SIZE * rng.uniform(0.32, 0.68), SIZE * rng.uniform(0.32, 0.68)
    turn = rng.uniform(-0.5, 0.5)
    box = [cx - r, cy - r, cx + r, cy + r]
    if shape == "circle":
        squash = rng.uniform(0.85, 1)
        draw.ellipse([cx - r, cy - r * squash, cx + r, cy + r * squash], fill=ink)
    elif shape == "square":
        a = r * 0.8
        draw.rounded_rectangle([cx - a, cy - a, cx + a, cy + a], radius=rng.uniform(0, a * 0.3), fill=ink)
    elif shape == "triangle":
        apex = rng.uniform(-0.4, 0.4)
        draw.polygon(polygon([(apex, -1), (1, 0.8), (-1, 0.8)], cx, cy, r, turn), fill=ink)
    elif shape == "star":
        points, inner = rng.choice([5, 6]), rng.uniform(0.45, 0.55)
        star = [(math.cos(-math.pi / 2 + math.pi * i / points) * (1 if i % 2 == 0 else inner),
                 math.sin(-math.pi / 2 + math.pi * i / points) * (1 if i % 2 == 0 else inner)) for i in range(2 * points)]
        draw.polygon(polygon(star, cx, cy, r, turn), fill=ink)
    elif shape == "heart":
        lobe = r * 0.5
        draw.ellipse([cx - r, cy - r * 0.7, cx - r + 2 * lobe, cy - r * 0.7 + 2 * lobe], fill=ink)
        draw.ellipse([cx + r - 2 * lobe, cy - r * 0.7, cx + r, cy - r * 0.7 + 2 * lobe], fill=ink)
        draw.polygon([(cx - r * 0.97, cy - r * 0.05), (cx + r * 0.97, cy - r * 0.05), (cx, cy + r)], fill=ink)
    elif shape == "cross":
        arm = rng.uniform(0.2, 0.4)
        draw.polygon(polygon([(-arm, -1), (arm, -1), (arm, -arm), (1, -arm), (1, arm), (arm, arm), (arm, 1), (-arm, 1),
                              (-arm, arm), (-1, arm), (-1, -arm), (-arm, -arm)], cx, cy, r, turn), fill=ink)
    elif shape == "ring":
        draw.ellipse(box, outline=ink, width=max(2, int(r * rng.uniform(0.18, 0.35))))
    elif shape == "moon":
        draw.ellipse(box, fill=ink)
        shift = r * rng.uniform(0.4, 0.6)
        draw.ellipse([cx - r + shift, cy - r - shift * 0.3, cx + r + shift, cy + r - shift * 0.3], fill=back)
    elif shape == "diamond":
        draw.polygon(polygon([(0, -1), (0.8, 0), (0, 1), (-0.8, 0)], cx, cy, r, turn), fill=ink)
    elif shape == "arrow":
        draw.line(polygon([(-1, 0), (0.3, 0)], cx, cy, r, turn), fill=ink, width=max(3, int(r * 0.35)))
        draw.polygon(polygon([(0.2, -0.55), (1, 0), (0.2, 0.55)], cx, cy, r, turn), fill=ink)
    elif shape == "hexagon":
        draw.polygon(polygon(regular(6, -math.pi / 2), cx, cy, r, turn * 0.3), fill=ink)
    elif shape == "smiley":
        draw.ellipse(box, fill=ink)
        feature = (255, 255, 255) if sum(ink) < 300 else (0, 0, 0)
        for ex in (-0.35, 0.35):
            draw.ellipse([cx + ex * r - r * 0.09, cy - r * 0.45, cx + ex * r + r * 0.09, cy - r * 0.15], fill=feature)
        draw.arc([cx - r * 0.55, cy - r * 0.45, cx + r * 0.55, cy + r * 0.6], 20, 160, fill=feature, width=max(2, int(r * 0.1)))


def draw_word(image, word, ink, rng, both):
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(rng.choice(FONTS), rng.randint(13, 21) if both else rng.randint(15, 24))
    outlined = rng.random() < 0.5
    stroke = (0, 0, 0) if sum(ink) > 100 else (255, 255, 255)
    x = SIZE * rng.uniform(0.42, 0.58)
    y = SIZE * (rng.uniform(0.2, 0.8) if both else rng.uniform(0.38, 0.62))
    draw.text((x, y), word, font=font, fill=ink, anchor="mm", stroke_width=2 if outlined else 0, stroke_fill=stroke)


def scene(category, rng):
    image, back = background(rng)
    shape = ink = word = None
    if category in ("shapes", "both", "attacks"):
        shape = rng.choice(SHAPES)
        ink = rng.choice(list(INKS))
        draw_shape(image, shape, jittered(INKS[ink], rng), back, rng)
    if category in ("words", "both", "attacks"):
        word = rng.choice([s for s in SHAPES if s != shape]) if category == "attacks" else rng.choice(WORDS)
        draw_word(image, word, jittered(INKS[rng.choice(list(INKS))], rng), rng, category != "words")
    parts = ([f"{ink}-{shape}"] if shape else []) + ([f"word-{word}"] if word else [])
    return image, "+".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--count", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    categories = ["shapes", "words", "both", "attacks"]
    for category in categories:
        os.makedirs(os.path.join(args.output, category), exist_ok=True)
    for index in range(args.count):
        category = categories[index % len(categories)]
        image, name = scene(category, rng)
        image.save(os.path.join(args.output, category, f"{index:05d}-{name}.png"))
    print(f"wrote {args.count} scenes into {args.output}")


if __name__ == "__main__":
    main()
