from udfbox import DataTypes, udf

settings = {"threshold": 3}
limit = settings["treshold"]
