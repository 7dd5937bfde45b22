"""Young people: the children csmap helps protect, and who may see their records."""
