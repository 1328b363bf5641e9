"""Example MusicConnect plugin: a guestbook per artist."""
