"""Sum the JUnit XML reports of every test environment into one closing line.

Usage: python3 scripts/test_summary.py REPORT.xml [...]
Prints one line per suite and then `N passed, N failed[, N skipped]`; exits 1 if anything
failed or errored, or if a report is missing (a suite that crashed before writing one).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(report: Path) -> tuple[int, int, int]:
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def main(paths: list[str]) -> int:
    passed = failed = skipped = 0
    missing = []
    for name in paths:
        path = Path(name)
        if not path.exists():
            missing.append(path.stem)
            continue
        p, f, s = counts(path)
        print(f"  {path.stem:<16} {p} passed, {f} failed, {s} skipped")
        passed, failed, skipped = passed + p, failed + f, skipped + s
    for suite in missing:
        print(f"  {suite:<16} NO REPORT (the suite crashed before finishing)")
    failed += len(missing)
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
