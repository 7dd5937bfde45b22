"""Small areas (LSOAs, wards ...), their indicators (deprivation, population) and postcodes."""
