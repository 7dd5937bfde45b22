"""Pydantic schemas for the language checker."""

from pydantic import BaseModel, ConfigDict, Field


class LanguageCheckRequest(BaseModel):
    """Free text to check for victim-blaming wording."""

    text: str = Field(max_length=20000, description="The practitioner's text; it is never stored or logged.")


class LanguageFinding(BaseModel):
    """One flagged phrase: ``text[start:end] == phrase``, with the preferred wording and why."""

    model_config = ConfigDict(from_attributes=True)

    start: int = Field(description="Offset of the first character (Python string index, not bytes).")
    end: int = Field(description="Offset just after the last character (exclusive).")
    phrase: str
    suggestion: str
    reason: str
    rule_id: str


class LanguageCheckResponse(BaseModel):
    """Every flagged phrase in text order; an empty list when the wording is fine."""

    findings: list[LanguageFinding]
