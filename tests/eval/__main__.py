"""`python -m tests.eval [-v] [--holdout | --cases FILE]`: an evaluation set through the
in-memory harness, per category.

The public set (`cases.yaml`) by default; `--holdout` runs the held-out set (`holdout.yaml`),
whose score is reported separately. The same cases run through the real HTTP route and MCP
server in `pytest tests/eval`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from pathlib import Path

from tests.eval.cases import CASES_FILE, HOLDOUT_FILE, accuracy_table, load_cases
from tests.eval.memory_runner import run_case_in_memory


async def main(cases_file: Path, verbose: bool) -> int:
    results: dict[str, list[bool]] = defaultdict(list)
    for case in load_cases(cases_file):
        problems = await run_case_in_memory(case)
        results[case.category].append(not problems)
        if problems and (verbose or not case.xfail):
            label = f" (known limit: {case.xfail})" if case.xfail else ""
            print(f"FAIL {case.id}{label}")
            for problem in problems:
                print(f"    {problem}")
    print(f"{cases_file.name}:")
    print(accuracy_table(results))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.eval")
    parser.add_argument("-v", "--verbose", action="store_true")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--holdout", action="store_true", help="the held-out set")
    choice.add_argument("--cases", type=Path, help="a cases file")
    options = parser.parse_args()
    cases = options.cases or (HOLDOUT_FILE if options.holdout else CASES_FILE)
    sys.exit(asyncio.run(main(cases, options.verbose)))
