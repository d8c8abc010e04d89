# attack: open a TCP connection to the host
# expect: exception:PermissionError
import socket
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.BIGINT())
def attack(x):
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.connect(("127.0.0.1", 22))
    return connection.fileno()
