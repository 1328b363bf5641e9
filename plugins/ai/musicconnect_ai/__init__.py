"""MusicConnect AI plugin: recommendations, discovery feed, artist matching, demo prediction, post drafts."""
