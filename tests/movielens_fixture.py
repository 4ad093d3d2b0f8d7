"""A tiny database modelled on MovieLens ``ml-latest-small``: ratings.csv and tags.csv carry
``userId`` and ``movieId`` with epoch-second timestamps, movies.csv lists the movies, and there is
no users file (so relgraph makes the ``userId`` table)."""

from __future__ import annotations

from pathlib import Path

RATINGS = """userId,movieId,rating,timestamp
1,10,4.0,964982703
1,20,3.5,964983815
2,10,5.0,1045000000
2,30,2.0,1045100000
3,20,4.5,1100000000
3,30,1.0,1100500000
1,30,4.0,1200000000
"""
MOVIES = """movieId,title,genres
10,Toy Story (1995),Adventure|Animation
20,Jumanji (1995),Adventure|Children
30,Heat (1995),Action|Crime
"""
TAGS = """userId,movieId,tag,timestamp
2,10,pixar,1045000100
4,20,fun,1300000000
4,30,cool,1300000100
"""


def write_movielens(folder: Path) -> Path:
    """ratings.csv, movies.csv and tags.csv in ``folder`` (created); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("ratings", RATINGS), ("movies", MOVIES), ("tags", TAGS)):
        (folder / f"{name}.csv").write_text(text)
    return folder
