# attack: run a program
# expect: exception:OSError
import subprocess
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    return subprocess.run(["id"], capture_output=True).stdout.decode()
