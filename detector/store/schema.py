"""Tables: the schema as the newest migration leaves it (`detector.store.migrations`).

A change here is a change of schema: it comes with a new Alembic revision in
`detector/store/migrations/versions/`, and a test compares the two on both backends."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("component_ids", Text, nullable=False),  # JSON list
    Column("title", Text, nullable=False),
    Column("status", String(20), nullable=False),  # investigating|identified|monitoring|resolved
    Column("severity", String(20), nullable=False),
    Column("vendor", Text),
    Column("manual", Boolean, nullable=False, default=False),
    Column("started_at", Float, nullable=False),  # first failed check
    Column("detected_at", Float, nullable=False),  # confirmation
    Column("recovered_at", Float),
    Column("resolved_at", Float),
    Column("next_update_at", Float),  # the schedule lives here, not in a timer
    Column("cause", Text),
    Column("actions", Text),
    Column("report_by", Float),
    Column("postmortem_published_at", Float),
    Column("held_until", Float),  # notify.hold: confirmed but not yet published
    Column("vetoed", Boolean, nullable=False, default=False),  # a person stopped a held notice
    Column("sequence", Integer, nullable=False, default=0),  # last notice sequence
    # the status was set by a person: automatic severity changes keep it
    Column("status_by_person", Boolean, nullable=False, default=False),
)
Index("ix_incidents_open", incidents.c.resolved_at)

notices = Table(
    "notices",
    metadata,
    Column("id", String(64), primary_key=True),  # "<incident id>.<sequence>", the notice_id
    Column("incident_id", String(40), nullable=False, index=True),
    Column("sequence", Integer, nullable=False),
    Column("event", String(40), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("published_at", Float, nullable=False),
    Column("next_update_at", Float),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),  # default-locale text, for the page and the record
    Column("facts", Text, nullable=False),  # JSON NoticeFacts: re-rendered per reader
    Column("evidence", Text, nullable=False),  # JSON list, webhooks and operators only
    Column("recipients", Integer, nullable=False, default=0),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(80), primary_key=True),  # "<notice id>/<channel>/<batch>"
    Column("notice_id", String(64), nullable=False, index=True),
    Column("channel", String(64), nullable=False),
    Column("event", String(40), nullable=False),
    Column("message", Text, nullable=False),  # JSON Message
    Column("payload", Text, nullable=False),  # JSON webhook body
    Column("recipients", Text, nullable=False),  # JSON list of recipients
    Column("state", String(10), nullable=False),  # pending | sent | dead | superseded
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("next_attempt_at", Float, nullable=False),  # wall clock, for a restart to resume
    Column("sent_at", Float),
    Column("last_error", Text),
    # delivery order: "<owner>/<channel>/<recipient group>"; NULL (v1 rows) = its own stream
    Column("stream", String(200)),
    Column("sequence", BigInteger, nullable=False, default=0),  # within the owner
    Column("stale_at", Float),  # the notice's promised next update: not sent after it
    Column("claimed_until", Float),  # a worker's lease while it sends
)
Index("ix_outbox_due", outbox.c.state, outbox.c.channel, outbox.c.next_attempt_at)

probe_state = Table(
    "probe_state",
    metadata,
    Column("probe", String(200), primary_key=True),
    Column("level", Integer, nullable=False),
    Column("first_bad_at", Float),
    Column("severity", String(20)),
    Column("updated_at", Float, nullable=False),
)


def _history(name: str) -> Table:
    """Check counts per probe per bucket (the bucket's start, epoch seconds)."""
    return Table(
        name,
        metadata,
        Column("probe", String(200), primary_key=True),
        # SQLite's INTEGER is 64 bits; PostgreSQL's is 32, which epoch seconds outgrow in 2038
        Column("bucket", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("checks", Integer, nullable=False),
        Column("failures", Integer, nullable=False),
        Column("soft", Integer, nullable=False),
        Column("duration_sum", Float, nullable=False),
    )


check_history = _history("check_history")  # per minute
# per hour: minute rows older than Store.rollup_history's minute_keep fold into these
check_history_hourly = _history("check_history_hourly")

maintenance = Table(
    "maintenance",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("component_ids", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float, nullable=False),
    # 0 none, 1 scheduled, 2 started, 3 ended
    Column("announced", Integer, nullable=False, default=0),
)


# --- several instances (PostgreSQL; the tables exist on SQLite too, unused) ------------------
# Times here are the database's clock (epoch seconds): instances on several hosts compare
# heartbeats and the lease against one clock, not against their own.

cluster_members = Table(
    "cluster_members",
    metadata,
    Column("member", String(64), primary_key=True),  # one per process: random, never reused
    Column("vantage", String(200), nullable=False),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("listen", Text, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("blind", Boolean, nullable=False, default=False),  # its controls fail
    Column("probes_owned", Integer, nullable=False, default=0),
)

cluster_lease = Table(
    "cluster_lease",
    metadata,
    Column("id", Integer, primary_key=True),  # one row: 1
    Column("holder", String(64)),
    Column("epoch", BigInteger, nullable=False, default=0),
    Column("expires_at", Float, nullable=False, default=0.0),
)

# each vantage's verdict on each probe, written when it changes (not every check)
verdicts = Table(
    "verdicts",
    metadata,
    Column("vantage", String(200), primary_key=True),
    Column("probe", String(200), primary_key=True),
    Column("level", Integer, nullable=False),  # detector.state.Level
    Column("suspect", Boolean, nullable=False, default=False),  # re-checking towards a change
    Column("first_bad_at", Float),
    Column("severity", String(20)),
    Column("detail", Text, nullable=False, default=""),
    Column("at", Float, nullable=False),  # the check that changed it
    Column("changed_at", Float, nullable=False),  # database clock
)
Index("ix_verdicts_changed", verdicts.c.changed_at)


# --- subscribers who chose for themselves (detector.store.subscribers) ---------------------
# Those who signed up (POST /api/v1/subscribe, the status page's form), and any subscriber,
# config and CSV ones included, who unsubscribed or changed their preferences through a link.
subscribers = Table(
    "subscribers",
    metadata,
    Column("id", String(32), primary_key=True),  # random; named by confirm links
    Column("email", String(320), nullable=False),  # lower-cased
    Column("name", Text),
    Column("locale", String(16)),  # NULL: the service's
    Column("timezone", String(64)),  # NULL: the service's
    Column("components", Text),  # JSON list of component ids; NULL: all
    Column("state", String(16), nullable=False),  # pending | confirmed | unsubscribed
    Column("nonce", String(32), nullable=False),  # in the confirm link: a new one voids older
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("confirmed_at", Float),
    Column("unsubscribed_at", Float),
)
Index("ix_subscribers_email", subscribers.c.email, unique=True)
