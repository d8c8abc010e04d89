# attack: read /etc/passwd
# expect: exception:FileNotFoundError
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    with open("/etc/passwd") as f:
        return f.read()
