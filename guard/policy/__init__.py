"""The rule language: model, loader (YAML with locations), compiler (to durable-rules JSON)."""
