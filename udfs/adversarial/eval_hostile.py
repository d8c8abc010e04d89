# attack: eval() of code that tries to reach the file system
# expect: exception:FileNotFoundError
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    return eval("__import__('os').listdir('/')")
