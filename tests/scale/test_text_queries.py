"""Pages and counts of a text set and its annotation (eqn_core.scale.text_queries): search, metadata and energy
filters, sorting, partial annotations; every figure checked against pandas on the same rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eqn_core.scale.text_queries import count_texts, text_page
from eqn_core.store.text_sets import add_text_set
from text_set_support import LABELS, write_annotation

N = 60


@pytest.fixture
def annotated(workspace, tmp_path):
    """Text set "set" of N texts (speaker, city metadata) annotated by run "r" with random energies (N, 4)."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"text": [f"Text {i}: {'Happy' if i % 4 == 0 else 'grey'} day (50% off) {i}"
                                   for i in range(N)],
                          "speaker": [f"P{i % 3}" for i in range(N)],
                          "city": ["Oslo" if i % 5 else "" for i in range(N)]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    add_text_set(workspace, "set", [tmp_path / "t.csv"])
    energies = rng.uniform(0, 10, (N, 4)).astype(np.float32)
    energies[:5, 0] = [3.0, 0.0, 10.0, 2.9999, 3.0001]
    write_annotation(workspace, "set", "r", energies, shard_rows=8)
    expected = frame.assign(row_idx=range(N), **{label: energies[:, i] for i, label in enumerate(LABELS)})
    return workspace, expected


def test_a_page_has_texts_metadata_and_energies_in_row_order(annotated):
    workspace, expected = annotated
    page = text_page(workspace, "set", run_id="r", limit=7, offset=10)
    assert list(page.columns) == ["row_idx", "text_id", "text", "source_file", "source_row", "speaker", "city",
                                  *LABELS]
    assert page["row_idx"].tolist() == list(range(10, 17))
    assert page["text"].tolist() == expected["text"][10:17].tolist()
    assert page["text_id"].tolist() == [f"row-{i + 1}" for i in range(10, 17)]
    np.testing.assert_array_equal(page[LABELS].to_numpy(), expected[LABELS][10:17].to_numpy())
    assert page["joy"].dtype == np.float32
    texts_only = text_page(workspace, "set", limit=3)
    assert list(texts_only.columns) == ["row_idx", "text_id", "text", "source_file", "source_row", "speaker", "city"]
    assert count_texts(workspace, "set") == count_texts(workspace, "set", run_id="r") == N


@pytest.mark.parametrize("label, descending", [("joy", None), ("fear", False)])
def test_sorted_by_an_emotion(annotated, label, descending):
    workspace, expected = annotated
    page = text_page(workspace, "set", run_id="r", sort_by=label, descending=descending, limit=20, offset=5)
    order = expected.sort_values([label, "row_idx"], ascending=[descending is False, True], kind="stable")
    assert page["row_idx"].tolist() == order["row_idx"].tolist()[5:25]


def test_filters_match_pandas(annotated):
    workspace, expected = annotated
    cases = [
        (dict(search="happy"), expected["text"].str.lower().str.contains("happy")),
        (dict(search="(50% OFF) 1"), expected["text"].str.contains("(50% off) 1", regex=False)),
        (dict(where={"speaker": "P1"}), expected["speaker"] == "P1"),
        (dict(where={"speaker": ["P0", "P2"], "city": "Oslo"}),
         expected["speaker"].isin(["P0", "P2"]) & (expected["city"] == "Oslo")),
        (dict(where={"city": None}), expected["city"].isna()),
        (dict(energy_ranges={"joy": (3.0, None)}), expected["joy"] >= 3.0),
        (dict(energy_ranges={"joy": (None, 3.0), "anger": (2.5, 7.5)}),
         (expected["joy"] <= 3.0) & expected["anger"].between(2.5, 7.5)),
        (dict(search="grey", energy_ranges={"neutral": (5, 10)}, where={"speaker": "P2"}),
         expected["text"].str.contains("grey") & (expected["neutral"] >= 5) & (expected["speaker"] == "P2")),
    ]
    for filters, mask in cases:
        wanted = expected.loc[mask, "row_idx"].tolist()
        assert count_texts(workspace, "set", run_id="r", **filters) == len(wanted), filters
        page = text_page(workspace, "set", run_id="r", limit=1000, **filters)
        assert page["row_idx"].tolist() == wanted, filters
    page = text_page(workspace, "set", run_id="r", energy_ranges={"joy": (3.0, None)}, sort_by="joy", limit=3)
    assert page["joy"].tolist() == sorted(expected.loc[expected["joy"] >= 3, "joy"], reverse=True)[:3]
    assert text_page(workspace, "set", where={"text_id": "row-3"})["text"].tolist() == [expected["text"][2]]


def test_unknown_names_are_refused(annotated):
    workspace, _ = annotated
    with pytest.raises(ValueError, match="Unknown label 'sadness'"):
        count_texts(workspace, "set", run_id="r", energy_ranges={"sadness": (1, 2)})
    with pytest.raises(ValueError, match="Cannot filter on 'town'"):
        text_page(workspace, "set", where={"town": "Oslo"})
    with pytest.raises(ValueError, match="Cannot sort by 'joy'"):
        text_page(workspace, "set", sort_by="joy")  # no run: no energies
    with pytest.raises(KeyError, match="has no annotation by run 'other'"):
        text_page(workspace, "set", run_id="other")


def test_a_partial_annotation_shows_the_rows_annotated_so_far(workspace, tmp_path):
    (tmp_path / "t.txt").write_text("".join(f"text {i}\n" for i in range(20)), encoding="utf-8")
    add_text_set(workspace, "part", [tmp_path / "t.txt"])
    energies = np.full((12, 4), 5.0, np.float32)
    write_annotation(workspace, "part", "r", energies, shard_rows=4, finished=False)
    assert count_texts(workspace, "part") == 20 and count_texts(workspace, "part", run_id="r") == 12
    assert count_texts(workspace, "part", run_id="r", search="text 1") == 3  # 1, 10, 11 (not 12..19)
    assert text_page(workspace, "part", run_id="r", offset=10)["row_idx"].tolist() == [10, 11]


FILTER_CASES = [dict(), dict(search="happy"), dict(search="(50% OFF) 1"), dict(where={"speaker": "P1"}),
                dict(where={"speaker": ["P0", "P2"], "city": "Oslo"}), dict(energy_ranges={"joy": (3.0, None)}),
                dict(energy_ranges={"joy": (None, 2.9999), "fear": (1.0, 8.0)}),
                dict(search="grey", where={"speaker": "P0"}, energy_ranges={"anger": (2.0, 9.0)}),
                dict(search="nothing like this")]


@pytest.mark.parametrize("filters", FILTER_CASES)
@pytest.mark.parametrize("sort_by, descending", [("row_idx", None), ("row_idx", True), ("joy", None),
                                                 ("fear", False)])
def test_pages_from_energies_in_memory_equal_the_duckdb_join(annotated, filters, sort_by, descending):
    from eqn_core.scale.text_queries import matching_rows, page_of_rows

    workspace, expected = annotated
    energies = expected[LABELS].to_numpy(np.float32)
    rows = matching_rows(workspace, "set", "r", energies, **filters)
    assert len(rows) == count_texts(workspace, "set", run_id="r", **filters)
    for offset in (0, 7):
        ours = page_of_rows(workspace, "set", "r", energies, rows, sort_by=sort_by, descending=descending, limit=9,
                            offset=offset)
        theirs = text_page(workspace, "set", run_id="r", sort_by=sort_by, descending=descending, limit=9,
                           offset=offset, **filters)
        pd.testing.assert_frame_equal(ours, theirs)
