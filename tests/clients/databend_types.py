# databend-udf functions over the types Databend sends that the example file
# (udfs/databend_udf_example.py) does not use: BINARY (LargeBinary) and DECIMAL(p, s)
# (Decimal128). Served beside the example by tests/all/databend.rs, by udfbox and by
# databend-udf's own server.
from decimal import Decimal

from databend_udf import udf


@udf(input_types=["BINARY"], result_type="BINARY", skip_null=True)
def binary_reverse(data: bytes) -> bytes:
    return data[::-1]


@udf(input_types=["DECIMAL(36, 18)", "DECIMAL(36, 18)"], result_type="DECIMAL(20, 6)", skip_null=True)
def decimal_div(a: Decimal, b: Decimal) -> Decimal:
    return (a / b).quantize(Decimal("0.000001"))
