"""Every model of the domain and of mapping, so `metadata` describes the whole schema."""

from contexts.registry import APPEND_ONLY_TABLES, metadata
from mapping.areas import models as areas_models
from mapping.hotspots import models as hotspots_models
from mapping.places import models as places_models

__all__ = ["APPEND_ONLY_TABLES", "areas_models", "hotspots_models", "metadata", "places_models"]
