"""Geography and analysis built on the domain: PostGIS queries, statistics and map rendering."""
