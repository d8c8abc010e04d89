# attack: log 20,000 warnings (bounded like print)
# expect: result:1
import logging
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    for i in range(20_000):
        logging.warning("flood %d", i)
    return x
