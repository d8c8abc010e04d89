# A file written for RisingWave's arrow-udf server package, unchanged below this header: udfbox
# runs its functions in SQL, and `udfbox serve --udf udfs/arrow_udf_example.py` serves them to
# RisingWave (the UdfServer block at the end does not run: the file is not the main module).
# query: SELECT i, gcd(i * 6, 4) AS g, decimal_add('1.10', CAST(i AS VARCHAR)) AS d,
#   json_get('{"k": [1, 2]}', 'k') AS j, extract_tcp_info('10.0.0.1:80 -> 10.0.0.2:443')['dst_port'] AS port,
#   array_len_batch(make_array('a', 'b')) AS n
#   FROM (VALUES (3)) AS t(n), LATERAL TABLE(series(n)) AS s(i) ORDER BY i
import socket
from decimal import Decimal

from arrow_udf import udf, udtf, UdfServer


@udf(input_types=["INT", "INT"], result_type="INT")
def gcd(x, y):
    while y != 0:
        (x, y) = (y, x % y)
    return x


@udf(input_types=["DECIMAL", "DECIMAL"], result_type="DECIMAL")
def decimal_add(a, b):
    return a + b


@udf(input_types=["JSONB", "VARCHAR"], result_type="JSONB")
def json_get(value, key):
    if not isinstance(value, dict):
        return None
    return value.get(key)


@udtf(input_types="INT", result_types="INT")
def series(n):
    for i in range(n):
        yield i


@udf(input_types=["VARCHAR"], result_type="STRUCT<src_ip: VARCHAR, dst_ip: VARCHAR, src_port: SMALLINT, dst_port: SMALLINT>")
def extract_tcp_info(tcp_packet):
    src_addr, dst_addr = tcp_packet.split(" -> ")
    src_ip, src_port = src_addr.rsplit(":", 1)
    dst_ip, dst_port = dst_addr.rsplit(":", 1)
    return {
        "src_ip": src_ip,
        "dst_ip": dst_ip,
        "src_port": int(src_port),
        "dst_port": int(dst_port),
    }


@udf(input_types=["VARCHAR[]"], result_type="INT", batch=True)
def array_len_batch(arrays):
    return [None if a is None else len(a) for a in arrays]


if __name__ == "__main__":
    server = UdfServer(location="0.0.0.0:8815")
    server.add_function(gcd)
    server.add_function(decimal_add)
    server.add_function(json_get)
    server.add_function(series)
    server.add_function(extract_tcp_info)
    server.add_function(array_len_batch)
    print("serving on", socket.gethostname())
    server.serve()
