"""Persons of concern and the links between people, each with its provenance."""
