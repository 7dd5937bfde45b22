"""Agencies: the police force, council services, health bodies and charities in a partnership."""
