# attack: raise a bare BaseException subclass
# expect: exception:Escape
from udfbox import DataTypes, udf

class Escape(BaseException):
    pass

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    raise Escape("out")
