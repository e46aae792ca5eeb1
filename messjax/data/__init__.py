"""Routing data: the :class:`RoutingTable`, loaders for public log formats, and streams."""

from messjax.data.loaders import (
    ZOOS,
    IncompleteRowsWarning,
    ZooJoinWarning,
    describe,
    detect_format,
    join_zoos,
    load_messplus,
    load_routellm,
    load_routerbench,
    load_zoo,
    parse_price,
    read_prices,
)
from messjax.data.streams import (
    chain,
    chain_tasks,
    leave_one_task_out,
    permutation,
    rechunk,
    shuffle,
    train_test_split,
)
from messjax.data.synthetic import SYNTHETIC_PRESETS, synthetic_zoo
from messjax.data.table import RoutingTable, concat, sort_models

__all__ = [
    "SYNTHETIC_PRESETS",
    "ZOOS",
    "IncompleteRowsWarning",
    "RoutingTable",
    "ZooJoinWarning",
    "chain",
    "chain_tasks",
    "concat",
    "describe",
    "detect_format",
    "join_zoos",
    "leave_one_task_out",
    "load_messplus",
    "load_routellm",
    "load_routerbench",
    "load_zoo",
    "parse_price",
    "permutation",
    "read_prices",
    "rechunk",
    "shuffle",
    "sort_models",
    "synthetic_zoo",
    "train_test_split",
]
