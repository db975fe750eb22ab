"""adopt: ad-targeting optimization engine."""
