# attack: register a function under a 1 MB name
# expect: load:ValueError
from udfbox import udf

globals()["f" * 1_000_000] = udf(lambda x: x, result_type="BIGINT")
