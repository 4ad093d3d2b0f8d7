"""The database a query's ``FOR EACH`` needs: a column whose values name things becomes an entity.

``FOR EACH commits.author_email`` on commits keyed by ``sha`` means the distinct authors.
:func:`entity_database` is the one hook every caller applies before building tasks or training
(``build_task``, ``make_training_table``, ``relgraph.train``, ``RunFolder.connect`` on reopening a
run, the ``query`` / ``train`` / ``ask`` commands): it returns the database unchanged when the
column is a key (its table's primary key, or a foreign key: ``validator.resolve_entity`` follows
it), else ``db.with_entity(table, column)``.
"""

from __future__ import annotations

import logging

from relgraph.database import Database
from relgraph.query.ast import Query
from relgraph.query.parser import parse
from relgraph.schema.value_entities import entity_note

log = logging.getLogger(__name__)


def entity_database(db: Database, query: Query | str) -> Database:
    """``db`` with the query's ``FOR EACH table.column`` made an entity when the column is no key.

    Args:
        db: the database the query runs on.
        query: PQL text or a parsed query.
    Returns:
        ``db`` itself when nothing is to be made (the column is a key, or names no table or
        column: validation then says so), else a Database with the made table.
    Raises:
        QueryError: the column's values cannot name entities (one line: the column and why).
    """
    parsed = parse(query) if isinstance(query, str) else query
    table, column = parsed.entity_table, parsed.entity_key
    spec = db.schema.tables.get(table)
    if spec is None or column not in spec.column_names:
        return db
    if column == spec.primary_key or column in {fk.column for fk in spec.foreign_keys}:
        return db
    made = db.with_entity(table, column)
    name = next(fk.references_table for fk in made.schema[table].foreign_keys if fk.column == column)
    log.debug("%s", entity_note(made.schema, name))
    return made


def entity_notes(db: Database, query: Query | str) -> list[str]:
    """One line per table relgraph made that the query's entity is (``query`` / ``--explain`` print it)."""
    parsed = parse(query) if isinstance(query, str) else query
    spec = db.schema.tables.get(parsed.entity_table)
    if spec is None:
        return []
    fk = next((f for f in spec.foreign_keys if f.column == parsed.entity_key), None)
    name = fk.references_table if fk is not None else parsed.entity_table
    made = db.schema.tables.get(name)
    return [entity_note(db.schema, name)] if made is not None and made.implicit_from else []
