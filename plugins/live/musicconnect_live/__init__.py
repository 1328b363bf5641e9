"""MusicConnect live: listening parties, synced playback, chat with moderation."""
