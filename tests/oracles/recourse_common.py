"""What the two recourse oracles share: their arguments read, and a customer encoded from the
schema file (TOML) the way the exported forest dump (credrisk-forest/1) expects it.

Imported by recourse_check.py and recourse_brute.py (Python puts the script's directory first on
sys.path)."""
import json
import tomllib


def load(argv):
    """FOREST.json SCHEMA.toml DATA.parquet CUSTOMERS.json PLANS.jsonl → (forest, columns,
    derived, data path, customers, plans)."""
    forest_path, schema_path, data_path, customers_path, plans_path = argv[1:6]
    forest = json.load(open(forest_path))
    assert forest["format"] == "credrisk-forest/1", forest.get("format")
    schema = tomllib.load(open(schema_path, "rb"))
    columns = {c["name"]: c for c in schema["column"]}
    derived = {d["name"]: d for d in schema.get("derived", [])}
    customers = json.load(open(customers_path))
    plans = [json.loads(line) for line in open(plans_path) if line.strip()]
    assert len(customers) == len(plans), (len(customers), len(plans))
    return forest, columns, derived, data_path, customers, plans


def category_names(c):
    return [x if isinstance(x, str) else x["canonical"] for x in c.get("categories", [])]


class Encoding:
    """A customer (JSON object) as the forest's feature vector, from the schema alone."""

    def __init__(self, columns, derived, feature_names):
        self.columns, self.derived, self.feature_names = columns, derived, feature_names

    def raw(self, customer, name):
        """A field as a number the forest can compare (ordered: rank; boolean: 0/1)."""
        c, v = self.columns[name], customer[name]
        if c["type"] == "ordered":
            return float(category_names(c).index(v))
        if c["type"] == "boolean":
            return 1.0 if v else 0.0
        return float(v)

    def encode(self, customer):
        x = []
        for feature in self.feature_names:
            if feature in self.derived:
                d = self.derived[feature]
                x.append(self.raw(customer, d["numerator"]) / max(self.raw(customer, d["denominator"]), d["floor"]))
            elif "=" in feature and feature.split("=", 1)[0] in self.columns:
                field, category = feature.split("=", 1)
                x.append(1.0 if customer[field] == category else 0.0)
            else:
                x.append(self.raw(customer, feature))
        return x
