"""What the commands print and write: aligned tables, JSON with its CSV beside it.

Output paths are checked before any work (:func:`output_paths`): a regular file (or none yet) in
a folder that exists and can be written, not through a symbolic link, a name the file system
takes, and no file beside it the user did not name overwritten. Files are written to a temporary
file in the same folder and renamed into place, so a failed write (a full disk) leaves whatever
was there and is said in one line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path

from ..config import ConfigError


def print_table(rows: list[list], header: list[str], out=sys.stdout) -> None:
    """``rows`` under ``header``, the first column left-aligned, the others right-aligned."""
    from ..tables import format_cell

    cells = [[format_cell(c) for c in row] for row in [header] + rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))), file=out)
        if j == 0:
            print("  ".join("-" * w for w in widths), file=out)


def output_paths(out: str, with_csv: bool = True) -> tuple[Path, Path | None]:
    """The JSON path ``out`` names (``.json`` for a ``.csv``) and the CSV beside it, checked.

    Raises:
        ConfigError: ``--out`` and what is wrong with it, before any work.
    """
    given = Path(out)
    path = given.with_suffix(".json") if with_csv and given.suffix == ".csv" else given
    csv_path = path.with_suffix(".csv") if with_csv else None
    for target in [p for p in (path, csv_path) if p is not None]:
        limit = os.pathconf(target.parent if target.parent.is_dir() else ".", "PC_NAME_MAX")
        if len(target.name.encode()) > limit:  # first: a longer name cannot even be looked at
            raise ConfigError("--out", out, f"a shorter file name (the file system's limit is {limit} bytes)")
        if target.is_symlink():
            raise ConfigError("--out", out, f"a path that is not a symbolic link ({target} is one)")
        if target.exists() and not target.is_file():
            raise ConfigError("--out", out, f"a regular file ({target} is a folder or a device)")
    if not path.parent.is_dir():
        raise ConfigError("--out", out, f"a path in an existing directory ({path.parent} is not one)")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ConfigError("--out", out, f"a path in a folder you can write ({path.parent} is not)")
    if csv_path is not None and csv_path != given and csv_path.exists() and not path.exists():
        raise ConfigError("--out", out, f"a name whose CSV sibling is not taken: {csv_path} exists and this command "
                          "would overwrite it (name the .csv itself, or another path)")
    return path, csv_path


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "x", newline="") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ConfigError("--out", str(path), f"a path that can be written ({error.strerror}); the results are "
                          "cached, so the same command with another --out is instant") from None


def write_json(out: str, document: dict) -> None:
    path, _ = output_paths(out, with_csv=False)
    _write_atomically(path, json.dumps(document, indent=2))
    print(f"\nwrote {path}")


def write_json_and_csv(out: str, document: dict, rows: list[dict]) -> None:
    """``document`` as JSON at ``out`` (``.json`` when ``out`` names a ``.csv``) and ``rows`` as CSV beside it."""
    path, csv_path = output_paths(out)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
    writer.writeheader()
    writer.writerows(rows)
    _write_atomically(path, json.dumps(document, indent=2))
    _write_atomically(csv_path, table.getvalue())
    print(f"\nwrote {path} and {csv_path}")
