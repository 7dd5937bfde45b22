"""`python -m app` runs the csmap command line."""

from app.cli import main

main()
