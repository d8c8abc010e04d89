# attack: fetch a URL
# expect: exception:urllib.error.URLError
import urllib.request
from udfbox import DataTypes, udf

@udf(result_type=DataTypes.STRING())
def attack(x):
    return urllib.request.urlopen("http://127.0.0.1:80/", timeout=1).read().decode()
