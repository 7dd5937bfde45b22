"""Language checker: flag victim-blaming wording in free text and suggest the preferred words."""
