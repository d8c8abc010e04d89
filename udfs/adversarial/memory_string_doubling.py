# attack: double a string until memory runs out
# expect: memory
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    s = "x"
    while True:
        s += s
