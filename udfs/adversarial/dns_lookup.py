# attack: resolve a host name
# expect: exception:socket.gaierror
import socket
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    return socket.gethostbyname("example.com")
