"""Places: hotels, taxi ranks, takeaways, parks, schools and routes, with their geometry."""
