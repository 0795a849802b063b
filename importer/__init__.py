"""`scripts/import compose`: turn a docker-compose.yml into berth app files a human can review.

The pieces, in the order they run: `compose` loads the file with Docker Compose's own loader,
`grouping` finds the apps in it, `convert` (with `services`, `routes`, `nginx`, `healthchecks`,
`images`, `secrets`) builds each app file as data plus notes, `yaml_out` writes them with the notes
as comments, `validate` checks them with berth's own loader, and `cli` ties it together.
"""
