"""Alembic environment shared by the core and every plugin: the caller passes the connection,
the version table (``alembic_version_<name>``) and the owner's table filter in ``config.attributes``."""
from alembic import context

config = context.config
conn = config.attributes["connection"]
owns = config.attributes["owns_table"]


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table":
        return owns(name)
    table = getattr(obj, "table", None)
    return owns(table.name) if table is not None else True


context.configure(
    connection=conn,
    target_metadata=config.attributes["metadata"],
    version_table=config.attributes["version_table"],
    include_object=include_object,
    render_as_batch=conn.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
