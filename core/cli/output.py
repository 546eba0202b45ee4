"""What the commands print and write: aligned tables, JSON with its CSV beside it."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def print_table(rows: list[list], header: list[str], out=sys.stdout) -> None:
    """``rows`` under ``header``, the first column left-aligned, the others right-aligned."""
    from ..tables import format_cell

    cells = [[format_cell(c) for c in row] for row in [header] + rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))), file=out)
        if j == 0:
            print("  ".join("-" * w for w in widths), file=out)


def write_json(out: str, document: dict) -> None:
    Path(out).write_text(json.dumps(document, indent=2))
    print(f"\nwrote {out}")


def write_json_and_csv(out: str, document: dict, rows: list[dict]) -> None:
    """``document`` as JSON at ``out`` (``.json`` when ``out`` names a ``.csv``) and ``rows`` as CSV beside it."""
    path = Path(out)
    path = path.with_suffix(".json") if path.suffix == ".csv" else path
    path.write_text(json.dumps(document, indent=2))
    csv_path = path.with_suffix(".csv")
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {path} and {csv_path}")
