"""Identity: password hashing, access / refresh / API tokens."""
