"""MusicConnect web: the installable web app (a no-build Preact + htm ES-module app) at ``/``."""
