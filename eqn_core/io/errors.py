"""DataError: bad input, saying what is wrong and where (file, row, column, line)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

# Where errors point (DataError.row / .line), used the same way by every reader:
#   row  = 1-based data row: the header and blank lines are not counted, so row 1 is the first data row.
#          It is the row's position in the returned arrays plus one, and the n of "row-<n>" text ids.
#   line = 1-based line in the file where that row starts, as a text editor shows it. Messages print it
#          only when it differs from the row: "train.csv, row 16 (line 17), column 'label': ...".
#          Parquet and JSON arrays have no lines.


class DataError(ValueError):
    """Bad input: says what is wrong and where."""

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike | None = None,
        row: int | None = None,
        column: str | None = None,
        line: int | None = None,
    ):
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(Path(self.file).name or self.file)
        if self.row is not None:
            shown_line = f" (line {self.line})" if self.line is not None and self.line != self.row else ""
            where.append(f"row {self.row}{shown_line}")
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def __reduce__(self):
        # keyword-only arguments do not survive the default exception pickling (runs use subprocesses)
        rebuild = functools.partial(DataError, file=self.file, row=self.row, column=self.column, line=self.line)
        return rebuild, (self.message,)
