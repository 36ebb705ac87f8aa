"""streamrec: real-time recommendations on Kafka. ``faust -A app worker`` finds ``app.app``."""

from app.main import app

__all__ = ["app"]
