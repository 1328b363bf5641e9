"""MusicConnect moderation plugin (docs/moderation.md)."""
