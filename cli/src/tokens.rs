//! `tidemarkctl token create|list|revoke`: the cluster's API tokens, through
//! `/api/v1/admin/tokens` (admin role; the first one with the node's bootstrap token).

use clap::Subcommand;
use tidemark_api::tokens::{Role, TokenCreated, TokenInfo, TokenRequest};

use crate::cluster::Ctx;

const PATH: &str = "/api/v1/admin/tokens";

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Creates a token and prints it: the only time its secret is shown (the cluster keeps a
    /// hash). The first token turns authentication on: from then on, callers without a token
    /// get only the nodes' `auth.anonymous_roles` (nothing by default).
    Create {
        /// A name to recognise it by (who or what uses it).
        #[arg(long)]
        name: String,
        /// What it may do: read, write, rules (rule groups and silences; reads too), admin
        /// (everything). Repeat, or separate with commas.
        #[arg(long = "role", value_delimiter = ',', required = true)]
        roles: Vec<Role>,
    },
    /// Lists the tokens: id, name, roles, creation time (no secrets).
    List,
    /// Revokes a token by id (`token list` shows them): every node refuses it within moments.
    Revoke {
        /// The token's id.
        id: String,
    },
}

/// Runs one `token` command.
pub fn run(ctx: &Ctx, cmd: &TokenCommand) -> anyhow::Result<()> {
    let url = format!("{}{PATH}", ctx.base);
    match cmd {
        TokenCommand::Create { name, roles } => {
            let req = TokenRequest {
                name: name.clone(),
                roles: roles.clone(),
            };
            let created: TokenCreated = ctx.call(ctx.client.post(&url).json(&req))?;
            ctx.print_json(&created)?;
            if ctx.table() {
                println!("{}", created.token);
                eprintln!(
                    "token {} ({}) with roles {}: keep it now, it is not shown again",
                    created.info.id,
                    created.info.name,
                    roles_text(&created.info.roles)
                );
            }
        }
        TokenCommand::List => {
            let tokens: Vec<TokenInfo> = ctx.call(ctx.client.get(&url))?;
            ctx.print_json(&tokens)?;
            if ctx.table() {
                println!("{:<14} {:<24} {:<22} CREATED", "ID", "NAME", "ROLES");
                for t in &tokens {
                    println!(
                        "{:<14} {:<24} {:<22} {}",
                        t.id,
                        t.name,
                        roles_text(&t.roles),
                        tidemark_api::alertmanager::rfc3339_ms(t.created_ms)
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let answer: serde_json::Value = ctx.call(ctx.client.delete(format!("{url}/{id}")))?;
            ctx.print_json(&answer)?;
            if ctx.table() {
                println!("token {id} revoked");
            }
        }
    }
    Ok(())
}

fn roles_text(roles: &[Role]) -> String {
    roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(",")
}
