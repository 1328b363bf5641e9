"""ASGI entry point for process managers (``uvicorn musicconnect.asgi:app --workers N``,
gunicorn, Kubernetes): settings come from the environment."""
from .app import create_app
from .logs import configure
from .platform import Platform
from .settings import Settings

_settings = Settings()
configure(_settings.log_level, _settings.log_format)
app = create_app(Platform(_settings))
