"""Run every benchmark: `python -m benchmarks` (or `make bench`)."""

from benchmarks import audit_chain

audit_chain.main()
