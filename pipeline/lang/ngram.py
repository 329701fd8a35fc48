"""The syllable bigram counts as one flat file, mapped into memory: loaded in milliseconds.

A worker process starts with every page it will ever read ahead of it, so the language
model must cost nothing to open. The counts (``scripts/build_language_data.py``) are
written as sorted arrays in one file, ``vi_syllable_lm.bin``:

- a header line of JSON (format, vocabulary size, pair count, total, byte offsets);
- the vocabulary, one NFC lower-case token per line, most frequent first;
- ``uint32`` unigram counts in vocabulary order;
- ``uint32`` pair keys ``first * V + second``, ascending, and ``uint16`` pair counts.

Opening it reads the vocabulary into a dict (the only per-process work) and maps the
arrays; a pair is found by binary search in the mapped keys. Counts are the corpus's
weighted counts (legal text counts more than Wikipedia, see the builder), capped at
65535 for a pair.
"""

from __future__ import annotations

import json
import mmap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "sohoa-syllable-bigrams/1"
PAIR_COUNT_MAX = np.iinfo(np.uint16).max


@dataclass(frozen=True, eq=False)
class BigramCounts:
    """Unigram and bigram counts behind a vocabulary index (see the module docstring)."""

    index: dict[str, int]
    unigram_counts: np.ndarray
    keys: np.ndarray
    pair_counts: np.ndarray
    total: int

    def unigram(self, token: str) -> int:
        i = self.index.get(token)
        return 0 if i is None else int(self.unigram_counts[i])

    def pair(self, first: str, second: str) -> int:
        a, b = self.index.get(first), self.index.get(second)
        if a is None or b is None:
            return 0
        key = self.keys.dtype.type(a * len(self.index) + b)  # same type: no array conversion
        at = int(self.keys.searchsorted(key))
        if at < len(self.keys) and int(self.keys[at]) == key:
            return int(self.pair_counts[at])
        return 0

    def __len__(self) -> int:
        return len(self.index)


def write(
    path: Path, unigrams: dict[str, int], bigrams: dict[tuple[str, str], int]
) -> tuple[int, int]:
    """Store the counts (pairs of tokens not in ``unigrams`` are dropped); (tokens, pairs)."""
    vocab = sorted(unigrams, key=lambda w: (-unigrams[w], w))
    index = {w: i for i, w in enumerate(vocab)}
    size = len(vocab)
    keys = np.array(
        sorted(index[a] * size + index[b] for (a, b) in bigrams if a in index and b in index),
        dtype=np.uint64,
    )
    by_key = {
        index[a] * size + index[b]: c for (a, b), c in bigrams.items() if a in index and b in index
    }
    counts = np.array([min(by_key[int(k)], PAIR_COUNT_MAX) for k in keys], dtype=np.uint16)
    key_type = np.uint32 if size * size < 2**32 else np.uint64
    words = "\n".join(vocab).encode("utf-8")
    uni = np.array([unigrams[w] for w in vocab], dtype=np.uint32)
    header = {
        "format": FORMAT,
        "tokens": size,
        "pairs": len(keys),
        "total": int(sum(unigrams.values())),
        "key_bytes": np.dtype(key_type).itemsize,
        "words_bytes": len(words),
    }
    with path.open("wb") as fh:
        fh.write(json.dumps(header, sort_keys=True).encode("ascii") + b"\n")
        fh.write(words)
        pad = (-fh.tell()) % 8  # the arrays start aligned
        fh.write(b"\0" * pad)
        fh.write(uni.tobytes())
        fh.write(b"\0" * ((-fh.tell()) % 8))
        fh.write(keys.astype(key_type).tobytes())
        fh.write(counts.tobytes())
    return size, len(keys)


def read(path: Path) -> BigramCounts:
    """Map the file (see ``write``): the vocabulary parsed, the arrays left on disk until used."""
    with path.open("rb") as fh:
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    end = data.find(b"\n")
    header = json.loads(data[:end])
    if header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file")
    size, pairs = header["tokens"], header["pairs"]
    at = end + 1
    vocab = data[at : at + header["words_bytes"]].decode("utf-8").split("\n")
    at += header["words_bytes"]
    at += (-at) % 8
    uni = np.frombuffer(data, np.uint32, size, at)
    at += 4 * size
    at += (-at) % 8
    key_type = np.uint32 if header["key_bytes"] == 4 else np.uint64
    keys = np.frombuffer(data, key_type, pairs, at)
    at += header["key_bytes"] * pairs
    counts = np.frombuffer(data, np.uint16, pairs, at)
    index = dict(zip(vocab, range(size), strict=True)) if size else {}
    return BigramCounts(index, uni, keys, counts, int(header["total"]))
