# attack: an exception whose message, class name and module hold lone surrogates
# expect: exception:m\udfff.E\ud800
# message: raised m\udfff.E\ud800: bad \ud800 text
from udfbox import DataTypes, udf


class Surrogates(ValueError):
    pass


Surrogates.__qualname__ = "E\ud800"
Surrogates.__module__ = "m\udfff"


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    raise Surrogates("bad \ud800 text")
