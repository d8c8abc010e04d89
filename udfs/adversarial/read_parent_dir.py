# attack: read a file through ../ (the project's own sources)
# expect: exception:FileNotFoundError
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    with open("../Cargo.toml") as f:
        return f.read()
