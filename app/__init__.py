"""csmap web layer: FastAPI app, HTML pages, JSON API and command line."""
