#!/usr/bin/env bash
# One-shot initialisation of the compose stack: the metadata DB (Airflow's tables and the FAB auth
# manager's users, roles and permissions), then the UI user `admin` with the role Admin and the
# password AIRFLOW_ADMIN_PASSWORD from .env: created once, its password reset to that value on
# every later start (change it in .env, then `docker compose up -d`). The password never appears
# on a command line. Other users: docs/deployment.md, "Users and roles".
set -euo pipefail
airflow db migrate
# The default roles (Admin, Op, User, Viewer, Public) and their permissions, DAGs included.
airflow sync-perm --include-dags
# The pools the DAGs' tasks run in (config/airflow_pools.json); one an operator changed is kept.
python -m salary_airflow.pools config/airflow_pools.json
python - <<'PY'
import os

from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

password = os.environ["AIRFLOW_ADMIN_PASSWORD"]
with get_application_builder() as appbuilder:
    sm = appbuilder.sm
    # The UI lists plugins' pages (Browse > Salary model, Salary drops; a run's Salary tab) to users
    # who may read the plugins: Viewer (and User, Op, which extend it) may. The pages themselves
    # answer whoever may read the DAG's runs.
    for role in ("Viewer", "User", "Op"):
        sm.add_permission_to_role(sm.find_role(role), sm.create_permission("can_read", "Plugins"))
    user = sm.find_user(username="admin")
    if user is None:
        if not sm.add_user("admin", "Salary", "Admin", "admin@salary.invalid", sm.find_role("Admin"), password):
            raise SystemExit("could not create the user admin")
        print("created the user admin (role Admin)")
    elif sm.reset_password(user.id, password):
        print("the user admin exists: its password is the one in .env")
    else:
        raise SystemExit("could not reset the password of the user admin")
PY
