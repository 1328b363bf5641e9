"""Tables of the feature-flag service (:mod:`musicconnect.flags`); migration branch ``flags``
(``0002_flags``). Imported by :mod:`musicconnect.models` so they count as core tables."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .clock import utcnow
from .db import Base, JSONType, uuid_pk

FLAG_KINDS = ("boolean", "string", "number", "object")


class FeatureFlag(Base):
    """One flag in one environment: its variants (``{name: value}``), the default variant, the
    targeting rules (evaluated in order, first match wins) and whether fans may read it."""

    __tablename__ = "feature_flags"
    id: Mapped[uuid.UUID] = uuid_pk()
    environment: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    variants: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    default_variant: Mapped[str] = mapped_column(String(64))
    rules: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    client_visible: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    __table_args__ = (UniqueConstraint("environment", "key", name="environment_key"),)
