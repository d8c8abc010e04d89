# attack: return a list subclass whose __len__ and __iter__ raise
# expect: bad-result
from udfbox import DataTypes, udf

class Liar(list):
    def __len__(self):
        raise RuntimeError("no")

    def __iter__(self):
        raise RuntimeError("no")

@udf(result_type=DataTypes.ARRAY(DataTypes.BIGINT()))
def attack(x):
    return Liar([x])
