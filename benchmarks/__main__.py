"""Run every benchmark: `python -m benchmarks` (or `make bench`); name some to run only those.

python -m benchmarks                 # audit, then practitioner
python -m benchmarks practitioner    # only the practitioner benchmarks (large demo, ~10 minutes)
"""

import sys
from collections.abc import Callable

from benchmarks import audit_chain, practitioner

BENCHMARKS: dict[str, Callable[[], None]] = {"audit": audit_chain.main, "practitioner": practitioner.main}

chosen = sys.argv[1:] or list(BENCHMARKS)
unknown = [name for name in chosen if name not in BENCHMARKS]
if unknown:
    sys.exit(f"Unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}.")
for name in chosen:
    BENCHMARKS[name]()
