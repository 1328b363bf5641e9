"""MusicConnect billing plugin: Stripe (Connect, Checkout, Portal, webhooks) and an offline sandbox."""
