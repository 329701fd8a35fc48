"""Damage profiles: what scanners, copiers and phones do to a page, deterministic by seed.

``params["skew"]`` is in degrees, positive = the content turned counter-clockwise as
seen by the viewer (PIL's ``rotate`` sign); ``params["rotate"]`` (0/90/180/270) is the
counter-clockwise quarter turn applied.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from PIL import Image, ImageFilter

from samples.canvas import _np_rng, stamp_seal
from samples.layouts import GeneratedPage, render_page

PROFILES = (  # applied in this order whatever order the profile string names them
    "clean",
    "seal",
    "bleed",
    "faded",
    "rotate90",
    "rotate180",
    "rotate270",
    "skew",
    "phone",
    "border",
    "shadow",
    "photocopy",
    "noise",
    "blur_jpeg",
    "dpi150",
)


_Damage = Callable[[Image.Image, int, GeneratedPage, np.random.Generator, str], tuple]


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float32)


def _img(a: np.ndarray) -> Image.Image:
    a = np.clip(a, 0, 255, out=a if a.dtype == np.float32 else None)
    return Image.fromarray(np.rint(a).astype(np.uint8), "RGB")


def _gain_map(w: int, h: int, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Evaluate a smooth illumination field at 1/8 scale and enlarge it: same look, ~50x faster."""
    import cv2

    sw, sh = max(2, w // 8), max(2, h // 8)
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    small = fn(xs * (w / sw), ys * (h / sh)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]


def _paper(page: GeneratedPage, img: Image.Image) -> tuple[int, int, int]:
    return tuple(page.info.get("paper") or img.getpixel((0, 0)))


def _d_seal(img, dpi, page, rng, arg):
    w, h = img.size
    top, bottom = page.info.get("body", (0.3, 0.7))
    centre = (int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(top, max(top, bottom)) * h))
    text = page.info.get("ring_text", "ỦY BAN NHÂN DÂN TỈNH LÀO CAI")
    img = stamp_seal(img, centre, dpi, text, random.Random(int(rng.integers(2**32))))
    return img, dpi, {"seal": {"center": list(centre)}}


def _d_bleed(img, dpi, page, rng, arg):
    other = render_page("letter", seed=int(rng.integers(2**31)), dpi=dpi).image.convert("L")
    other = other.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize(img.size)
    other = other.filter(ImageFilter.GaussianBlur(dpi / 150))
    k = float(rng.uniform(0.10, 0.2))
    darken = 1 - k * (1 - np.asarray(other, np.float32) / 255)
    return _img(_arr(img) * darken[..., None]), dpi, {"bleed": round(k, 3)}


def _d_faded(img, dpi, page, rng, arg):
    f = float(rng.uniform(0.35, 0.55))
    bg = np.array(_paper(page, img), np.float32)
    out = bg - (bg - _arr(img)) * np.float32(f)
    out *= np.array([1.0, 0.985, 0.95], np.float32)
    return _img(out), dpi, {"faded": round(f, 3)}


def _rotate(turn: int):
    transpose = {
        90: Image.Transpose.ROTATE_90,
        180: Image.Transpose.ROTATE_180,
        270: Image.Transpose.ROTATE_270,
    }[turn]

    def apply(img, dpi, page, rng, arg):
        return img.transpose(transpose), dpi, {"rotate": turn}

    return apply


def _d_skew(img, dpi, page, rng, arg):
    if arg:
        angle = float(arg)
    else:
        angle = round(float(rng.uniform(0.5, 5.0)) * float(rng.choice([-1.0, 1.0])), 2)
    out = img.rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=_paper(page, img)
    )
    return out, dpi, {"skew": angle}


def _d_phone(img, dpi, page, rng, arg):
    import cv2

    a = np.asarray(img.convert("RGB"))
    h, w = a.shape[:2]
    m = rng.uniform(0.03, 0.1, size=8)
    dst = np.float32(
        [
            [m[0] * w, m[1] * h],
            [w - m[2] * w, m[3] * h],
            [w - m[4] * w, h - m[5] * h],
            [m[6] * w, h - m[7] * h],
        ]
    )
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    table = rng.integers(45, 100, size=3)
    warped = cv2.warpPerspective(
        a,
        cv2.getPerspectiveTransform(src, dst),
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(int(v) for v in table),
    ).astype(np.float32)
    lx, ly = rng.uniform(0, w), rng.uniform(0, h)
    low = float(rng.uniform(0.55, 0.75))
    reach = 0.8 * math.hypot(w, h)  # light falls off over most of the diagonal

    def light(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 1.05 - (1.05 - low) * np.clip(np.hypot(x - lx, y - ly) / reach, 0, 1)

    out = warped * _gain_map(w, h, light)
    out += rng.normal(0, 3, size=warped.shape[:2]).astype(np.float32)[..., None]
    out = cv2.GaussianBlur(out, (0, 0), max(0.5, dpi / 300))
    params = {
        "corners": [[round(float(v), 1) for v in pt] for pt in dst],
        "background": [int(v) for v in table],
        "min_gain": round(low, 3),
    }
    return _img(out), dpi, {"phone": params}


def _d_border(img, dpi, page, rng, arg):
    w, h = img.size
    sides = {s: bool(rng.random() < 0.7) for s in ("top", "bottom", "left", "right")}
    if not any(sides.values()):
        sides["left"] = True
    widths = {
        s: int(rng.uniform(0.015, 0.06) * (h if s in ("top", "bottom") else w)) if on else 0
        for s, on in sides.items()
    }
    shade = int(rng.integers(5, 45))
    size = (w + widths["left"] + widths["right"], h + widths["top"] + widths["bottom"])
    out = Image.new("RGB", size, (shade, shade, shade))
    out.paste(img, (widths["left"], widths["top"]))
    return out, dpi, {"border": {**widths, "shade": shade}}


def _d_shadow(img, dpi, page, rng, arg):
    a = _arr(img)
    h, w = a.shape[:2]
    theta = float(rng.uniform(0, math.tau))
    c, s = math.cos(theta), math.sin(theta)
    span = abs(c) / 2 + abs(s) / 2  # the projection runs from -span to +span over the page
    low = float(rng.uniform(0.45, 0.7))
    power = float(rng.uniform(1.5, 2.5))

    def field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        proj = ((x / w - 0.5) * c + (y / h - 0.5) * s + span) / (2 * span)
        return 1 - (1 - low) * np.clip(proj, 0, 1) ** power

    params = {"direction_deg": round(math.degrees(theta), 1), "min_gain": round(low, 3)}
    return _img(a * _gain_map(w, h, field)), dpi, {"shadow": params}


def _d_photocopy(img, dpi, page, rng, arg):
    import cv2

    g = np.asarray(img.convert("L"), np.float32)
    paper = float(np.percentile(g, 90))
    t = np.clip((g / max(paper, 1)) * 1.35 - 0.4, 0, 1) ** 1.6
    background = int(rng.integers(185, 215))
    out = 15 + (background - 15) * t
    h, w = g.shape
    grain = cv2.GaussianBlur(rng.normal(0, 10, size=(h, w)).astype(np.float32), (0, 0), 2)
    out += grain * t
    count = int(h * w * rng.uniform(2e-5, 5e-5))
    radius = max(1, round(dpi / 200))
    for x, y in zip(rng.integers(0, w, count), rng.integers(0, h, count), strict=True):
        cv2.circle(out, (int(x), int(y)), int(rng.integers(1, radius + 2)), 25.0, -1)
    rgb = np.repeat(out[..., None], 3, axis=2)
    return _img(rgb), dpi, {"photocopy": {"background": background, "speckles": count}}


def _d_noise(img, dpi, page, rng, arg):
    a = _arr(img)
    sigma = float(rng.uniform(5, 12))
    a += rng.normal(0, sigma, size=a.shape[:2]).astype(np.float32)[..., None]
    amount = float(rng.uniform(0.002, 0.008))
    hit = rng.random(a.shape[:2])
    a[hit < amount / 2] = 20
    a[hit > 1 - amount / 2] = 250
    return _img(a), dpi, {"noise": {"sigma": round(sigma, 2), "salt_pepper": round(amount, 4)}}


def _d_blur_jpeg(img, dpi, page, rng, arg):
    sigma = float(rng.uniform(0.6, 1.3)) * dpi / 300
    quality = int(rng.integers(25, 46))
    buf = io.BytesIO()
    img.filter(ImageFilter.GaussianBlur(sigma)).save(buf, "JPEG", quality=quality)
    out = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return out, dpi, {"blur_jpeg": {"sigma": round(sigma, 2), "quality": quality}}


def _d_dpi150(img, dpi, page, rng, arg):
    if dpi <= 150:
        return img, dpi, {"dpi": dpi}
    size = (round(img.width * 150 / dpi), round(img.height * 150 / dpi))
    return img.resize(size, Image.Resampling.LANCZOS), 150, {"dpi": 150}


_DAMAGE: dict[str, _Damage] = {
    "seal": _d_seal,
    "bleed": _d_bleed,
    "faded": _d_faded,
    "rotate90": _rotate(90),
    "rotate180": _rotate(180),
    "rotate270": _rotate(270),
    "skew": _d_skew,
    "phone": _d_phone,
    "border": _d_border,
    "shadow": _d_shadow,
    "photocopy": _d_photocopy,
    "noise": _d_noise,
    "blur_jpeg": _d_blur_jpeg,
    "dpi150": _d_dpi150,
}


def parse_profile(profile: str) -> list[tuple[str, str]]:
    """``"noise+skew:-1.5"`` → ``[("skew", "-1.5"), ("noise", "")]`` in application order."""
    steps = []
    for token in profile.split("+"):
        name, _, arg = token.strip().partition(":")
        if not name:
            continue
        if name not in PROFILES:
            raise ValueError(f"unknown damage {name!r}; expected some of {', '.join(PROFILES)}")
        if arg and name != "skew":
            raise ValueError(f"only skew takes a value (skew:<degrees>), got {token!r}")
        steps.append((name, arg))
    return sorted(steps, key=lambda s: PROFILES.index(s[0]))


def degrade(page: GeneratedPage, profile: str, *, seed: int) -> GeneratedPage:
    """Apply a damage profile such as ``"skew+noise+seal"`` and record its parameters.

    Damages apply in physical order (on paper, then in the scanner, then in the file:
    see PROFILES) whatever order the string names them; each draws from its own random
    stream, so adding one damage does not change another's parameters. ``skew:<deg>``
    forces the angle. Rotations and skews add up in ``params``.
    """
    img, dpi, params = page.image, page.dpi, dict(page.params)
    applied = []
    for name, arg in parse_profile(profile):
        applied.append(f"{name}:{arg}" if arg else name)
        if name == "clean":
            continue
        img, dpi, found = _DAMAGE[name](img, dpi, page, _np_rng(seed, name), arg)
        for key, value in found.items():
            if key == "rotate":
                params[key] = (params.get(key, 0) + value) % 360
            elif key == "skew":
                params[key] = round(params.get(key, 0.0) + value, 2)
            else:
                params[key] = value
    previous = page.params.get("profile")
    params["profile"] = "+".join([previous, *applied] if previous else applied) or "clean"
    return replace(page, image=img.convert("RGB"), dpi=dpi, params=params)
