# gcd(a, b) over Int32 for the serve bench, written for arrow-udf's server (RisingWave's
# protocol): `udfbox serve --udf` and `reference_server.py arrow-udf` serve this same file.
from arrow_udf import udf, UdfServer


@udf(input_types=["INT", "INT"], result_type="INT")
def gcd(a, b):
    while b != 0:
        (a, b) = (b, a % b)
    return a


if __name__ == "__main__":
    server = UdfServer(location="0.0.0.0:8815")
    server.add_function(gcd)
    server.serve()
