# attack: declare a result type nested 100,000 deep (aims at the host's type parser)
# expect: load:ValueError
from udfbox import udf

attack = udf(lambda x: x, result_type="ARRAY<" * 100_000 + "BIGINT" + ">" * 100_000)
