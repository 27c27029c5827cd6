"""Texts with rated emotion intensity, for checking what an energy means (never for training): the EmoInt 2017
files (one per emotion, tab-separated id, tweet, emotion, intensity 0-1 rated by crowd best-worst scaling)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from eqn_core.io.errors import DataError

EMOINT_EMOTIONS = ("anger", "fear", "joy", "sadness")  # EmoInt's four; all are GoEmotions labels too


def read_emoint(folder: str | Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """emotion -> (tweets, rated intensities (N,) in [0, 1]) from <folder>/<emotion>-gold.txt; DataError naming the
    file and line for a missing file or a row that is not id, tweet, emotion, intensity."""
    found = {}
    for emotion in EMOINT_EMOTIONS:
        path = Path(folder) / f"{emotion}-gold.txt"
        if not path.is_file():
            raise DataError(f"{path}: no such file; an EmoInt folder holds anger-gold.txt, fear-gold.txt, "
                            "joy-gold.txt and sadness-gold.txt.")
        tweets, ratings = [], []
        with path.open(encoding="utf-8", newline="") as f:
            for line, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
                try:
                    rating = float(row[3])
                except (IndexError, ValueError):
                    raise DataError(f"{path}, line {line}: expected id, tweet, emotion and an intensity 0-1 "
                                    f"separated by tabs, got {row!r:.120}") from None
                tweets.append(row[1])
                ratings.append(rating)
        found[emotion] = (tweets, np.asarray(ratings, dtype=np.float64))
    return found
