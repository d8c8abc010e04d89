# gcd(a, b) over Int32 for the serve bench, written for databend-udf's server (Databend's
# protocol): `udfbox serve --udf` and `reference_server.py databend-udf` serve this same file.
from databend_udf import udf, UDFServer


@udf(input_types=["INT", "INT"], result_type="INT")
def gcd(a, b):
    while b != 0:
        (a, b) = (b, a % b)
    return a


if __name__ == "__main__":
    server = UDFServer(location="0.0.0.0:8815")
    server.add_function(gcd)
    server.serve()
