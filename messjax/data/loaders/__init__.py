"""Readers for routing logs: MESS+ logs, RouterBench and RouteLLM CSVs, and joined zoos.

Every loader returns a :class:`~messjax.data.table.RoutingTable` and validates the whole input
first: a bad cell raises :class:`~messjax.errors.DataError` naming the file, the column and the
line of the first offending cell, where *line N* is the 1-based line number in the file as an
editor shows it (the header is line 1). Nothing is silently dropped: a row is either loaded or
the load fails (blank lines carry no data and are skipped); the deliberate exceptions warn:
``missing="drop"`` drops requests with an empty score or cost cell
(:class:`IncompleteRowsWarning`, counted per model and per task; without it the first such cell
is an error that names the option), and :func:`join_zoos` keeps only the requests present in
both zoos (:class:`ZooJoinWarning`).

Real exports are taken as they come: a UTF-8 byte-order mark, CRLF line ends, very long
fields, leading pandas index columns (unnamed, or ``Unnamed: 0``) and extra columns
(``oracle_model_to_route_to``, ``<model>|model_response``, ``<model>_response``). A byte that
is not UTF-8 is reported at its own line. Pickles are never unpickled.

Formats (see MESSPLUS.md section 3):

- MESS+ logs (:func:`load_messplus`): ``doc_id, input_text, benchmark_name`` and per model ``m``
  ``label_<m>``, ``acc_<m>`` or ``acc_norm_<m>``, ``energy_consumption_<m>``,
  ``inference_time_<m>``.
- RouterBench (:func:`load_routerbench`): ``sample_id, prompt, eval_name``, per model id ``X`` a
  score column ``X``, ``X|model_response`` and ``X|total_cost`` (dollars).
- RouteLLM evaluation CSVs (:func:`load_routellm`): ``prompt`` plus one True/False column per
  model id; costs come from a per-model price table.

The readers by job: :mod:`~messjax.data.loaders.csvfile` (strict CSV parsing),
:mod:`~messjax.data.loaders.assemble` (missing cells, checks, one table from many files),
:mod:`~messjax.data.loaders.messplus`, :mod:`~messjax.data.loaders.routerbench`,
:mod:`~messjax.data.loaders.routellm` and :mod:`~messjax.data.loaders.prices` (the formats),
:mod:`~messjax.data.loaders.zoos` (named zoos, format detection, joins) and
:mod:`~messjax.data.loaders.summary` (:func:`describe`).
"""

from messjax.data.loaders.assemble import MISSING, IncompleteRowsWarning
from messjax.data.loaders.messplus import COST_KINDS, load_messplus
from messjax.data.loaders.prices import parse_price, read_prices
from messjax.data.loaders.routellm import load_routellm
from messjax.data.loaders.routerbench import load_routerbench
from messjax.data.loaders.summary import describe
from messjax.data.loaders.zoos import (
    ZOOS,
    ZooJoinWarning,
    ZooSpec,
    detect_format,
    join_zoos,
    load_zoo,
)

__all__ = [
    "COST_KINDS",
    "MISSING",
    "ZOOS",
    "IncompleteRowsWarning",
    "ZooJoinWarning",
    "ZooSpec",
    "describe",
    "detect_format",
    "join_zoos",
    "load_messplus",
    "load_routellm",
    "load_routerbench",
    "load_zoo",
    "parse_price",
    "read_prices",
]
