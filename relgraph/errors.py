"""Errors relgraph raises on bad input. Each message is one line a user can act on."""

from __future__ import annotations


class RelgraphError(ValueError):
    """Base class: a problem with the user's input, reported in one actionable line."""


class SourceError(RelgraphError):
    """The source cannot be opened or read (unknown scheme, missing file, empty database)."""


class SchemaError(RelgraphError):
    """Keys, times or a schema file are inconsistent with the data."""


class QueryError(RelgraphError):
    """A predictive query cannot be parsed, validated or planned."""


class ModelError(RelgraphError):
    """A saved model does not fit the database or query it is used with."""
