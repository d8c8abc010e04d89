# attack: return an object whose __repr__ never ends, so reporting the bad result hangs
# expect: timeout
from udfbox import DataTypes, udf

class Endless:
    def __repr__(self):
        while True:
            pass

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return Endless()
