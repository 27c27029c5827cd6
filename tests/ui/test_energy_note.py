"""What an energy means: the shipped model's metrics carry the intensity figures its card and the app's "About
energies" note show, and the note says so plainly when the baseline ranks intensity better."""
from __future__ import annotations

import json

from eqn_core.io.intensity_sets import EMOINT_EMOTIONS
from eqn_core.store.shipped import shipped_folder
from ui.energy_note import intensity_sentences


def test_the_shipped_card_and_note_show_the_measured_intensity_beside_the_baseline():
    folder = shipped_folder("goemotions-eqn")
    intensity = json.loads((folder / "metrics.json").read_text())["intensity"]
    assert set(intensity["emotions"]) == set(EMOINT_EMOTIONS) and intensity["baseline"]["mode"] == "bce"
    card = (folder / "MODEL_CARD.md").read_text()
    ours, baseline = intensity["mean_spearman"], intensity["baseline"]["mean_spearman"]
    assert f"| {ours:.3f} |" in card and f"| {baseline:.3f} |" in card
    note = " ".join(intensity_sentences("goemotions-eqn", intensity))
    assert f"**{ours:.2f}**" in note and f"**{baseline:.2f}**" in note
    assert "still orders intensity better" in note  # the baseline is ahead today: the note says so plainly
    flipped = {**intensity, "mean_spearman": intensity["baseline"]["mean_spearman"] + 0.01}
    assert "at least as well" in " ".join(intensity_sentences("x", flipped))
    assert "has not been measured" in intensity_sentences("mine", None)[0]
