"""MusicConnect streaming plugin: the ``track`` content kind."""
