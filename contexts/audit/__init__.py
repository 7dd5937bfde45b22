"""The append-only, hash-chained audit trail of who did what to which record, and why."""
