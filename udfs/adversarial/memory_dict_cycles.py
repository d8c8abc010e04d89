# attack: build ever more reference cycles of dicts, defeating the GC
# expect: memory
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    keep = []
    while True:
        a, b = {}, {}
        a["b"], b["a"] = b, a
        a["pad"] = "x" * (64 << 10)
        keep.append(a)
