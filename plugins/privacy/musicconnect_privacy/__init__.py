"""MusicConnect privacy: data export, erasure, consent records (docs/privacy.md)."""
