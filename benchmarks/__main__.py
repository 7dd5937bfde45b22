"""Run every benchmark: `python -m benchmarks` (or `make bench`); name some to run only those.

python -m benchmarks                  # all of them, in the order below (well over an hour)
python -m benchmarks practitioner     # only the practitioner benchmarks (large demo, ~10 minutes)
python -m benchmarks hotspot-stats hotspots map-page
"""

import sys
from collections.abc import Callable

from benchmarks import (
    audit_chain,
    concern_import,
    hotspots,
    hotspots_stats,
    map_page,
    postcode_import,
    practitioner,
)

BENCHMARKS: dict[str, Callable[[], None]] = {
    "audit": audit_chain.main,
    "practitioner": practitioner.main,
    "hotspot-stats": hotspots_stats.main,
    "hotspots": hotspots.main,
    "map-page": map_page.main,
    "concern-import": concern_import.main,
    "postcode-import": postcode_import.main,
}

chosen = sys.argv[1:] or list(BENCHMARKS)
unknown = [name for name in chosen if name not in BENCHMARKS]
if unknown:
    sys.exit(f"Unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}.")
for name in chosen:
    BENCHMARKS[name]()
