# attack: an input type whose str() is a keyword run into multi-byte text
# expect: load-invalid
# message: invalid type 'INT NOTxxxé': unexpected text at position 4
from udfbox import DataTypes, udf


class Lying:
    def __str__(self):
        return "INT NOTxxxé"


@udf(input_types=[DataTypes.BIGINT()], result_type=DataTypes.BIGINT())
def attack(x):
    return x


attack.input_types = [Lying()]
