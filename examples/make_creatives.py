"""Recreate the sample creatives in ``examples/creatives/`` (deterministic output).

Good files look like real ad creatives (drawn with Pillow, videos encoded with PyAV/H.264);
the ``bad/`` folder holds files a sync must refuse; a few files must be skipped by any
listing (dot files, Office ``~$`` lock files, partial downloads).

Run ``uv run python examples/make_creatives.py [target_dir]``; with no argument it rewrites
``examples/creatives/``. Two runs with the locked Pillow and PyAV give identical bytes.
"""

from __future__ import annotations

import io
import math
import shutil
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
DEFAULT_TARGET = HERE / "creatives"

Color = tuple[int, int, int]

CORAL: Color = (255, 111, 97)
NAVY: Color = (24, 36, 74)
SAND: Color = (250, 231, 196)
TEAL: Color = (0, 150, 136)
WHITE: Color = (255, 255, 255)
GOLD: Color = (255, 193, 7)
SKY_TOP: Color = (64, 156, 255)
SKY_BOTTOM: Color = (190, 228, 255)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font (no system fonts: the output must not depend on the machine)."""
    return ImageFont.load_default(size=size)


def centered_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int, fill: Color) -> None:
    draw.text(xy, text, font=font(size), fill=fill, anchor="mm")


def vertical_gradient(size: tuple[int, int], top: Color, bottom: Color) -> Image.Image:
    width, height = size
    column = Image.new("RGB", (1, height))
    for y in range(height):
        t = y / max(height - 1, 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    return column.resize((width, height))


def button(draw: ImageDraw.ImageDraw, center: tuple[int, int], text: str, size: int, fill: Color, ink: Color) -> None:
    cx, cy = center
    w, h = int(size * len(text) * 0.62) + size * 2, int(size * 2.2)
    draw.rounded_rectangle((cx - w // 2, cy - h // 2, cx + w // 2, cy + h // 2), radius=h // 2, fill=fill)
    centered_text(draw, (cx, cy), text, size, ink)


# -- images ---------------------------------------------------------------------------------


def summer_sale_banner() -> Image.Image:
    """1200x628: the landscape size Sponsored Brands custom images and social links use."""
    image = vertical_gradient((1200, 628), SKY_TOP, SKY_BOTTOM)
    draw = ImageDraw.Draw(image)
    draw.ellipse((990, 40, 1150, 200), fill=GOLD)
    draw.polygon([(0, 628), (0, 470), (300, 420), (700, 480), (1200, 430), (1200, 628)], fill=SAND)
    draw.rectangle((0, 560, 1200, 628), fill=(232, 205, 160))
    for x, color in ((110, CORAL), (250, TEAL), (390, NAVY)):  # beach umbrellas
        draw.line((x, 380, x, 520), fill=(90, 70, 50), width=6)
        draw.pieslice((x - 75, 340, x + 75, 440), 180, 360, fill=color)
    centered_text(draw, (820, 290), "SUMMER SALE", 84, NAVY)
    centered_text(draw, (820, 370), "up to 30% off sunglasses & swimwear", 30, NAVY)
    button(draw, (820, 470), "SHOP NOW", 28, CORAL, WHITE)
    return image


def new_arrivals_square() -> Image.Image:
    """1080x1080: the square social feed format, flat colours (a small PNG)."""
    image = Image.new("RGB", (1080, 1080), SAND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1080, 180), fill=NAVY)
    centered_text(draw, (540, 90), "NEW ARRIVALS", 80, WHITE)
    for i, color in enumerate((CORAL, TEAL, GOLD)):  # three product tiles
        x0 = 90 + i * 310
        draw.rounded_rectangle((x0, 260, x0 + 280, 640), radius=28, fill=WHITE, outline=NAVY, width=4)
        draw.ellipse((x0 + 50, 300, x0 + 230, 480), fill=color)
        draw.rectangle((x0 + 40, 520, x0 + 240, 540), fill=NAVY)
        draw.rectangle((x0 + 40, 560, x0 + 180, 576), fill=(160, 160, 170))
    centered_text(draw, (540, 760), "Autumn collection, in stores now", 44, NAVY)
    button(draw, (540, 900), "DISCOVER", 40, CORAL, WHITE)
    return image


def summer_sale_square() -> Image.Image:
    """600x600 square version of the summer sale (saved under a name MediaMath refuses)."""
    image = vertical_gradient((600, 600), SKY_TOP, SKY_BOTTOM)
    draw = ImageDraw.Draw(image)
    draw.ellipse((420, 40, 560, 180), fill=GOLD)
    draw.rectangle((0, 440, 600, 600), fill=SAND)
    centered_text(draw, (300, 300), "SUMMER", 80, NAVY)
    centered_text(draw, (300, 380), "SALE -30%", 56, CORAL)
    return image


def brand_logo() -> Image.Image:
    """600x600 logo on a transparent background (RGBA PNG)."""
    image = Image.new("RGBA", (600, 600), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 40, 560, 560), fill=NAVY + (255,))
    draw.ellipse((90, 90, 510, 510), outline=GOLD + (255,), width=14)
    draw.polygon([(300, 150), (420, 360), (180, 360)], fill=CORAL + (255,))
    centered_text(draw, (300, 430), "SUNLINE", 64, WHITE)
    return image


def app_icon() -> Image.Image:
    """100x100 app icon."""
    image = Image.new("RGB", (100, 100), TEAL)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((8, 8, 92, 92), radius=20, fill=WHITE)
    draw.ellipse((22, 22, 78, 78), fill=CORAL)
    centered_text(draw, (50, 50), "S", 40, WHITE)
    return image


def name_card(caption: str, color: Color) -> Image.Image:
    """200x200 card for the files whose names are awkward (each a distinct content)."""
    image = Image.new("RGB", (200, 200), color)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((16, 16, 184, 184), radius=24, fill=WHITE)
    centered_text(draw, (100, 100), caption, 36, NAVY)
    return image


#: a 250-character file name: no platform may refuse it for its length.
LONG_NAME = ("back_to_school_campaign_" * 11)[:246] + ".png"


def medium_rectangle_frames() -> list[Image.Image]:
    """300x250 IAB medium rectangle, animated over four frames."""
    frames = []
    captions = ("Free shipping", "on every order", "this weekend", "SHOP NOW")
    for i, caption in enumerate(captions):
        frame = Image.new("RGB", (300, 250), NAVY)
        draw = ImageDraw.Draw(frame)
        draw.rectangle((0, 200, 300, 250), fill=CORAL)
        centered_text(draw, (150, 225), "sunline.example", 20, WHITE)
        radius = 30 + 8 * i
        draw.ellipse((150 - radius, 90 - radius, 150 + radius, 90 + radius), fill=GOLD)
        centered_text(draw, (150, 165), caption, 28, WHITE)
        frames.append(frame)
    return frames


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    return encode(image, "PNG", optimize=True)


def jpeg(image: Image.Image) -> bytes:
    return encode(image, "JPEG", quality=82, optimize=True, progressive=False)


def gif(frames: list[Image.Image]) -> bytes:
    paletted = [
        frame.quantize(colors=32, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) for frame in frames
    ]
    buffer = io.BytesIO()
    paletted[0].save(buffer, "GIF", save_all=True, append_images=paletted[1:], duration=700, loop=0)
    return buffer.getvalue()


# -- videos ---------------------------------------------------------------------------------


def teaser_frame(width: int, height: int, t: float) -> Image.Image:
    """One frame of the product teaser: a product card sliding in, then a call to action."""
    image = vertical_gradient((width, height), NAVY, (48, 72, 140))
    draw = ImageDraw.Draw(image)
    scale = min(width, height) / 360
    card_w, card_h = int(200 * scale), int(150 * scale)
    progress = min(t / 1.2, 1.0)
    x = int(-card_w / 2 + (width / 2 + card_w / 2) * (1 - (1 - progress) ** 3))
    y = int(height * 0.38) - card_h // 2
    draw.rounded_rectangle((x - card_w // 2, y, x + card_w // 2, y + card_h), radius=int(18 * scale), fill=SAND)
    bob = int(6 * scale * math.sin(t * 4))
    r = int(42 * scale)
    draw.ellipse((x - r, y + card_h // 2 - r + bob, x + r, y + card_h // 2 + r + bob), fill=CORAL)
    if t > 1.4:
        centered_text(draw, (width / 2, height * 0.72), "SUNLINE SS25", int(36 * scale), WHITE)
    if t > 2.2:
        button(draw, (width // 2, int(height * 0.86)), "SHOP NOW", int(16 * scale), GOLD, NAVY)
    return image


def video(width: int, height: int, seconds: float, fps: int, container_format: str) -> bytes:
    """Encode an H.264 video in memory, single-threaded so the bytes are reproducible."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.codec_context.thread_count = 1
        stream.options = {"crf": "30", "preset": "medium", "tune": "animation", "threads": "1"}
        for index in range(round(seconds * fps)):
            frame = av.VideoFrame.from_image(teaser_frame(width, height, index / fps))
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


# -- the folder ------------------------------------------------------------------------------

# An AppleDouble header (the "._name" files macOS leaves on shared drives).
APPLE_DOUBLE = bytes.fromhex("00051607000200004d6163204f5320582020202020202020") + bytes(58)
DS_STORE = b"\x00\x00\x00\x01Bud1" + bytes(2040)
OFFICE_LOCK = b"\x0bmarketing" + bytes(43) + b"m\x00a\x00r\x00k\x00e\x00t\x00i\x00n\x00g\x00" + bytes(94)
MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
BRIEF = (
    "Summer campaign brief\n\nAudience: 25-44, beach and travel.\n"
    "Formats: 1200x628, 1080x1080, 300x250, 6 s teaser.\nDeadline: Friday.\n"
)


#: the metadata manifest (README "Metadata from the folder"): what each platform stores beside
#: the files; read by creative_sync from the source's root, never uploaded as a creative.
MANIFEST = """\
# Metadata from the folder (README, "Metadata from the folder"): what each platform stores
# beside the files. creative_sync reads it from the source's root; it is never uploaded.
# No name_template: every platform keeps the file's own name (add e.g. "{folder}-{stem}").
defaults:
  tags: [summer-2026]
files:
  "banners/*":
    description: Summer sale banners for the home page
    category: Banners
    tags: [summer-2026, banner]
    mediamath:
      start_date: "2026-06-01T00:00:00"
      end_date: "2026-08-31T23:59:59"
    topsort:
      metadata: {campaign: summer-sale}
  "logos/*":
    category: Brand
"""


def build() -> dict[str, bytes]:
    """Every file of the sample folder: relative path -> bytes."""
    banner = jpeg(summer_sale_banner())
    square = png(new_arrivals_square())
    teaser = video(640, 360, 4.0, 24, "mp4")
    files: dict[str, bytes] = {
        # good creatives
        "banners/summer_sale_1200x628.jpg": banner,
        "banners/medium_rectangle_300x250.gif": gif(medium_rectangle_frames()),
        "social/new_arrivals_1080x1080.png": square,
        "logos/sunline_logo_600x600.png": png(brand_logo()),
        "logos/app_icon_100x100.png": png(app_icon()),
        "video/product_teaser_640x360.mp4": teaser,
        "video/story_360x640.mov": video(360, 640, 2.0, 24, "mov"),
        # the same content under another name: sent once, reported as an alias
        "archive/new_arrivals_copy.png": square,
        # names a platform could choke on: sent everywhere their content is accepted, names derived
        "names/rentrée — 30% off.png": png(name_card("-30%", CORAL)),
        "names/Q3 #launch [final].jpg": jpeg(name_card("Q3", TEAL)),
        f"names/{LONG_NAME}": png(name_card("B2S", GOLD)),
        "names/photo.jpeg": jpeg(name_card("PHOTO", SKY_TOP)),
        # must be refused, never sent
        "bad/empty.png": b"",
        "bad/truncated_banner.jpg": banner[: len(banner) // 3],
        "bad/jpeg_named_as.png": jpeg(summer_sale_square()),
        "bad/text_named_as.jpg": BRIEF.encode(),
        "bad/campaign_brief.txt": BRIEF.encode(),
        "bad/media_kit.pdf": MINIMAL_PDF,
        "bad/truncated_teaser.mp4": teaser[: len(teaser) // 2],
        # '#' is refused by a name rule a user opts into (forbidden_name_chars); platforms derive names
        "bad/summer#sale.png": png(summer_sale_square()),
        # must be skipped by the listing (hidden, temporary, partial download)
        ".DS_Store": DS_STORE,
        "banners/._summer_sale_1200x628.jpg": APPLE_DOUBLE,
        "~$campaign_plan.docx": OFFICE_LOCK,
        "video/product_teaser_640x360.mp4.part": teaser[: len(teaser) // 4],
        # the metadata manifest: read, never sent
        "creatives.yaml": MANIFEST.encode(),
    }
    return files


def write(target: Path, files: dict[str, bytes]) -> None:
    if target.exists():
        shutil.rmtree(target)
    for name, data in sorted(files.items()):
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else DEFAULT_TARGET
    files = build()
    write(target, files)
    out(f"wrote {len(files)} files, {sum(map(len, files.values()))} bytes, to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
