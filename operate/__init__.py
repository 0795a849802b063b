"""Operating a deployed stack: what runs against what the stack file asks for, and its logs.

- `intent.py`: what should run, read from the validated Deployment (services, replicas, limits,
  images, routes), never from the cloud.
- `host_facts.py`: what runs, as the Docker CLI answers on the host (standard library only: it is
  also sent to the EC2 host over SSH and run there with the host's python3).
- `status.py`: the comparison (pure) and `scripts/status`; `logs.py`: `scripts/logs`.
- `reach.py`: where the Docker CLI runs: this machine's engine (dev), or the EC2 host over the
  SSH (or SSM) path deploys use (BERTH_HOST / BERTH_SSH, as scripts/backup).
"""
