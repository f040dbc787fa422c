"""Prints the conformance matrix (cases by language) from each runner's results file.

    python conformance/matrix.py python=build/conformance-python.jsonl node=... go=...

Fails when any cell fails, when a language lacks a case another ran, or when two languages'
normalised results for a case differ (the files are canonical JSON lines, compared as text).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(path: Path) -> dict[str, tuple[bool, str]]:
    rows: dict[str, tuple[bool, str]] = {}
    if not path.exists():
        print(f"{path} is missing: that runner did not finish (see its .log beside it)", file=sys.stderr)
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        rows[entry["case"]] = (bool(entry["ok"]), json.dumps(entry["result"], sort_keys=True, separators=(",", ":")))
    return rows


def main(argv: list[str]) -> int:
    if not argv or any("=" not in a for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    languages = [a.split("=", 1) for a in argv]
    results = {lang: load(Path(path)) for lang, path in languages}
    names = [lang for lang, _ in languages]
    cases = sorted(set().union(*(r.keys() for r in results.values())))
    width = max(len(c) for c in cases)
    print(f"{'case':<{width}}  " + "  ".join(f"{n:<6}" for n in names) + "  same")
    failed_cells = 0
    differing = 0
    for case in cases:
        cells = []
        outputs = set()
        for n in names:
            row = results[n].get(case)
            if row is None:
                cells.append("MISS")
                failed_cells += 1
                continue
            ok, output = row
            cells.append("pass" if ok else "FAIL")
            failed_cells += 0 if ok else 1
            outputs.add(output)
        same = len(outputs) <= 1
        differing += 0 if same else 1
        print(f"{case:<{width}}  " + "  ".join(f"{c:<6}" for c in cells) + ("  yes" if same else "  DIFF"))
    total = len(cases) * len(names)
    print()
    print(
        f"{len(cases)} cases x {len(names)} languages ({', '.join(names)}): "
        f"{total - failed_cells} cells passed, {failed_cells} failed; {differing} cases differ across languages"
    )
    print(f"{total - failed_cells} passed, {failed_cells + differing} failed")
    return 1 if failed_cells or differing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
