//! `checkout admin users list|show`.

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::Serialize;
use uuid::Uuid;

use super::Admin;
use super::output::{Table, emit, opt};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Accounts, newest first.
    List {
        /// Only emails containing this.
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One account (by id or email) with its orders and live sessions.
    Show { user: String },
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: Option<String>,
    name: String,
    created_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct OrderRow {
    order_token: String,
    status: String,
    total: Option<i64>,
    currency: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    user: UserRow,
    live_sessions: i64,
    orders: Vec<OrderRow>,
}

fn users_table(users: &[&UserRow]) -> Table {
    let mut t = Table::new(&["id", "email", "name", "created", "deleted"]);
    for u in users {
        t.row([
            u.id.to_string(),
            opt(&u.email),
            u.name.clone(),
            u.created_at.to_rfc3339(),
            opt(&u.deleted_at.map(|d| d.to_rfc3339())),
        ]);
    }
    t
}

pub async fn run(admin: &Admin, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::List { email, limit } => {
            let users: Vec<UserRow> = sqlx::query_as(
                "select id, email, name, created_at, deleted_at from users
                 where $1::text is null or email like '%' || lower($1) || '%'
                 order by created_at desc limit $2",
            )
            .bind(email)
            .bind(limit)
            .fetch_all(&admin.pool)
            .await?;
            emit(admin.json, &users, || {
                users_table(&users.iter().collect::<Vec<_>>()).print()
            })
        }
        UsersCommand::Show { user } => {
            let found: Option<UserRow> = sqlx::query_as(
                "select id, email, name, created_at, deleted_at from users
                 where id::text = $1 or email = lower(btrim($1))
                 order by deleted_at nulls first limit 1",
            )
            .bind(&user)
            .fetch_optional(&admin.pool)
            .await?;
            let user = found.ok_or_else(|| anyhow::anyhow!("no user with id or email `{user}`"))?;
            let orders: Vec<OrderRow> = sqlx::query_as(
                "select order_token, status, total, currency, created_at from orders
                 where user_id = $1 order by created_at desc",
            )
            .bind(user.id)
            .fetch_all(&admin.pool)
            .await?;
            let live_sessions: i64 = sqlx::query_scalar(
                "select count(*) from auth_sessions
                 where user_id = $1 and revoked_at is null and expires_at > now()",
            )
            .bind(user.id)
            .fetch_one(&admin.pool)
            .await?;
            let shown = Shown {
                user,
                live_sessions,
                orders,
            };
            emit(admin.json, &shown, || {
                users_table(&[&shown.user]).print();
                println!("live sessions: {}\n\norders", shown.live_sessions);
                let mut t = Table::new(&["order", "status", "total", "currency", "created"]);
                for o in &shown.orders {
                    t.row([
                        o.order_token.clone(),
                        o.status.clone(),
                        opt(&o.total),
                        opt(&o.currency),
                        o.created_at.to_rfc3339(),
                    ]);
                }
                t.print();
            })
        }
    }
}
