from udfbox import DataTypes, udf


def ratio(a, b):
    return a / b


@udf(result_type=DataTypes.DOUBLE())
def divide(a, b):
    return ratio(a, b)
