"""`scripts/import compose`: turn a docker-compose.yml into berth app files a human can review.

In the order they run (docs/import.md):
- `compose`: load the file with Docker Compose's own loader (never parse its YAML here);
- `classify`: what each service is to berth (the app's, the shared Postgres/Redis, the proxy, a one-off job);
- `nginx`, `grouping`: the proxy's sites and locations; which apps the file holds;
- `convert` with `routes`, `services`, `shared`, `healthchecks`, `images`, `secrets`: one `draft` per app,
  the app file's data plus `notes` (why each choice, what was dropped, what a human must do);
- `write` (through `yaml_out`, notes as comments), `validate` (berth's own config/load.py), `cli`.
"""
