"""Concerns and protective factors: the entries of a young person's chronology."""
