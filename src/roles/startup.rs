//! One sentence per start-up failure, naming the cause and the fix: a role checks its
//! database once before it starts anything, so an operator reads "connection refused at
//! 127.0.0.1:1" at once rather than a pool timeout after seconds, repeated by each
//! task that hit it.

use std::time::Duration;

use anyhow::anyhow;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::store;

/// How long the first connection may take before start-up gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the role needs the schema to be there already (`serve` and `migrate` apply it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Applies,
    Needed,
}

/// Connects once to `url` and, for [`Schema::Needed`], checks every migration is
/// applied; the error is one sentence.
pub async fn check_database(url: &str, pool: &PgPool, schema: Schema) -> anyhow::Result<()> {
    let options = store::connect_options(url)?;
    let target = Target::of(&options);
    let connect = PgConnection::connect_with(&options);
    let conn = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Err(_) => return Err(anyhow!(target.no_answer())),
        Ok(Err(e)) => return Err(anyhow!(target.describe(&e))),
        Ok(Ok(conn)) => conn,
    };
    let _ = conn.close().await;
    if schema == Schema::Needed {
        match store::migrations_current(pool).await {
            Ok(true) => {}
            Ok(false) => return Err(anyhow!(target.not_migrated())),
            Err(e) => {
                return Err(anyhow!(
                    "cannot read the migrations of {}: {e}",
                    target.db()
                ));
            }
        }
    }
    Ok(())
}

/// Where the database URL points.
struct Target {
    host: String,
    port: u16,
    user: String,
    database: String,
}

impl Target {
    fn of(options: &PgConnectOptions) -> Self {
        Target {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            user: options.get_username().to_owned(),
            database: options
                .get_database()
                .unwrap_or(options.get_username())
                .to_owned(),
        }
    }

    fn server(&self) -> String {
        format!("Postgres at {}:{}", self.host, self.port)
    }

    fn db(&self) -> String {
        format!(
            "database `{}` on {}:{}",
            self.database, self.host, self.port
        )
    }

    fn no_answer(&self) -> String {
        format!(
            "{} did not answer within {} s: check the host and port in the database URL \
             (DATABASE_URL, --database-url or database.url) and that nothing blocks them",
            self.server(),
            CONNECT_TIMEOUT.as_secs()
        )
    }

    fn not_migrated(&self) -> String {
        format!(
            "the {} is not migrated: run `checkout migrate` with the same database URL \
             (`checkout serve` migrates at start too)",
            self.db()
        )
    }

    fn describe(&self, error: &sqlx::Error) -> String {
        let fix_url = "fix the database URL (DATABASE_URL, --database-url or database.url)";
        match error {
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
                "cannot reach {}: connection refused; start Postgres there or {fix_url}",
                self.server()
            ),
            sqlx::Error::Io(io) => format!("cannot reach {}: {io}; {fix_url}", self.server()),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // invalid_password, invalid_authorization_specification (no such role)
                Some("28P01" | "28000") => format!(
                    "{} refused user `{}`: {}; fix the user or password in the database URL",
                    self.server(),
                    self.user,
                    db.message()
                ),
                // invalid_catalog_name
                Some("3D000") => format!(
                    "database `{db}` does not exist on {server}: create it (`createdb -h {host} \
                     -p {port} -U {user} {db}`) and run `checkout migrate`, or run `checkout dev` \
                     without a database URL, which creates and migrates `checkout_dev` on \
                     127.0.0.1:5432",
                    db = self.database,
                    server = self.server(),
                    host = self.host,
                    port = self.port,
                    user = self.user,
                ),
                _ => format!("{} refused the connection: {}", self.server(), db.message()),
            },
            sqlx::Error::Tls(e) => format!(
                "TLS to {} failed: {e}; fix `sslmode` in the database URL",
                self.server()
            ),
            other => format!("cannot connect to {}: {other}", self.server()),
        }
    }
}
