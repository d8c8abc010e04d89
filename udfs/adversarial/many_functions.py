# attack: register 5,000 functions (the limit is 1,000) from one file
# expect: load:ValueError
from udfbox import udf

for i in range(5_000):
    globals()["f%d" % i] = udf(lambda x: x, result_type="BIGINT")
