# Benchmark workload: build and serialize a large JSON document
# (run with PYTHONMALLOC=malloc so every object goes through malloc).
import json
doc = {"items": [{"id": i, "name": "item-%d" % i, "tags": ["a", "b", str(i % 7)],
                  "attrs": {"w": i * 0.5, "h": i % 13}} for i in range(150000)]}
s = json.dumps(doc)
back = json.loads(s)
print(len(s), len(back["items"]))
