"""The EmoInt reader (intensity-rated tweets for checking what an energy means) reads the four files and says where
one is wrong."""
from __future__ import annotations

import pytest

from eqn_core.io.errors import DataError
from eqn_core.io.intensity_sets import EMOINT_EMOTIONS, read_emoint


def test_emoint_files_are_read_and_a_bad_line_is_located(tmp_path):
    for emotion in EMOINT_EMOTIONS:
        (tmp_path / f"{emotion}-gold.txt").write_text(f"1\tso {emotion}\t{emotion}\t0.75\n2\tmeh\t{emotion}\t0.1\n")
    data = read_emoint(tmp_path)
    assert data["fear"][0] == ["so fear", "meh"] and data["fear"][1].tolist() == [0.75, 0.1]
    (tmp_path / "joy-gold.txt").write_text("1\tyay\tjoy\t0.9\n2\tno score here\n")
    with pytest.raises(DataError, match="joy-gold.txt, line 2"):
        read_emoint(tmp_path)
    (tmp_path / "anger-gold.txt").unlink()
    with pytest.raises(DataError, match="anger-gold.txt: no such file"):
        read_emoint(tmp_path)
