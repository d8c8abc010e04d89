# attack: return 64 KiB call after call, so that the sandbox keeps every result it hands back (componentize-py never frees a list<u8> it lowers; results no longer travel as one)
# expect: result:65536 chars
# repeat: 300
from udfbox import DataTypes, udf


@udf(result_type=DataTypes.STRING())
def attack(x):
    return "x" * 65536
