"""MusicConnect analytics plugin: rollups, revenue and audience metrics, models, charts."""
