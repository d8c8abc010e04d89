from udfbox import DataTypes, udf


@udf(result_type=DataTypes.BIGINT())
def broken(x)
    return x
