#!/usr/bin/env bash
# One-shot initialisation of the compose stack: the metadata DB, and the UI user's password
# (from AIRFLOW_ADMIN_PASSWORD in .env) in the simple auth manager's password file.
set -euo pipefail
airflow db migrate
umask 077
python - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}))
print(f"wrote {path}")
PY
