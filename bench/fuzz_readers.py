"""Fuzz every reader by hand: ≥10,000 mutated inputs per format, from the fixtures under tests/fixtures/formats.

    PYTHONPATH=. python bench/fuzz_readers.py [--per-format 10000] [--seed 0]

Prints, per format, the inputs tried, how many read (with how many issues), how many were reported unreadable,
the crashes (any other exception), and for the line-oriented text formats the non-blank lines checked and those
neither imported nor reported (tests/line_accounting.py), with the first few of each. Exit status 1 when anything
crashed or a line was lost.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from line_accounting import account_lines, is_line_oriented  # noqa: E402
from mutations import fixture_exports, mutants, read_mutant, source  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-format", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    by_format: dict[str, list[Path]] = defaultdict(list)
    readers = {}
    for path, reader in fixture_exports():
        by_format[reader.name].append(path)
        readers[reader.name] = reader
    total_crashes = total_lost = 0
    print(f"{'format':<18}{'inputs':>8}{'read':>8}{'issues':>9}{'unreadable':>12}{'crashes':>9}"
          f"{'lines':>10}{'unaccounted':>13}{'s':>7}")
    for name, paths in sorted(by_format.items()):
        reader = readers[name]
        per_file = -(-args.per_format // len(paths))
        inputs = read = issues = unreadable = checked_lines = 0
        crashes: list[str] = []
        lost: list[str] = []  # lines neither imported nor reported, as "file mutation: (line, text)"
        start = time.perf_counter()
        for index, path in enumerate(paths):
            for what, mutant in mutants(path.read_bytes(), per_file, seed=args.seed * 1000 + index):
                inputs += 1
                try:
                    result = read_mutant(reader, path, mutant)
                except Exception:  # noqa: BLE001 — a crash is what this looks for
                    crashes.append(f"{path.name} {what}\n{traceback.format_exc(limit=-3)}")
                    continue
                if result is None:
                    unreadable += 1
                else:
                    read += 1
                    issues += len(result[1])
                    if is_line_oriented(name, path):
                        accounting = account_lines(name, source(path, mutant).text, *result)
                        checked_lines += accounting.lines
                        lost += [f"{path.name} {what}: {where}" for where in accounting.unaccounted]
        total_crashes += len(crashes)
        total_lost += len(lost)
        accounted = any(is_line_oriented(name, path) for path in paths)
        print(f"{name:<18}{inputs:>8}{read:>8}{issues:>9}{unreadable:>12}{len(crashes):>9}"
              f"{checked_lines if accounted else '-':>10}{len(lost) if accounted else '-':>13}"
              f"{time.perf_counter() - start:>7.1f}")
        for crash in crashes[:3]:
            print("    " + crash.replace("\n", "\n    "))
        for line in lost[:3]:
            print("    lost " + line)
    return 1 if total_crashes or total_lost else 0


if __name__ == "__main__":
    sys.exit(main())
