"""MusicConnect notifications plugin: domain events -> notification kinds -> deliveries per channel
(in-app inbox, web push, email). See docs/notify.md."""
