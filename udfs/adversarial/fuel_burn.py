# attack: burn CPU within the time limit (metered: fuel runs out first)
# limits: fuel=50000000
# expect: fuel
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    while True:
        x += 1
