"""A second look at the ink that Tesseract's first reading left without words.

Tesseract's page layout analysis sometimes merges two columns into one line (a
list of recipients beside a signature block, as every Vietnamese decision ends)
and then drops a line or reads it as junk (``z z ~``). The ink is still on the
page: this stage finds text-like ink that no confident word covers, reads those
strips again as small blocks, all in one Tesseract call, and merges the words
back into the page's lines. Regions that read as junk again (a scribble, a logo)
add nothing.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from pipeline import ocr
from pipeline.cleanup.measure import component_boxes, mm_to_px
from pipeline.config import OcrConfig

Box = tuple[int, int, int, int]  # left, top, width, height in OCR-image pixels

# From a line of 6-pt print up to a signature block under a seal (lines and ring joined)
MIN_HEIGHT_MM, MAX_HEIGHT_MM = 1.2, 60.0
MIN_WIDTH_MM = 2.0
MIN_INK_SHARE = 0.04  # share of a region's box that is ink: fewer is dust in a wide box
MAX_INK_SHARE = 0.45  # more is a QR code, a photo or a solid stamp (bold print stays < 0.43)
JOIN_X_MM, JOIN_Y_MM = 2.5, 0.4  # ink this close belongs to the same strip of text
COVER_MARGIN_MM = 0.4  # a word box covers its own anti-aliasing and dots this far out
BLOCK_PSM = 6  # a strip of a line or two is read as one uniform block of text
SPARSE_PSM = 11  # a taller region is read as sparse text (words anywhere)
TALL_MM = 15.0  # about three lines of 13-pt print
DOUBT_CONF = 65.0  # words read below this do not count as covering their ink
MIN_CONF = 50.0  # a second reading is of doubtful ink: only its confident words count
MAX_REGIONS = 24  # at most this many are read again, the widest: lost lines before scraps
MAX_AREA_SHARE = 0.25  # holes covering more of the page: not a layout slip, left alone


def _doubtful(word: ocr.Word) -> bool:
    """Junk, or read with low confidence: its ink deserves a second look."""
    return word.conf < DOUBT_CONF or ocr.is_junk(word)


def missed_regions(gray: np.ndarray, words: tuple[ocr.Word, ...], dpi: float) -> list[Box]:
    """Boxes of text-sized ink strips that no meaningful word covers."""
    ink = cv2.threshold(gray, 127, 1, cv2.THRESH_BINARY_INV)[1]  # gray < 128, 6x faster
    covered = np.zeros(gray.shape, bool)
    margin = mm_to_px(dpi, COVER_MARGIN_MM)
    for w in words:
        if not _doubtful(w):
            y0, x0 = max(0, w.top - margin), max(0, w.left - margin)
            covered[y0 : w.top + w.height + margin, x0 : w.left + w.width + margin] = True
    # A blob any part of which lies in a word box belongs to that word: Tesseract's
    # boxes often stop short of a word's last letter or its marks.
    # Grana's block-based labelling: the same components in half the time of the default.
    n, labels = cv2.connectedComponentsWithAlgorithm(ink, 8, cv2.CV_32S, cv2.CCL_BBDT)
    untouched = np.ones(n, bool)
    untouched[labels[covered]] = False  # background (0) included: it never counts as ink
    untouched[0] = False
    if not untouched.any():
        return []
    ink = untouched[labels].view(np.uint8)
    kernel = np.ones((mm_to_px(dpi, JOIN_Y_MM) * 2 + 1, mm_to_px(dpi, JOIN_X_MM) * 2 + 1), np.uint8)
    strips = cv2.dilate(ink, kernel)
    grow_x, grow_y = kernel.shape[1] // 2, kernel.shape[0] // 2
    boxes: list[Box] = []
    for x, y, w, h in component_boxes(strips):
        x, y, w, h = x + grow_x, y + grow_y, w - 2 * grow_x, h - 2 * grow_y  # undo the dilation
        if w <= 0 or h <= 0:
            continue
        if not mm_to_px(dpi, MIN_HEIGHT_MM) <= h <= mm_to_px(dpi, MAX_HEIGHT_MM):
            continue
        if w < mm_to_px(dpi, MIN_WIDTH_MM):
            continue
        share = ink[y : y + h, x : x + w].mean()
        if not MIN_INK_SHARE <= share <= MAX_INK_SHARE:
            continue
        boxes.append((int(x), int(y), int(w), int(h)))
    if len(boxes) > MAX_REGIONS:  # margin notes, a seal's scraps: keep the lines among them
        widest = sorted(range(len(boxes)), key=lambda i: -boxes[i][2])[:MAX_REGIONS]
        boxes = [boxes[i] for i in sorted(widest)]  # still in reading order
    area = sum(w * h for _, _, w, h in boxes)
    if area > MAX_AREA_SHARE * gray.size:
        return []  # not a layout slip but a page Tesseract could not read: no second full run
    return boxes


def _montage(gray: np.ndarray, boxes: list[Box]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The regions stacked on white, each padded by half its height; their (x, y) offsets."""
    pads = [max(8, h // 2) for _, _, _, h in boxes]
    width = max(w + 2 * p for (_, _, w, _), p in zip(boxes, pads, strict=True))
    height = sum(h + 3 * p for (_, _, _, h), p in zip(boxes, pads, strict=True))
    sheet = np.full((height, width), 255, np.uint8)
    offsets = []
    y = 0
    for (bx, by, bw, bh), pad in zip(boxes, pads, strict=True):
        top = y + pad
        sheet[top : top + bh, pad : pad + bw] = gray[by : by + bh, bx : bx + bw]
        offsets.append((pad - bx, top - by))  # sheet = page + offset
        y += bh + 3 * pad
    return sheet, offsets


def _read_montage(
    gray: np.ndarray, boxes: list[Box], dpi: float, cfg: OcrConfig, psm: int
) -> list[list[ocr.Word]]:
    """Confident words of each region (page coordinates), the regions read together."""
    sheet, offsets = _montage(gray, boxes)
    result = ocr.ocr_page(sheet, dpi, replace(cfg, psm=psm))
    found: list[list[ocr.Word]] = [[] for _ in boxes]
    for w in ocr.drop_junk_lines(result.words):
        if w.conf < MIN_CONF:
            continue
        cy = w.top + w.height / 2
        for i, ((_, by, _, bh), (ox, oy)) in enumerate(zip(boxes, offsets, strict=True)):
            if by + oy - bh / 2 <= cy <= by + oy + bh * 1.5:  # inside region i's padded slot
                found[i].append(replace(w, left=w.left - ox, top=w.top - oy))
                break
    return found


def read_regions(
    gray: np.ndarray, boxes: list[Box], dpi: float, cfg: OcrConfig
) -> list[list[ocr.Word]]:
    """Confident words read in each region (page coordinates).

    Strips of a line or two are read together as one block of text; a region
    taller than a few lines is text tangled with a graphic (a signature block
    under a photocopied seal) and is read as sparse text, which looks for words
    anywhere instead of forcing the ring's arcs into lines.
    """
    tall = mm_to_px(dpi, TALL_MM)
    found: list[list[ocr.Word]] = [[] for _ in boxes]
    for psm, pick in ((BLOCK_PSM, lambda h: h <= tall), (SPARSE_PSM, lambda h: h > tall)):
        chosen = [i for i, b in enumerate(boxes) if pick(b[3])]
        if chosen:
            words = _read_montage(gray, [boxes[i] for i in chosen], dpi, cfg, psm)
            for i, w in zip(chosen, words, strict=True):
                found[i] = w
    return found


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _line_box(line: list[ocr.Word]) -> Box:
    left = min(w.left for w in line)
    top = min(w.top for w in line)
    right = max(w.left + w.width for w in line)
    bottom = max(w.top + w.height for w in line)
    return left, top, right - left, bottom - top


def _mean_conf(words: list[ocr.Word]) -> float:
    return sum(w.conf for w in words) / len(words)


def merge(
    words: tuple[ocr.Word, ...], boxes: list[Box], found: list[list[ocr.Word]]
) -> tuple[ocr.Word, ...]:
    """Put re-read words into the page: beside the line they sit on, or as new lines.

    Doubtful words inside a re-read region are replaced by what the second reading
    found there when that reading is clearly more confident, else the region adds
    nothing. A re-read word level with an existing line (sharing most of its
    height; the nearest such line) joins that line in x order; the others form
    new lines, placed in reading order before the first line that starts below them.
    """
    regions: list[Box] = []
    replaced: set[int] = set()
    for box, new in zip(boxes, found, strict=True):
        old = [
            i
            for i, w in enumerate(words)
            if _doubtful(w) and _overlaps((w.left, w.top, w.width, w.height), box)
        ]
        if not new or (old and _mean_conf(new) < _mean_conf([words[i] for i in old]) + 10):
            continue
        regions.append(box)
        replaced.update(old)
    found = [f for b, f in zip(boxes, found, strict=True) if b in regions]
    if not regions:
        return words
    kept = [w for i, w in enumerate(words) if i not in replaced]
    lines: dict[tuple[int, int, int], list[ocr.Word]] = {}
    for w in kept:
        lines.setdefault((w.block, w.par, w.line), []).append(w)
    order = list(lines)
    next_block = max((w.block for w in words), default=0) + 1
    for new in (w for f in found for w in f):
        home, best = None, (0.5, 0.0)  # (share of height in common, -horizontal distance)
        for key in order:
            left, top, width, height = _line_box(lines[key])
            shared = min(top + height, new.top + new.height) - max(top, new.top)
            gap = max(left - (new.left + new.width), new.left - (left + width), 0)
            score = (shared / min(height, new.height), -float(gap))
            if score >= best:
                home, best = key, score
        if home is not None:
            b, p, n = home
            lines[home].append(replace(new, block=b, par=p, line=n))
            lines[home].sort(key=lambda w: w.left)
            continue
        key = (next_block, 1, 1)
        next_block += 1
        lines[key] = [replace(new, block=key[0], par=1, line=1)]
        below = [k for k in order if _line_box(lines[k])[1] > new.top]
        order.insert(order.index(below[0]) if below else len(order), key)
    return tuple(w for key in order for w in lines[key])


def fill_gaps(gray: np.ndarray, result: ocr.OcrResult, dpi: float, cfg: OcrConfig) -> ocr.OcrResult:
    """``result`` with the text of missed or junk-read strips read again and merged in."""
    boxes = missed_regions(gray, result.words, dpi)
    if not boxes:
        return result
    found = read_regions(gray, boxes, dpi, cfg)
    words = merge(result.words, boxes, found)
    if words == result.words:
        return result
    return replace(result, words=words, text=ocr.words_to_text(words))
