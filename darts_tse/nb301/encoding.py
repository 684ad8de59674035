"""The NB301 surrogate's category codes (YAHPO Gym v2 ``encoding_v2.json``, Apache-2.0), as a Python table.

Generated once from ``encoding_v2.json`` (sha256 ``b16bb8db9aa5…``); tests/test_nb301.py checks that :func:`code_table`
equals the file when ``../shared/nb301/`` is present. The project never reads the JSON at run time. Every column name carries the prefix
:data:`PREFIX`. Every edge column shares one code table (:data:`EDGE_CODES`); each ``inputs_node_<cell>_<n>`` column
has its own (:data:`INPUT_CODES`, keyed by node n = 3, 4, 5, the same for both cell types).
"""
from __future__ import annotations

PREFIX = 'NetworkSelectorDatasetInfo_COLON_darts_COLON_'
NA = "#na#"  # an edge the genotype does not select

EDGE_CODES: dict[str, int] = {
    '#na#': 0,
    'avg_pool_3x3': 1,
    'dil_conv_3x3': 2,
    'dil_conv_5x5': 3,
    'max_pool_3x3': 4,
    'sep_conv_3x3': 5,
    'sep_conv_5x5': 6,
    'skip_connect': 7,
}
INPUT_CODES: dict[int, dict[str, int]] = {
    3: {'#na#': 0, '0_1': 1, '0_2': 2, '1_2': 3},
    4: {'#na#': 0, '0_1': 1, '0_2': 2, '0_3': 3, '1_2': 4, '1_3': 5, '2_3': 6},
    5: {'#na#': 0, '0_1': 1, '0_2': 2, '0_3': 3, '0_4': 4, '1_2': 5, '1_3': 6, '1_4': 7, '2_3': 8, '2_4': 9, '3_4': 10},
}
# The column order of the surrogate's x_cat input (34 columns).
COLUMNS: tuple[str, ...] = (
    *(f"edge_normal_{i}" for i in range(14)),
    *(f"edge_reduce_{i}" for i in range(14)),
    *(f"inputs_node_{cell}_{n}" for cell in ("normal", "reduce") for n in (3, 4, 5)),
)


def code_table() -> dict[str, dict[str, int]]:
    """The table in encoding_v2.json's own form: full column name → {value: code}."""
    return {PREFIX + column: dict(EDGE_CODES if column.startswith("edge") else INPUT_CODES[int(column[-1])])
            for column in COLUMNS}
