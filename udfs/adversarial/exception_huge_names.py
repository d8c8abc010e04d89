# attack: raise an exception whose class has a 20 MB __qualname__ and __module__ (the host clips the record)
# expect: exception:clipped
from udfbox import DataTypes, udf

Huge = type("Huge", (Exception,), {})
Huge.__qualname__ = "q" * 20_000_000
Huge.__module__ = "m" * 20_000_000


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    raise Huge("boom")
