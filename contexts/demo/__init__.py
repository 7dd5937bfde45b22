"""The fictional demo borough: agencies, users and (as csmap grows) its records."""
