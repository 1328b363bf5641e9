"""MusicConnect fan club plugin."""
