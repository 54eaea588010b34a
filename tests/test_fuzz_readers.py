"""Fuzzing every reader with mutated fixtures: a reader reports bad input (issues, or the file as unreadable),
it never crashes. bench/fuzz_readers.py runs the same with ≥10,000 inputs per format."""

from __future__ import annotations

import traceback
import zlib

from mutations import fixture_exports, mutants, read_mutant

MUTANTS_PER_FIXTURE = 12


def test_mutated_fixtures_never_crash_a_reader():
    crashes, inputs = [], 0
    for path, reader in fixture_exports():
        data = path.read_bytes()
        for what, mutant in mutants(data, MUTANTS_PER_FIXTURE, seed=zlib.crc32(path.name.encode())):
            inputs += 1
            try:
                read_mutant(reader, path, mutant)
            except Exception:  # noqa: BLE001 — every crash is collected and shown together
                crashes.append(f"{path.name} [{reader.name}] {what}: {traceback.format_exc(limit=-2)}")
    assert inputs >= 300
    assert not crashes, f"{len(crashes)} of {inputs} inputs crashed a reader:\n" + "\n".join(crashes[:5])
