# attack: a result type whose str() puts multi-byte text where the host's parser looks for NOT NULL
# expect: load-invalid
# message: invalid type 'BIGINT aaé NOT NULL': unexpected text at position 7
from udfbox import DataTypes, udf


class Lying:
    def __str__(self):
        return "BIGINT aaé NOT NULL"


@udf(result_type=DataTypes.BIGINT())
def attack(x):
    return x


attack.result_type = Lying()
