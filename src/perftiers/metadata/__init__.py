"""The metadata DB: classification_spec versions, API tokens, the pipeline lock, manual overrides."""
