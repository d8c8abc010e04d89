from udfbox import DataTypes, udf


@udf(result_type=DataTypes.BIGINT())
def label(x):
    return x if x < 3 else "many"
