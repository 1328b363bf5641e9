import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk


class Greeting(Base):
    __tablename__ = "hello_greetings"  # plugin tables are named <plugin>_<thing>
    id: Mapped[uuid.UUID] = uuid_pk()
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column()
