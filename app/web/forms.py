"""Small helpers for GOV.UK forms: dates typed in three boxes, error lists, checkbox values."""

from datetime import date


def date_from_parts(day: str, month: str, year: str) -> date | None:
    """The date typed into a GOV.UK date input, or None when all three boxes are empty.

    Raises ValueError with a GOV.UK-style message when the date is incomplete or impossible.
    """
    parts = [day.strip(), month.strip(), year.strip()]
    if not any(parts):
        return None
    if not all(parts):
        raise ValueError("Enter a complete date, with a day, month and year")
    if not all(part.isdigit() for part in parts) or len(parts[2]) != 4:
        raise ValueError("Enter the date as numbers, for example 27 3 2012")
    try:
        return date(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError as impossible:
        raise ValueError("Enter a real date") from impossible


def error_list(
    field_errors: dict[str, str], order: tuple[str, ...], anchors: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """The GOV.UK error summary items, in page order, each linking to its field's first input."""

    def rank(field: str) -> int:
        return order.index(field) if field in order else len(order)

    ranked = sorted(field_errors.items(), key=lambda item: rank(item[0]))
    return [{"text": text, "href": f"#{(anchors or {}).get(field, field)}"} for field, text in ranked]


def first_errors(errors: list[dict[str, object]], aliases: dict[str, str] | None = None) -> dict[str, str]:
    """The first message per field from pydantic errors, without pydantic's prefixes."""
    messages: dict[str, str] = {}
    for error in errors:
        location = error.get("loc") or ("form",)
        field = str(location[0]) if isinstance(location, tuple | list) and location else "form"
        field = (aliases or {}).get(field, field)
        messages.setdefault(field, str(error.get("msg", "Check this field")).removeprefix("Value error, "))
    return messages
