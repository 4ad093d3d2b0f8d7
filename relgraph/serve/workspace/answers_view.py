"""The Answers view: ``relgraph ask`` on the query (predictions, the backtest beside the trivial
baseline, the context it learnt from) and the evidence per table for one chosen entity."""

from __future__ import annotations

from typing import Any

from relgraph.database import Database
from relgraph.errors import RelgraphError


def _id(text: str) -> Any:
    return int(text) if text.lstrip("-").isdigit() else text


def answer(db: Database, fields: dict[str, str], rows: int) -> dict[str, Any]:
    """Ask ``fields["pql"]`` at ``fields["at"]`` (default: the latest time); the top ``rows`` answers,
    and with ``fields["id"]`` that entity's answer with its evidence."""
    try:
        from relgraph.runs.ask import ask
    except ModuleNotFoundError as err:  # ask (issue #24) lands in relgraph.runs.ask
        raise RelgraphError("relgraph ask is not in this version of relgraph") from err

    text = fields.get("pql", "").strip()
    if not text:
        raise RelgraphError("write a query first")
    at = fields.get("at", "").strip() or None
    entity = fields.get("id", "").strip()
    answers = ask(db, text, at=at, top=rows)
    key = answers.attrs["entity"].split(".", 1)[1]
    evidence = None
    if entity:
        chosen = ask(db, text, at=at, ids=[_id(entity)], explain=True, with_backtest=False)
        evidence = (chosen.attrs.get("evidence") or [None])[0]
    columns = [c for c in answers.columns if c != "timestamp"]
    return {"answers": answers[columns].to_dict("records"), "columns": columns, "key": key,
            "attrs": answers.attrs, "evidence": evidence, "entity": entity}
