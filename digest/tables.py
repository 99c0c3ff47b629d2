"""The database schema, as SQLAlchemy Core tables. Migrations live in ``digest/migrations``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from digest.models import Status

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("location", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_fetched_at", DateTime),
    Column("last_status", String(20)),
    Column("last_error", Text),
)

batches = Table(
    "batches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime, nullable=False),
    Column("sources", JSON, nullable=False),
    Column("size", Integer, nullable=False, default=0),
)

papers = Table(
    "papers",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("id", String(300), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("abstract", Text, nullable=False),
    Column("authors", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("published", Date),
    Column("url", Text, nullable=False),
    Column("source", String(200), nullable=False),
    Column("doi", String(300), index=True),
    Column("version", Integer),
    Column("upvotes", Integer),
    Column("comment", Text),
    Column("announce", String(20)),
    Column("fingerprint", String(40), nullable=False, index=True),
    Column("batch_id", Integer, ForeignKey("batches.id"), nullable=False, index=True),
    Column("first_seen", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_papers_url", "url"),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("status", String(20), nullable=False, default=Status.PENDING),
    Column("created_at", DateTime, nullable=False),
    Column("confirmed_at", DateTime),
    Column("unsubscribed_at", DateTime),
    Column("send_hour", Integer, nullable=False, default=7),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("cadence", String(10), nullable=False, default="daily"),
    Column("weekdays", JSON, nullable=False),
    Column("channels", JSON, nullable=False),
    Column("last_batch_id", Integer),
    Column("confirm_sent_at", DateTime),
    Column("confirm_sends", Integer, nullable=False, default=0, server_default=text("0")),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", String(100), nullable=False),
    Column("position", Integer, nullable=False, default=0),
    Column("data", JSON, nullable=False),
    Column("vector", LargeBinary),
    Column("vector_model", String(40)),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("subscriber_id", "name", name="uq_profiles_subscriber_name"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("day", Date, nullable=False),
    Column("status", String(20), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("message_id", String(300)),
    Column("batch_id", Integer),
    Column("after_batch_id", Integer),
    Column("owner", String(200)),
    Column("items", LargeBinary),
    Column("claimed_at", DateTime),
    Column("sent_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("subscriber_id", "day", name="uq_deliveries_subscriber_day"),
    Index("ix_deliveries_day_status", "day", "status"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

embeddings = Table(
    "embeddings",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("model", String(40), nullable=False),
    Column("title", Text, nullable=False),
    Column("vector", LargeBinary, nullable=False),
)

# mail that stops: a reader whose address bounced for good, kept bouncing, or who
# complained; the day plans only active readers, and a suppressed reader is not one
suppressions = Table(
    "suppressions",
    metadata,
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("kind", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("since", DateTime, nullable=False),
    Column("previous_status", String(20), nullable=False),
)

# every bounce and complaint read from the bounce mailbox, once (by its report id)
mail_reports = Table(
    "mail_reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("report_id", String(300), nullable=False, unique=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("received_at", DateTime, nullable=False),
    Index("ix_mail_reports_subscriber_received", "subscriber_id", "received_at"),
)

feed_fragments = Table(
    "feed_fragments",
    metadata,
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("day", Date, primary_key=True),
    Column("body", LargeBinary, nullable=False),
    Column("written_at", DateTime, nullable=False),
    Index("ix_feed_fragments_day", "day"),
)

send_quota = Table(
    "send_quota",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("window", DateTime, nullable=False),
    Column("used", Integer, nullable=False),
)
