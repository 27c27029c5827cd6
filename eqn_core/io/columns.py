"""A file as a table of string columns (Table), and which column plays which role: text, labels, 0/1 label
columns, id (ColumnRoles), from header names or, for files without a header, from positions."""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from eqn_core.io.errors import DataError
from eqn_core.io.label_parsing import is_01

# Column names recognised (case-insensitive) when the caller does not say which column is which.
TEXT_NAMES = ("text", "sentence", "comment", "content", "body", "tweet", "review", "utterance", "document")
LABEL_NAMES = ("labels", "label", "emotions", "emotion", "sentiment", "class", "category", "target")
ID_NAMES = ("id", "text_id", "example_id", "comment_id")


@dataclass
class Table:
    """A file as columns of strings, with enough position information to point at any cell."""

    file: str
    columns: list[str]  # header names, or role names ("text", "labels", "id", "#3") for headerless files
    data: list[list[str]]  # data[j][i]: column j, data row i
    lines: list[int] | None  # line where data row i starts; None for Parquet / JSON arrays
    kinds: dict[int, str] | None = None  # Parquet / JSON: columns holding "list" or "record" cells

    @property
    def num_rows(self) -> int:
        return len(self.data[0]) if self.data else 0

    def error(self, message: str, index: int | None = None, column: int | str | None = None) -> DataError:
        """A DataError at data row `index` (0-based) and column `column` (position or name)."""
        name = self.columns[column] if isinstance(column, int) else column
        line = self.lines[index] if index is not None and self.lines is not None else None
        row = None if index is None else index + 1
        return DataError(message, file=self.file, row=row, column=name, line=line)


@dataclass
class ColumnRoles:
    text: int
    labels: int | None = None  # one label column (ids / names / single / auto)
    onehot: list[int] | None = None  # one 0/1 column per label
    id: int | None = None


def guess_header(first: list[str], args: dict) -> bool:
    named = [args[k] for k in ("text_column", "labels_column", "id_column") if isinstance(args[k], str)]
    if named or args["label_columns"]:
        return True  # the caller names columns, so the file must have names
    cells = {cell.strip().lower() for cell in first}
    return bool(cells & {*TEXT_NAMES, *LABEL_NAMES, *ID_NAMES})


def check_header(path: Path, columns: list[str]) -> None:
    seen = Counter(columns)
    duplicated = [c for c, n in seen.items() if n > 1]
    if duplicated:
        raise DataError(f"column name '{duplicated[0]}' appears twice in the header", file=path, column=duplicated[0])


def headerless_roles(
    width: int, file: Path, *, text_column, labels_column, label_columns, id_column, label_format, names,
) -> tuple[list[str], ColumnRoles]:  # fmt: skip
    """Column names and roles of a file without a header: text 0, labels 1, a third column is the id."""
    for spec in (text_column, labels_column, id_column):
        if spec is not None and not (isinstance(spec, int) and 0 <= spec < width):
            raise DataError(
                f"no column {spec!r}: the file has no header and {width} columns (0..{width - 1})",
                file=file, column=str(spec),
            )
    if label_columns is not None:
        raise DataError("label_columns names columns, but the file has no header row", file=file)
    text = 0 if text_column is None else text_column
    if label_format is None:  # texts only (read_texts)
        columns = [f"#{j}" for j in range(width)]
        columns[text] = "text"
        if id_column is not None:
            columns[id_column] = "id"
        return columns, ColumnRoles(text=text, id=id_column)
    used = {text} | ({id_column} if id_column is not None else set())
    columns = [f"#{j}" for j in range(width)]
    onehot = label_format == "onehot" or (label_format == "auto" and labels_column is None and width > 3)
    if onehot:
        label_cols = [j for j in range(width) if j not in used]
        if names is None:
            raise DataError("a file without a header needs label_names to name its 0/1 label columns", file=file)
        for j, name in zip(label_cols, names):
            columns[j] = name
        roles = ColumnRoles(text=text, onehot=label_cols, id=id_column)
    else:
        rest = [j for j in range(width) if j not in used]
        labels = labels_column if labels_column is not None else (rest[0] if rest else None)
        if labels is None:
            raise DataError(
                f"no label column: the file has {width} column(s) and no header", file=file, column="labels"
            )
        rest = [j for j in rest if j != labels]
        ident = id_column if id_column is not None else (rest[0] if len(rest) == 1 else None)
        columns[labels] = "labels"
        if ident is not None:
            columns[ident] = "id"
        roles = ColumnRoles(text=text, labels=labels, id=ident)
    columns[text] = "text"
    return columns, roles


def header_roles(
    table: Table, *, text_column, labels_column, label_columns, id_column, label_format, names,
) -> ColumnRoles:  # fmt: skip
    """Column roles from header names: given ones, else usual names, else the only / 0-1 columns left."""
    find = functools.partial(_find_column, table)
    text = find(text_column, "text") if text_column is not None else _guess_column(table.columns, TEXT_NAMES)
    if text is None:
        raise DataError(
            f"no text column: name it 'text' or pass text_column (columns found: {', '.join(table.columns)})",
            file=table.file, column="text",
        )
    if id_column is not None:
        ident = find(id_column, "id")
    else:
        ident = _guess_column(table.columns, ID_NAMES, exclude={text})
    used = {text, ident}

    if label_format is None:  # texts only (read_texts)
        return ColumnRoles(text=text, id=ident)
    if label_format == "onehot":
        specs = label_columns if label_columns is not None else names
        if specs is not None:
            onehot = [find(spec, "label") for spec in specs]
        else:
            onehot = [j for j in range(len(table.columns)) if j not in used]
        if not onehot:
            raise DataError(f"no 0/1 label columns (columns found: {', '.join(table.columns)})", file=table.file)
        return ColumnRoles(text=text, onehot=onehot, id=ident)
    if labels_column is not None:
        return ColumnRoles(text=text, labels=find(labels_column, "labels"), id=ident)
    labels = _guess_column(table.columns, LABEL_NAMES, exclude=used)
    if labels is not None:
        return ColumnRoles(text=text, labels=labels, id=ident)
    rest = [j for j in range(len(table.columns)) if j not in used]
    if len(rest) == 1:
        return ColumnRoles(text=text, labels=rest[0], id=ident)
    not_01 = next((j for j in rest if not is_01(table.data[j])), None)
    if label_format == "auto" and rest and not_01 is None:
        return ColumnRoles(text=text, onehot=rest, id=ident)
    why = f"; column '{table.columns[not_01]}' is not 0/1" if not_01 is not None else ""
    raise DataError(
        "no label column: name it 'labels' or 'label', pass labels_column, or give one 0/1 column per label"
        f"{why} (columns found: {', '.join(table.columns)})",
        file=table.file, column="labels",
    )


def _find_column(table: Table, spec: str | int, role: str) -> int:
    """Position of a column given by 0-based position or by name (exact, else case-insensitive)."""
    found = ", ".join(table.columns)
    if isinstance(spec, int) and not isinstance(spec, bool):
        if 0 <= spec < len(table.columns):
            return spec
        raise DataError(
            f"no column {spec} for the {role}: the file has {len(table.columns)} columns ({found})",
            file=table.file, column=str(spec),
        )
    if spec in table.columns:
        return table.columns.index(spec)
    folded = [j for j, c in enumerate(table.columns) if c.lower() == str(spec).strip().lower()]
    if len(folded) == 1:
        return folded[0]
    raise DataError(f"no {role} column named '{spec}' (columns found: {found})", file=table.file, column=str(spec))


def _guess_column(columns: list[str], candidates: tuple[str, ...], exclude: set | None = None) -> int | None:
    lowered = [c.strip().lower() for c in columns]
    for name in candidates:
        for j, column in enumerate(lowered):
            if column == name and j not in (exclude or set()):
                return j
    return None
