# A file written for Databend's databend-udf server package, unchanged below this header: udfbox
# runs its functions in SQL, and `udfbox serve --udf udfs/databend_udf_example.py` serves them to
# Databend (the UDFServer block at the end does not run: the file is not the main module).
# query: SELECT num, square, gcd(n, 12) AS g, gcd(NULL, n) AS skipped, json_access('{"a": {"b": 1}}', 'a') AS j,
#   array_index_of(make_array(1, NULL, n), n) AS idx, map_access(MAP {'k': 'v'}, 'k') AS m,
#   split_at('x,2', num) AS t, add_batch(num, 10) AS b
#   FROM (VALUES (3)) AS v(n), LATERAL TABLE(squares(n)) AS s(num, square) ORDER BY num
import logging
from typing import Any, Dict, List, Optional, Tuple

from databend_udf import udf, UDFServer

logging.basicConfig(level=logging.INFO)


@udf(input_types=["INT", "INT"], result_type="INT", skip_null=True)
def gcd(x: int, y: int) -> int:
    while y != 0:
        (x, y) = (y, x % y)
    return x


@udf(input_types=["VARIANT", "VARCHAR"], result_type="VARIANT")
def json_access(data: Any, field: str) -> Any:
    return data[field]


@udf(input_types=["ARRAY(INT64 NULL)", "INT64"], result_type="INT NOT NULL")
def array_index_of(array: List[int], item: int):
    if array is None:
        return 0
    try:
        return array.index(item) + 1
    except ValueError:
        return 0


@udf(input_types=["MAP(VARCHAR,VARCHAR)", "VARCHAR"], result_type="VARCHAR")
def map_access(map: Dict[str, str], key: str) -> Optional[str]:
    return map[key] if key in map else None


@udf(input_types=["VARCHAR", "INT"], result_type="TUPLE(VARCHAR, INT NULL)")
def split_at(text: str, index: int) -> Tuple[str, Optional[int]]:
    head, _, tail = text.partition(",")
    return (head, int(tail) * index if tail else None)


@udf(input_types=["INT"], result_type=[("num", "INT"), ("square", "BIGINT")])
def squares(n: int):
    for i in range(n):
        yield (i, i * i)


@udf(input_types=["BIGINT", "BIGINT"], result_type="BIGINT", batch_mode=True)
def add_batch(a: List[int], b: List[int]) -> List[int]:
    return [x + y for x, y in zip(a, b)]


if __name__ == "__main__":
    udf_server = UDFServer("0.0.0.0:8815")
    udf_server.add_function(gcd)
    udf_server.add_function(json_access)
    udf_server.add_function(array_index_of)
    udf_server.add_function(map_access)
    udf_server.add_function(split_at)
    udf_server.add_function(squares)
    udf_server.add_function(add_batch)
    udf_server.serve()
