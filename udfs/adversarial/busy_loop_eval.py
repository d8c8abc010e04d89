# attack: an endless loop in eval
# expect: timeout
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    while True:
        x += 1
