"""The safeguarding domain: models, schemas and services, with no web or map concerns."""
