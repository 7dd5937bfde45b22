"""Imports every model module so `Base.metadata` describes the whole schema."""

from contexts.accounts import models as accounts_models
from contexts.agencies import models as agencies_models
from contexts.assessments import models as assessments_models
from contexts.audit import models as audit_models
from contexts.base import Base
from contexts.concerns import models as concerns_models
from contexts.language import models as language_models
from contexts.missing import models as missing_models
from contexts.persons import models as persons_models
from contexts.young_people import models as young_people_models

APPEND_ONLY_TABLES = frozenset({"audit_event"})
"""Tables the app role may read and add to, but never change or delete from."""

metadata = Base.metadata

__all__ = [
    "APPEND_ONLY_TABLES",
    "accounts_models",
    "agencies_models",
    "assessments_models",
    "audit_models",
    "concerns_models",
    "language_models",
    "metadata",
    "missing_models",
    "persons_models",
    "young_people_models",
]
