"""Risk assessment as structured professional judgement: evidence, weighting, judgement, plan."""
