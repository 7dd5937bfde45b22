"""The language checker: flag victim-blaming wording and suggest the preferred words (never logs the text)."""

from fastapi import APIRouter

from app.deps import SettingsDep, SignedIn
from contexts.language.checker import check_text, load_rules
from contexts.language.schemas import LanguageCheckRequest, LanguageCheckResponse, LanguageFinding

router = APIRouter(prefix="/api/language", tags=["language"])


@router.post("/check", response_model=LanguageCheckResponse)
def check_language_route(
    _: SignedIn, settings: SettingsDep, data: LanguageCheckRequest
) -> LanguageCheckResponse:
    """Warn about wording that blames a young person; the text is not changed, stored or logged."""
    rules = load_rules(settings.language_rules_file)
    findings = check_text(data.text, rules)
    return LanguageCheckResponse(findings=[LanguageFinding.model_validate(finding) for finding in findings])
