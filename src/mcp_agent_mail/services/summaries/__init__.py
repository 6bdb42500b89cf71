"""Thread summaries: extracting key points, decisions and actions, optionally refined by a language model."""
