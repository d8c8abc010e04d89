# attack: write a file
# expect: exception:FileNotFoundError
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    with open("/tmp/udfbox-was-here", "w") as f:
        return f.write("owned")
