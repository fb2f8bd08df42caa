# Sourced by scripts that need the PostgreSQL on 127.0.0.1:5432 (user postgres, trust):
# `ensure_postgres` starts it if installed but stopped, installs it when missing (as
# root, with apt-get), and waits up to 30 s for it to answer.

postgres_answers() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

ensure_postgres() {
  postgres_answers && return 0
  if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing PostgreSQL" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "starting PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 1 30); do postgres_answers && return 0; sleep 1; done
  echo "PostgreSQL does not answer on 127.0.0.1:5432: install it (apt-get install postgresql) and start it" >&2
  exit 1
}
