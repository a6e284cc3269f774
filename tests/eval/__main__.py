"""`python -m tests.eval [-v]`: the evaluation set through the in-memory harness, per category.

The same cases run through the real HTTP route and MCP server in `pytest tests/eval`.
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict

from tests.eval.cases import accuracy_table, load_cases
from tests.eval.memory_runner import run_case_in_memory


async def main(verbose: bool) -> int:
    results: dict[str, list[bool]] = defaultdict(list)
    for case in load_cases():
        problems = await run_case_in_memory(case)
        results[case.category].append(not problems)
        if problems and (verbose or not case.xfail):
            label = f" (known limit: {case.xfail})" if case.xfail else ""
            print(f"FAIL {case.id}{label}")
            for problem in problems:
                print(f"    {problem}")
    print(accuracy_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main("-v" in sys.argv)))
