from udfbox import DataTypes, udf


@udf(result_type=DataTypes.BIGINT(), func_type="pandas")
def first_two(x):
    return x[:2]
