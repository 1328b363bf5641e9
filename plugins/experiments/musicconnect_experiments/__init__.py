"""MusicConnect experiments: A/B tests on the variants of a feature flag (docs/flags.md)."""
