//! `checkout admin users list|show`.

use clap::Subcommand;
use serde::Serialize;

use super::Admin;
use super::output::{Table, emit, opt};
use crate::store::users::{self, AdminUser, OrderLine};

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

#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    user: AdminUser,
    live_sessions: i64,
    orders: Vec<OrderLine>,
}

fn users_table(users: &[&AdminUser]) -> Table {
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
    let mut conn = admin.pool.acquire().await?;
    match command {
        UsersCommand::List { email, limit } => {
            let list = users::list(&mut conn, email.as_deref(), limit).await?;
            emit(admin.json, &list, || {
                users_table(&list.iter().collect::<Vec<_>>()).print()
            })
        }
        UsersCommand::Show { user } => {
            let found = users::find_any(&mut conn, &user)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no user with id or email `{user}`"))?;
            let shown = Shown {
                orders: users::orders_of(&mut conn, found.id).await?,
                live_sessions: users::live_sessions(&mut conn, found.id).await?,
                user: found,
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
