"""Label Studio: the labeling configuration for a run's labels, a task's prediction from its energies, and a JSON
export's annotations read back as review decisions attributed to the app accounts of their annotators.

The configuration: the text, every label as a Choice of one multiple-choice Choices ("emotions"), per label a
Number 0-10 ("energy_<label>", shown while its choice is ticked) and a TextArea note. A task's prediction ticks
the emotions whose energy reaches their threshold h and fills in their energies; the task's data keeps those
suggestions ("suggested": {label: energy}). An annotation then reads as the Review page's decisions: a ticked
emotion whose energy is left as suggested (or given none) -> accept, a ticked emotion with another energy -> set
to it, a suggestion unticked -> reject; emotions neither suggested nor ticked get no decision.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eqn_core.io.errors import DataError
from eqn_core.io.review_files import read_label_studio_export, read_label_studio_users
from eqn_core.method.thresholds import ENERGY_MAX, ENERGY_MIN, reaches
from eqn_core.review.accounts import user_for_email, users_file
from eqn_core.review.imports import ReviewGroup, store_review_groups, summarize, text_id_rows
from eqn_core.store.workspace import Workspace

TEXT_NAME, CHOICES_NAME, NOTE_NAME, ENERGY_PREFIX = "text", "emotions", "note", "energy_"
ENERGY_DECIMALS = 2  # energies in tasks, and the Number's step (0.01)
SAME_ENERGY = 0.5 * 10 ** -ENERGY_DECIMALS  # an annotation's energy this close to the suggested one: left as it was

__all__ = ["annotation_groups", "energy_control_names", "import_label_studio", "label_studio_config",
           "task_prediction"]


def energy_control_names(label_names: Sequence[str]) -> dict[str, str]:
    """label -> the name of its Number control: "energy_" + the label's letters and digits (distinct ignoring case)."""
    names, used = {}, set()
    for label in label_names:
        base = ENERGY_PREFIX + (re.sub(r"[^0-9A-Za-z]+", "_", label).strip("_") or "label")
        name, number = base, 2
        while name.lower() in used:
            name, number = f"{base}_{number}", number + 1
        used.add(name.lower())
        names[label] = name
    return names


def label_studio_config(label_names: Sequence[str]) -> str:
    """The labeling configuration (XML) for these labels."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="$text_id", size="6")
    ET.SubElement(view, "Text", name=TEXT_NAME, value="$text")
    ET.SubElement(view, "Header", value="Emotions (ticked: the model's energy reaches the threshold)", size="5")
    choices = ET.SubElement(view, "Choices", name=CHOICES_NAME, toName=TEXT_NAME, choice="multiple",
                            showInLine="true")
    for label in label_names:
        ET.SubElement(choices, "Choice", value=label)
    for label, name in energy_control_names(label_names).items():
        # visibleWhen reads a comma as "any of": a label with a comma keeps its Number always visible
        box = (ET.SubElement(view, "View") if "," in label else
               ET.SubElement(view, "View", visibleWhen="choice-selected", whenTagName=CHOICES_NAME,
                             whenChoiceValue=label))
        ET.SubElement(box, "Header", value=f"{label}: energy 0-10", size="6")
        ET.SubElement(box, "Number", name=name, toName=TEXT_NAME, min=f"{ENERGY_MIN:g}", max=f"{ENERGY_MAX:g}",
                      step=f"{10 ** -ENERGY_DECIMALS:g}")
    ET.SubElement(view, "TextArea", name=NOTE_NAME, toName=TEXT_NAME, placeholder="note (optional)", rows="2",
                  maxSubmissions="1", editable="true")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def task_prediction(label_names: Sequence[str], energies, thresholds, *, model_version: str,
                    exclude: Sequence[str] = ()) -> tuple[dict, dict[str, float]]:
    """One text's prediction: its emotions at or above h ticked, each with its energy (score: energy / 10).

    energies, thresholds: (C,). exclude: labels that are not emotions (never ticked, as on the Review page).
    Returns (the prediction, {label: energy} of the ticked ones, for the task's data)."""
    values = np.asarray(energies, dtype=np.float32)  # (C,)
    ticked = reaches(values[None, :], thresholds)[0]  # (C,)
    names = energy_control_names(label_names)
    suggested = {label: round(float(value), ENERGY_DECIMALS) for label, value, on in zip(label_names, values, ticked)
                 if on and label not in set(exclude)}
    result = [{"from_name": CHOICES_NAME, "to_name": TEXT_NAME, "type": "choices",
               "value": {"choices": list(suggested)}}]
    result += [{"from_name": names[label], "to_name": TEXT_NAME, "type": "number", "value": {"number": energy},
                "score": round(energy / ENERGY_MAX, 4)} for label, energy in suggested.items()]
    score = round(max(suggested.values(), default=0.0) / ENERGY_MAX, 4)
    return {"model_version": model_version, "score": score, "result": result}, suggested


def _annotator(annotation: dict, users: dict[int, str], error) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):  # some exports carry the user object
        email = who.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise error(f"the annotator {who!r} has no e-mail address")
        return email.strip()
    if isinstance(who, bool) or not isinstance(who, (int, str)) or not str(who).strip().isdigit():
        raise error(f"completed_by is {who!r}, not a Label Studio user id")
    if int(who) not in users:
        raise error(f"the annotator is Label Studio user {int(who)}, who is not in the users list (give --users: "
                    "the JSON of GET /api/users/, or a file with the columns id and email)")
    return users[int(who)]


def _results(annotation: dict, names: dict[str, str], label_names: Sequence[str], error):
    """(ticked labels, {label: energy}, note) of one annotation's result list."""
    by_control = {name: label for label, name in names.items()}
    ticked, energies, notes = None, {}, []
    result = annotation.get("result") or []
    if not isinstance(result, list):
        raise error("the annotation's result is not a list")
    for item in result:
        control = item.get("from_name") if isinstance(item, dict) else None
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, dict):
            raise error(f"a result without a value: {item!r}")
        if control == CHOICES_NAME:
            ticked = list(value.get("choices") or [])
            unknown = [label for label in ticked if label not in label_names]
            if unknown:
                raise error(f"unknown label {unknown[0]!r} ticked; the labels: {', '.join(label_names)}")
        elif control in by_control:
            number = value.get("number")
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not (
                    ENERGY_MIN <= number <= ENERGY_MAX):
                raise error(f"the energy of {by_control[control]!r} is {number!r}, not a number in [0, 10]")
            energies[by_control[control]] = float(number)
        elif control == NOTE_NAME:
            text = value.get("text")
            notes.extend(text if isinstance(text, list) else [text] if text else [])
        else:
            raise error(f"a result from {control!r}, which the EQN labeling configuration does not have (export "
                        "the tasks with `eqn export --format label-studio` and use the configuration beside them)")
    return ticked or [], energies, "\n".join(str(note) for note in notes)


def _decisions(label_names: Sequence[str], ticked: list[str], energies: dict[str, float],
               suggested: dict[str, float]) -> list[dict]:
    decisions = []
    for label in label_names:
        shown = suggested.get(label)
        if label in ticked:
            energy = energies.get(label)
            if energy is None or (shown is not None and abs(energy - shown) <= SAME_ENERGY):
                decisions.append({"label": label, "decision": "accept", "energy": shown})
            else:
                decisions.append({"label": label, "decision": "set", "energy": energy})
        elif shown is not None:
            decisions.append({"label": label, "decision": "reject", "energy": shown})
    return decisions


def annotation_groups(tasks: list[dict], *, label_names: Sequence[str], rows_by_id: dict[str, int], dataset: str,
                      split: str, reviewer_of, source: str | None = None) -> list[ReviewGroup]:
    """Every annotation that was not skipped, as one submission of its annotator, oldest first (updated_at).

    reviewer_of(annotation, error) -> the reviewer's name. DataError names the file, the task (row: its place
    in the export) and the field."""
    names = energy_control_names(label_names)
    found = []
    for number, task in enumerate(tasks, start=1):
        def error_at(column, number=number, task=task):
            return lambda message: DataError(f"task {task.get('id', number)}: {message}", file=source, row=number,
                                             column=column)

        data = task["data"]
        text_id = data.get("text_id")
        if text_id is None or str(text_id) not in rows_by_id:
            raise error_at("data.text_id")(f"unknown text id {text_id!r} in split {split!r} of data set {dataset!r}")
        for key, wanted in (("dataset", dataset), ("split", split)):
            if data.get(key) not in (None, wanted):
                raise error_at(f"data.{key}")(f"the task is from {key} {data[key]!r}, not {wanted!r}")
        suggested = data.get("suggested") or {}
        if not isinstance(suggested, dict) or not all(
                label in label_names and isinstance(value, (int, float)) for label, value in suggested.items()):
            raise error_at("data.suggested")("suggested must map labels of the data set to energies")
        for index, annotation in enumerate(task["annotations"]):
            where = error_at(f"annotations[{index}]")
            if not isinstance(annotation, dict):
                raise where("an annotation must be an object")
            if annotation.get("was_cancelled"):
                continue  # skipped in Label Studio: no review
            reviewer = reviewer_of(annotation, error_at(f"annotations[{index}].completed_by"))
            ticked, energies, note = _results(annotation, names, label_names, error_at(f"annotations[{index}].result"))
            decisions = _decisions(label_names, ticked, energies, {k: float(v) for k, v in suggested.items()})
            when = str(annotation.get("updated_at") or annotation.get("created_at") or "")
            found.append(((when, _number(annotation.get("id")), number, index),
                          ReviewGroup(rows_by_id[str(text_id)], str(text_id), reviewer, note, decisions)))
    found.sort(key=lambda item: item[0])
    return [group for _, group in found]


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.inf


def import_label_studio(workspace: Workspace, path: str | Path, *, run_id: str, split: str,
                        users_path: str | Path | None = None, accounts_path: str | Path | None = None,
                        reviewer_from_email: bool = False, dry_run: bool = False) -> dict:
    """A Label Studio JSON export's annotations stored as review decisions of a run's split (all checked first;
    nothing stored when any is bad). Each annotator's e-mail (users_path: Label Studio's users list, which maps the
    export's user ids to e-mails) must be an account of the app (accounts_path, default the workspace's users
    file; matched without case), unless reviewer_from_email, which records the e-mail itself as the reviewer.
    Returns the summary of store_review_groups with "stored"."""
    tasks = read_label_studio_export(path)
    users = read_label_studio_users(users_path) if users_path is not None else {}
    accounts = Path(accounts_path) if accounts_path is not None else users_file(workspace.root)
    dataset, label_names, _ = workspace.run_shape(run_id, split)
    reviewers: dict[str, str | None] = {}

    def reviewer_of(annotation: dict, error) -> str:
        email = _annotator(annotation, users, error)
        if email not in reviewers:
            user = user_for_email(accounts, email)
            reviewers[email] = user.name if user is not None else None
        if reviewers[email] is not None:
            return reviewers[email]
        if reviewer_from_email:
            return email
        raise error(f"the annotator {email} has no account in {accounts}; add one (`eqn users add {email} --role "
                    "reviewer`) or pass --reviewer-from-email to record the e-mail as the reviewer")

    groups = annotation_groups(tasks, label_names=label_names, rows_by_id=text_id_rows(workspace, run_id, split),
                               dataset=dataset, split=split, reviewer_of=reviewer_of, source=str(path))
    summary = summarize(groups) if dry_run else store_review_groups(workspace, groups, run_id=run_id, split=split)
    return {**summary, "annotations": len(groups), "stored": not dry_run}
